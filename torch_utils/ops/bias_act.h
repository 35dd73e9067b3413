// Shared between bias_act.cpp (checks, allocation) and bias_act.cu (kernel).

#pragma once
#include <cstdint>
#include <cuda_runtime.h>

struct BiasActParams
{
    const void* x;      // Input [numel], contiguous.
    const void* b;      // Bias [size_b] or nullptr.
    const void* g;      // Incoming gradient [numel] (order 1 and 2) or nullptr.
    void*       y;      // Output [numel].
    int64_t     numel;
    int64_t     step_b; // Elements between successive bias entries (product of sizes after `dim`).
    int64_t     size_b;
    int         order;  // 0 = value, 1 = g * first derivative, 2 = g * second derivative.
    int         act;    // Index in bias_act.py's activation_funcs.
    double      alpha;
    double      gain;
    double      clamp;  // Negative = no clamp.
};

template <typename T> void launch_bias_act(const BiasActParams& p, cudaStream_t stream);
