// Element-wise kernel for bias_act: value, first or second derivative of clamp(act(x + b) * gain).
// Arithmetic runs in float for half/bfloat16 and in the tensor's own type otherwise.

#include <ATen/OpMathType.h>
#include <c10/util/Half.h>
#include <c10/util/BFloat16.h>
#include "bias_act.h"

//----------------------------------------------------------------------------
// Activation `act` at x: order 0 = value, 1 = first derivative, 2 = second derivative.
// Formulas and thresholds follow torch.nn.functional so that 'cuda' matches 'ref'.

template <typename T>
__device__ __forceinline__ T activation(int act, int order, T x, T alpha)
{
    const T selu_scale = (T)1.0507009873554805;
    const T selu_alpha = (T)1.6732632423543772;
    switch (act)
    {
    case 0: // linear
        return order == 0 ? x : order == 1 ? (T)1 : (T)0;
    case 1: // relu
        return order == 0 ? (x > (T)0 ? x : (T)0) : order == 1 ? (x > (T)0 ? (T)1 : (T)0) : (T)0;
    case 2: // lrelu
        return order == 0 ? (x > (T)0 ? x : x * alpha) : order == 1 ? (x > (T)0 ? (T)1 : alpha) : (T)0;
    case 3: // tanh
    {
        T t = tanh(x);
        return order == 0 ? t : order == 1 ? (T)1 - t * t : (T)-2 * t * ((T)1 - t * t);
    }
    case 4: // sigmoid
    {
        T s = (T)1 / ((T)1 + exp(-x));
        return order == 0 ? s : order == 1 ? s * ((T)1 - s) : s * ((T)1 - s) * ((T)1 - (T)2 * s);
    }
    case 5: // elu
        if (x > (T)0)
            return order == 0 ? x : order == 1 ? (T)1 : (T)0;
        return order == 0 ? alpha * (exp(x) - (T)1) : alpha * exp(x);
    case 6: // selu
        if (x > (T)0)
            return order == 0 ? selu_scale * x : order == 1 ? selu_scale : (T)0;
        return order == 0 ? selu_scale * selu_alpha * (exp(x) - (T)1) : selu_scale * selu_alpha * exp(x);
    case 7: // softplus (beta 1, linear above 20 like torch)
    {
        T s = (T)1 / ((T)1 + exp(-x));
        if (order == 0)
            return x > (T)20 ? x : log1p(exp(x));
        return order == 1 ? s : s * ((T)1 - s);
    }
    default: // swish
    {
        T s = (T)1 / ((T)1 + exp(-x));
        if (order == 0)
            return s * x;
        return order == 1 ? s * ((T)1 + x * ((T)1 - s)) : s * ((T)1 - s) * ((T)2 + x * ((T)1 - (T)2 * s));
    }
    }
}

//----------------------------------------------------------------------------

template <typename scalar_t>
__global__ void bias_act_kernel(BiasActParams p)
{
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* x = (const scalar_t*)p.x;
    const scalar_t* b = (const scalar_t*)p.b;
    const scalar_t* g = (const scalar_t*)p.g;
    scalar_t* y = (scalar_t*)p.y;
    const acc_t alpha = (acc_t)p.alpha;
    const acc_t gain = (acc_t)p.gain;
    const acc_t clamp = (acc_t)p.clamp;

    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.numel; i += (int64_t)blockDim.x * gridDim.x)
    {
        acc_t v = (acc_t)x[i];
        if (b) // 32-bit division when it fits: the 64-bit one costs more than the memory traffic
            v += (acc_t)b[p.numel <= 0x7fffffff ? (int64_t)((uint32_t)i / (uint32_t)p.step_b % (uint32_t)p.size_b)
                                                : (i / p.step_b) % p.size_b];
        acc_t value = activation<acc_t>(p.act, 0, v, alpha) * gain;
        acc_t out;
        if (p.order == 0)
            out = (clamp < (acc_t)0) ? value : (value > clamp ? clamp : (value < -clamp ? -clamp : value));
        else
        {
            bool pass = (clamp < (acc_t)0) || (value >= -clamp && value <= clamp); // torch.clamp's gradient mask
            out = pass ? (acc_t)g[i] * activation<acc_t>(p.act, p.order, v, alpha) * gain : (acc_t)0;
        }
        y[i] = (scalar_t)out;
    }
}

//----------------------------------------------------------------------------

template <typename T> void launch_bias_act(const BiasActParams& p, cudaStream_t stream)
{
    const int block = 256;
    int64_t grid = (p.numel + block - 1) / block;
    grid = grid < 65536 ? grid : 65536; // grid-stride loop covers the rest
    bias_act_kernel<T><<<(unsigned)grid, block, 0, stream>>>(p);
}

template void launch_bias_act<double>(const BiasActParams& p, cudaStream_t stream);
template void launch_bias_act<float>(const BiasActParams& p, cudaStream_t stream);
template void launch_bias_act<c10::Half>(const BiasActParams& p, cudaStream_t stream);
template void launch_bias_act<c10::BFloat16>(const BiasActParams& p, cudaStream_t stream);

//----------------------------------------------------------------------------
