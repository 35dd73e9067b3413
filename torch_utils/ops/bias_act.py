"""Fused bias + activation + gain + clamp, the per-layer nonlinearity of StyleGAN2 (Karras et al. 2020)."""

import functools
import math

import torch
import torch.nn.functional as F

import dnnlib
from .. import custom_ops

#----------------------------------------------------------------------------
# Activation table (EasyDicts: spec.def_gain or spec['def_gain']): kernel id, default alpha, default gain,
# reference function; then the first and second derivatives that the CUDA kernel evaluates, in torch.

_SELU_SCALE = 1.0507009873554805
_SELU_ALPHA = 1.6732632423543772

def _swish_d2(x, alpha):
    s = torch.sigmoid(x)
    return s * (1 - s) * (2 + x * (1 - 2 * s))

activation_funcs = {
    'linear':   dnnlib.EasyDict(id=0, def_alpha=0.0, def_gain=1.0,          func=lambda x, a: x),
    'relu':     dnnlib.EasyDict(id=1, def_alpha=0.0, def_gain=math.sqrt(2), func=lambda x, a: F.relu(x)),
    'lrelu':    dnnlib.EasyDict(id=2, def_alpha=0.2, def_gain=math.sqrt(2), func=lambda x, a: F.leaky_relu(x, a)),
    'tanh':     dnnlib.EasyDict(id=3, def_alpha=0.0, def_gain=1.0,          func=lambda x, a: torch.tanh(x)),
    'sigmoid':  dnnlib.EasyDict(id=4, def_alpha=0.0, def_gain=1.0,          func=lambda x, a: torch.sigmoid(x)),
    'elu':      dnnlib.EasyDict(id=5, def_alpha=1.0, def_gain=1.0,          func=lambda x, a: F.elu(x, a)),
    'selu':     dnnlib.EasyDict(id=6, def_alpha=0.0, def_gain=1.0,          func=lambda x, a: F.selu(x)),
    'softplus': dnnlib.EasyDict(id=7, def_alpha=0.0, def_gain=1.0,          func=lambda x, a: F.softplus(x)),
    'swish':    dnnlib.EasyDict(id=8, def_alpha=0.0, def_gain=math.sqrt(2), func=lambda x, a: torch.sigmoid(x) * x),
}

_derivative_funcs = {
    'linear':   (lambda x, a: torch.ones_like(x),
                 lambda x, a: torch.zeros_like(x)),
    'relu':     (lambda x, a: (x > 0).to(x.dtype),
                 lambda x, a: torch.zeros_like(x)),
    'lrelu':    (lambda x, a: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a)),
                 lambda x, a: torch.zeros_like(x)),
    'tanh':     (lambda x, a: 1 - torch.tanh(x) ** 2,
                 lambda x, a: -2 * torch.tanh(x) * (1 - torch.tanh(x) ** 2)),
    'sigmoid':  (lambda x, a: torch.sigmoid(x) * (1 - torch.sigmoid(x)),
                 lambda x, a: torch.sigmoid(x) * (1 - torch.sigmoid(x)) * (1 - 2 * torch.sigmoid(x))),
    'elu':      (lambda x, a: torch.where(x > 0, 1.0, a * torch.exp(x)).to(x.dtype),
                 lambda x, a: torch.where(x > 0, 0.0, a * torch.exp(x)).to(x.dtype)),
    'selu':     (lambda x, a: _SELU_SCALE * torch.where(x > 0, 1.0, _SELU_ALPHA * torch.exp(x)).to(x.dtype),
                 lambda x, a: _SELU_SCALE * torch.where(x > 0, 0.0, _SELU_ALPHA * torch.exp(x)).to(x.dtype)),
    'softplus': (lambda x, a: torch.sigmoid(x),
                 lambda x, a: torch.sigmoid(x) * (1 - torch.sigmoid(x))),
    'swish':    (lambda x, a: torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x))),
                 _swish_d2),
}

#----------------------------------------------------------------------------
# The compiled kernel, built on first use (None when the build failed).

def _plugin():
    return custom_ops.get_plugin('bias_act_plugin', sources=['bias_act.cpp', 'bias_act.cu'], headers=['bias_act.h'])

def _on_cuda(x):
    return x.device.type == 'cuda' # a seam: the fallback test pretends CPU tensors live on a GPU

#----------------------------------------------------------------------------

def bias_act(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None, impl='cuda'):
    r"""Add a bias, apply an activation, scale by a gain and clamp: `clamp(act(x + b) * gain)`.

    Args:
        x:      Input tensor of any shape.
        b:      Bias vector, or None to disable. Its length must equal `x.shape[dim]`.
        dim:    The dimension of `x` that `b` runs along.
        act:    One of 'linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', 'softplus', 'swish'.
        alpha:  Shape parameter (lrelu slope, elu scale), None = the activation's default.
        gain:   Scaling factor for the output, None = the activation's default.
        clamp:  Clamp the output to [-clamp, +clamp], None = disable.
        impl:   'cuda' (compiled kernel, falls back to 'ref' on CPU or when the build fails) or 'ref'.

    Returns:
        Tensor of the same shape and dtype as `x`, differentiable twice.
    """
    assert isinstance(x, torch.Tensor)
    assert impl in ['ref', 'cuda']
    assert act in activation_funcs, f'unknown activation {act!r}'
    spec = activation_funcs[act]
    alpha = float(alpha if alpha is not None else spec['def_alpha'])
    gain = float(gain if gain is not None else spec['def_gain'])
    clamp = float(clamp if clamp is not None else -1)
    assert clamp == -1 or clamp >= 0
    if b is not None:
        assert isinstance(b, torch.Tensor) and b.ndim == 1
        assert 0 <= dim < x.ndim and b.shape[0] == x.shape[dim]
        b = b.to(x.dtype) # the output keeps x's dtype, as the kernel's does
    if impl == 'cuda' and _on_cuda(x) and _plugin() is not None:
        return _bias_act_autograd(_plugin().bias_act, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)(x, b)
    return _bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)

#----------------------------------------------------------------------------
# Reference implementation: plain autograd-tracked torch ops. StyleGAN2's conv_clamp (256) almost never binds, yet
# clamp's backward costs four full passes (two compares, an and, a select: 6% of a CPU training step), so on CPU a
# clamp that cannot bind is left out of a graph that autograd will differentiate: with every value inside
# [-clamp, clamp] the output and every derivative are the same bits either way. Left in under no_grad, where it is one
# cheap pass, so that torch.jit.trace (generate.py --export) records it whatever the trace's inputs are.

def _bias_act_ref(x, b, dim, act, alpha, gain, clamp):
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = activation_funcs[act]['func'](x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0 and not (x.requires_grad and x.device.type == 'cpu' and _within(x, clamp)):
        x = x.clamp(-clamp, clamp)
    return x

def _within(x, clamp):
    x = x.detach() # amin and amax reduce channels-last tensors in place, where aminmax copies; NaN compares False
    return -clamp <= x.amin().item() and x.amax().item() <= clamp

#----------------------------------------------------------------------------
# The kernel's contract in torch: order 0 -> clamp(act(x + b) * gain); order 1 and 2 -> g times the
# first or second derivative of that w.r.t. x (zero where the clamp is active). The CUDA kernel
# computes the same; this twin lets the CPU tests check the autograd plumbing below.

def _kernel_torch(x, b, g, order, dim, act_id, alpha, gain, clamp):
    act = [name for name, spec in activation_funcs.items() if spec['id'] == act_id][0]
    xb = x if b.numel() == 0 else x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    y = activation_funcs[act]['func'](xb, alpha) * gain
    if order == 0:
        return y.clamp(-clamp, clamp) if clamp >= 0 else y
    d = _derivative_funcs[act][order - 1](xb, alpha) * gain
    if clamp >= 0:
        d = d * (y.abs() <= clamp).to(d.dtype)
    return g * d

#----------------------------------------------------------------------------
# Autograd for a kernel of the contract above: forward, first derivative and second derivative
# (R1 regularisation differentiates through bias_act twice). Cached per configuration.

@functools.lru_cache(maxsize=None)
def _bias_act_autograd(kernel, dim, act, alpha, gain, clamp):
    empty = lambda x: x.new_empty([0])

    def call(x, b, g, order):
        b = b.contiguous() if b is not None else empty(x)
        g = g.contiguous() if g is not None else empty(x)
        return kernel(x.contiguous(), b, g, order, dim, activation_funcs[act]['id'], alpha, gain, clamp)

    def reduce_bias(dx, b):
        return dx.sum([i for i in range(dx.ndim) if i != dim]) if b is not None else None

    class BiasAct(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, b):
            ctx.save_for_backward(x, b)
            return call(x, b, None, 0)

        @staticmethod
        def backward(ctx, dy):
            x, b = ctx.saved_tensors
            dx = BiasActGrad.apply(dy, x, b)
            return dx, (reduce_bias(dx, b) if ctx.needs_input_grad[1] else None)

    class BiasActGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, dy, x, b):
            ctx.save_for_backward(dy, x, b)
            return call(x, b, dy, 1)

        @staticmethod
        def backward(ctx, d_dx):
            dy, x, b = ctx.saved_tensors
            d_dy = BiasActGrad.apply(d_dx, x, b) if ctx.needs_input_grad[0] else None
            d_x = d_b = None
            if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
                d_x = BiasActGrad2.apply(d_dx * dy, x, b)
                d_b = reduce_bias(d_x, b) if ctx.needs_input_grad[2] else None
            return d_dy, d_x, d_b

    class BiasActGrad2(torch.autograd.Function):
        @staticmethod
        def forward(ctx, g, x, b):
            return call(x, b, g, 2)

        @staticmethod
        def backward(ctx, _):
            raise NotImplementedError('bias_act: third derivatives are not supported with impl="cuda"; use impl="ref"')

    return BiasAct.apply

#----------------------------------------------------------------------------
