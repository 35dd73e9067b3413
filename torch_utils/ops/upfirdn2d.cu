// upfirdn2d kernel: each thread computes one output pixel (flat index, grid-stride loop), visiting only
// the filter taps that land on real (not zero-inserted, not padded) input pixels.
// Accumulates in float (double for double).

#include <ATen/OpMathType.h>
#include <c10/util/Half.h>
#include <c10/util/BFloat16.h>
#include "upfirdn2d.h"

//----------------------------------------------------------------------------
// Along one axis: output index o reads upsampled, padded position o * down + k for tap k, i.e.
// input pixel (o * down + k - pad0) / up when that divides exactly. Returns the first tap k0 that
// does, the input pixel i0 it reads, and the range [j0, j1) of steps k0 + j * up that stay inside.

struct TapRange { int k0, i0, j0, j1; };

__device__ __forceinline__ TapRange tap_range(int o, int up, int down, int pad0, int taps, int in_size)
{
    const int u0 = o * down - pad0;       // upsampled coordinate of tap 0
    const int k0 = ((-u0) % up + up) % up; // first tap on a multiple of up
    TapRange r;
    r.k0 = k0;
    r.i0 = (u0 + k0) / up;                // exact division
    const int n = k0 < taps ? (taps - k0 + up - 1) / up : 0;
    r.j0 = r.i0 < 0 ? -r.i0 : 0;
    r.j1 = in_size - r.i0 < n ? in_size - r.i0 : n;
    return r;
}

//----------------------------------------------------------------------------

template <typename scalar_t, typename index_t>
__global__ void upfirdn2d_kernel(Upfirdn2dParams p, index_t numel)
{
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = (const scalar_t*)p.x;
    scalar_t* y = (scalar_t*)p.y;
    const index_t out_w = (index_t)p.out_w, out_h = (index_t)p.out_h;
    for (index_t i = blockIdx.x * (index_t)blockDim.x + threadIdx.x; i < numel; i += (index_t)blockDim.x * gridDim.x)
    {
        const index_t row_index = i / out_w;
        const int ox = (int)(i - row_index * out_w);
        const index_t plane = row_index / out_h;
        const int oy = (int)(row_index - plane * out_h);
        const TapRange rx = tap_range(ox, p.upx, p.downx, p.px0, p.fw, p.in_w);
        const TapRange ry = tap_range(oy, p.upy, p.downy, p.py0, p.fh, p.in_h);
        const scalar_t* xp = x + (int64_t)plane * p.in_h * p.in_w;
        acc_t acc = 0;
        for (int jy = ry.j0; jy < ry.j1; jy++)
        {
            const scalar_t* row = xp + (int64_t)(ry.i0 + jy) * p.in_w + rx.i0;
            const float* frow = p.f + (ry.k0 + jy * p.upy) * p.fw + rx.k0;
            for (int jx = rx.j0; jx < rx.j1; jx++)
                acc += (acc_t)row[jx] * (acc_t)__ldg(frow + jx * p.upx);
        }
        y[i] = (scalar_t)acc;
    }
}

//----------------------------------------------------------------------------
// 32-bit index arithmetic whenever the output allows: 64-bit division costs more than the loads.

template <typename T> void launch_upfirdn2d(const Upfirdn2dParams& p, cudaStream_t stream)
{
    const int block = 256;
    const int64_t numel = p.planes * p.out_h * p.out_w;
    int64_t grid = (numel + block - 1) / block;
    grid = grid < 65536 ? grid : 65536; // grid-stride loop covers the rest
    if (numel + (int64_t)block * grid <= (int64_t)UINT32_MAX)
        upfirdn2d_kernel<T, uint32_t><<<(unsigned)grid, block, 0, stream>>>(p, (uint32_t)numel);
    else
        upfirdn2d_kernel<T, int64_t><<<(unsigned)grid, block, 0, stream>>>(p, numel);
}

template void launch_upfirdn2d<double>(const Upfirdn2dParams& p, cudaStream_t stream);
template void launch_upfirdn2d<float>(const Upfirdn2dParams& p, cudaStream_t stream);
template void launch_upfirdn2d<c10::Half>(const Upfirdn2dParams& p, cudaStream_t stream);
template void launch_upfirdn2d<c10::BFloat16>(const Upfirdn2dParams& p, cudaStream_t stream);

//----------------------------------------------------------------------------
