// Shared between upfirdn2d.cpp (checks, allocation) and upfirdn2d.cu (kernel).

#pragma once
#include <cstdint>
#include <cuda_runtime.h>

struct Upfirdn2dParams
{
    const void*  x;      // Input [planes, in_h, in_w], contiguous.
    const float* f;      // Correlation taps [fh, fw], contiguous (flip and gain already applied).
    void*        y;      // Output [planes, out_h, out_w].
    int64_t      planes; // batch_size * num_channels.
    int          in_h, in_w, out_h, out_w, fh, fw;
    int          upx, upy, downx, downy, px0, py0;
};

template <typename T> void launch_upfirdn2d(const Upfirdn2dParams& p, cudaStream_t stream);
