// Python binding of the bias_act kernel: argument checks, output allocation, dtype dispatch.

#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include "bias_act.h"

//----------------------------------------------------------------------------

static torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, torch::Tensor g, int64_t order, int64_t dim,
                              int64_t act, double alpha, double gain, double clamp)
{
    TORCH_CHECK(x.is_cuda() && x.is_contiguous(), "x must be a contiguous CUDA tensor");
    TORCH_CHECK(0 <= dim && dim < x.dim(), "dim out of range");
    TORCH_CHECK(0 <= order && order <= 2, "order must be 0, 1 or 2");
    TORCH_CHECK(0 <= act && act <= 8, "unknown activation");
    TORCH_CHECK(b.numel() == 0 || (b.dim() == 1 && b.numel() == x.size(dim)), "b must have x.shape[dim] entries");
    TORCH_CHECK(b.numel() == 0 || (b.is_contiguous() && b.device() == x.device() && b.dtype() == x.dtype()),
                "b must be contiguous, on x's device, of x's dtype");
    TORCH_CHECK((order == 0) == (g.numel() == 0), "g is needed exactly for order 1 and 2");
    TORCH_CHECK(g.numel() == 0 || (g.sizes() == x.sizes() && g.is_contiguous() && g.device() == x.device() &&
                g.dtype() == x.dtype()), "g must match x");

    const c10::cuda::OptionalCUDAGuard device_guard(device_of(x));
    torch::Tensor y = torch::empty_like(x);
    if (x.numel() == 0)
        return y;

    BiasActParams p;
    p.x      = x.data_ptr();
    p.b      = b.numel() ? b.data_ptr() : nullptr;
    p.g      = g.numel() ? g.data_ptr() : nullptr;
    p.y      = y.data_ptr();
    p.numel  = x.numel();
    p.step_b = 1;
    for (int64_t i = dim + 1; i < x.dim(); i++)
        p.step_b *= x.size(i);
    p.size_b = x.size(dim);
    p.order  = (int)order;
    p.act    = (int)act;
    p.alpha  = alpha;
    p.gain   = gain;
    p.clamp  = clamp;

    cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act", [&] {
        launch_bias_act<scalar_t>(p, stream);
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

//----------------------------------------------------------------------------

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)
{
    m.def("bias_act", &bias_act, "clamp(act(x + b) * gain), or g times its first/second derivative w.r.t. x");
}
