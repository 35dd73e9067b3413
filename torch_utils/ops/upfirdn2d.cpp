// Python binding of the upfirdn2d kernel: argument checks, output size, dtype dispatch.

#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include "upfirdn2d.h"

//----------------------------------------------------------------------------

static torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                               int64_t px0, int64_t px1, int64_t py0, int64_t py1)
{
    TORCH_CHECK(x.is_cuda() && x.is_contiguous() && x.dim() == 4, "x must be a contiguous 4-D CUDA tensor");
    TORCH_CHECK(f.is_cuda() && f.is_contiguous() && f.dim() == 2 && f.scalar_type() == at::kFloat,
                "f must be a contiguous 2-D float32 CUDA tensor");
    TORCH_CHECK(f.device() == x.device(), "f must be on x's device");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "up and down must be >= 1");
    TORCH_CHECK(x.size(2) <= INT32_MAX / upy && x.size(3) <= INT32_MAX / upx, "x is too large");

    const int64_t fh = f.size(0), fw = f.size(1);
    const int64_t span_h = x.size(2) * upy + py0 + py1 - fh;
    const int64_t span_w = x.size(3) * upx + px0 + px1 - fw;
    TORCH_CHECK(span_h >= 0 && span_w >= 0, "padded image is smaller than the filter");
    const int64_t out_h = span_h / downy + 1, out_w = span_w / downx + 1;

    const c10::cuda::OptionalCUDAGuard device_guard(device_of(x));
    torch::Tensor y = torch::empty({x.size(0), x.size(1), out_h, out_w}, x.options());
    if (y.numel() == 0)
        return y;

    Upfirdn2dParams p;
    p.x      = x.data_ptr();
    p.f      = f.data_ptr<float>();
    p.y      = y.data_ptr();
    p.planes = x.size(0) * x.size(1);
    p.in_h   = (int)x.size(2);
    p.in_w   = (int)x.size(3);
    p.out_h  = (int)out_h;
    p.out_w  = (int)out_w;
    p.fh     = (int)fh;
    p.fw     = (int)fw;
    p.upx    = (int)upx;
    p.upy    = (int)upy;
    p.downx  = (int)downx;
    p.downy  = (int)downy;
    p.px0    = (int)px0;
    p.py0    = (int)py0;

    cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d", [&] {
        launch_upfirdn2d<scalar_t>(p, stream);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

//----------------------------------------------------------------------------

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)
{
    m.def("upfirdn2d", &upfirdn2d, "Zero-insert by up, pad, correlate with f, keep every down-th pixel");
}
