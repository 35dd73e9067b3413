"""Upsample, FIR-filter, downsample (upfirdn2d): the anti-aliased resampling of StyleGAN2 (Karras et al. 2020)."""

import functools

import torch
import torch.nn.functional as F

from . import conv2d_gradfix
from .. import custom_ops

#----------------------------------------------------------------------------
# The compiled kernel, built on first use (None when the build failed).

def _plugin():
    return custom_ops.get_plugin('upfirdn2d_plugin', sources=['upfirdn2d.cpp', 'upfirdn2d.cu'], headers=['upfirdn2d.h'])

def _on_cuda(x):
    return x.device.type == 'cuda' # a seam: the fallback test pretends CPU tensors live on a GPU

#----------------------------------------------------------------------------
# Argument parsing: scaling int or [x, y]; padding int, [x, y] or [x0, x1, y0, y1].

def _parse_scaling(scaling):
    if isinstance(scaling, int):
        scaling = [scaling, scaling]
    assert isinstance(scaling, (list, tuple)) and len(scaling) == 2
    sx, sy = [int(s) for s in scaling]
    assert sx >= 1 and sy >= 1
    return sx, sy

def _parse_padding(padding):
    if isinstance(padding, int):
        padding = [padding, padding]
    assert isinstance(padding, (list, tuple)) and len(padding) in [2, 4]
    if len(padding) == 2:
        padx, pady = padding
        padding = [padx, padx, pady, pady]
    return [int(p) for p in padding]

def _get_filter_size(f):
    if f is None:
        return 1, 1
    assert isinstance(f, torch.Tensor) and f.ndim in [1, 2]
    fw = f.shape[-1]
    fh = f.shape[0]
    assert fw >= 1 and fh >= 1
    return fw, fh

#----------------------------------------------------------------------------

def setup_filter(f, device=torch.device('cpu'), normalize=True, flip_filter=False, gain=1, separable=None):
    r"""Turn a list of taps into a filter tensor for upfirdn2d().

    Args:
        f:           Taps: None (identity), a scalar, a 1-D list/tensor, or a 2-D one.
        device:      Device of the result.
        normalize:   Divide by the sum so that the filter preserves the mean.
        flip_filter: Flip the taps (False = convolution, True = correlation).
        gain:        Overall gain; a separable filter gets its square root per axis.
        separable:   Keep a 1-D filter 1-D (applied along x then y). None = only for 8 taps or more.

    Returns:
        Float tensor [taps] (separable) or [filter_height, filter_width]; float32 unless `f` is a
        floating-point tensor, whose dtype is kept.
    """
    if f is None:
        f = 1
    dtype = f.dtype if isinstance(f, torch.Tensor) and f.is_floating_point() else torch.float32
    f = torch.as_tensor(f, dtype=dtype).clone()
    assert f.ndim in [0, 1, 2] and f.numel() > 0
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = (f.ndim == 1 and f.numel() >= 8)
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    assert f.ndim == (1 if separable else 2)
    if normalize:
        f /= f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)

#----------------------------------------------------------------------------

def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl='cuda'):
    r"""Upsample by zero insertion, pad, FIR-filter, and downsample by keeping every `down`-th pixel.

    Per axis the output size is `(in * up + pad0 + pad1 - taps) // down + 1`.

    Args:
        x:           Float tensor [batch_size, num_channels, in_height, in_width].
        f:           Filter from setup_filter(): [taps] (separable) or [filter_height, filter_width];
                     None = identity.
        up:          Upsampling factor, int or [x, y].
        down:        Downsampling factor, int or [x, y].
        padding:     Padding of the upsampled image, int, [x, y] or [x0, x1, y0, y1]; negative crops.
        flip_filter: False = convolution, True = correlation.
        gain:        Overall gain of the filter.
        impl:        'cuda' (compiled kernel, falls back to 'ref' on CPU or when the build fails) or 'ref'.

    Returns:
        Tensor [batch_size, num_channels, out_height, out_width] of the dtype of `x`.
    """
    assert isinstance(x, torch.Tensor) and x.ndim == 4
    assert impl in ['ref', 'cuda']
    if f is not None:
        assert isinstance(f, torch.Tensor) and f.ndim in [1, 2] and not f.requires_grad
    up = _parse_scaling(up)
    down = _parse_scaling(down)
    padding = _parse_padding(padding)
    if impl == 'cuda' and _on_cuda(x) and _plugin() is not None:
        if f is None:
            f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
        return _upfirdn2d_autograd(_plugin().upfirdn2d, up=up, down=down, padding=tuple(padding),
                                   flip_filter=flip_filter, gain=gain)(x, f)
    return _upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)

#----------------------------------------------------------------------------
# Reference implementation: zero insertion, F.pad / slicing, depthwise conv2d, strided slicing.

def _upfirdn2d_ref(x, f, up, down, padding, flip_filter, gain):
    batch_size, num_channels, in_height, in_width = x.shape
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = padding
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)

    # Upsample by inserting up-1 zeros after every pixel. The reshapes leave the result contiguous; a channels-last
    # input stays channels-last (CPU blocks run so), for the filter's conv and the layers after it. Without
    # upsampling (and below without padding) nothing is copied: F.pad copies even when it adds nothing, and D's
    # down-sampling filters pass here at full resolution, forward and backward.
    if upx > 1 or upy > 1:
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        x = x.reshape([batch_size, num_channels, in_height, 1, in_width, 1])
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape([batch_size, num_channels, in_height * upy, in_width * upx]).contiguous(memory_format=memory_format)

    # Pad, or crop where the padding is negative. Equal non-negative padding on both sides of an axis (D's
    # down-sampling filters) is the filter conv's own zero padding instead, which copies nothing.
    conv_pad = [py0 if py0 == py1 and py0 > 0 else 0, px0 if px0 == px1 and px0 > 0 else 0]
    pads = [max(px0, 0) - conv_pad[1], max(px1, 0) - conv_pad[1], max(py0, 0) - conv_pad[0], max(py1, 0) - conv_pad[0]]
    if max(pads) > 0:
        x = F.pad(x, pads)
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]

    # Filter: conv2d correlates, so flip for a true convolution. The conv is conv2d_gradfix's: the filter is a constant,
    # so no derivative of any order computes its gradient, which torch's own double backward of a grouped conv does
    # (R1 and path length) with one convolution per channel, a third of D's R1 step on CPU.
    f = f.to(device=x.device, dtype=x.dtype) * (gain ** (f.ndim / 2))
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    # Downsample by keeping every down-th pixel: the strides of the filter's conv, which then computes only those.
    f = f[None, None].repeat([num_channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        return conv2d_gradfix.conv2d(x, f, groups=num_channels, stride=[downy, downx], padding=conv_pad)
    x = conv2d_gradfix.conv2d(x, f.unsqueeze(2), groups=num_channels, stride=[1, downx], padding=[0, conv_pad[1]])
    return conv2d_gradfix.conv2d(x, f.unsqueeze(3), groups=num_channels, stride=[downy, 1], padding=[conv_pad[0], 0])

#----------------------------------------------------------------------------
# The kernel's contract in torch: zero-insert, pad, correlate with the 2-D float32 taps `k` as
# given, decimate. The CUDA kernel computes the same; this twin lets the CPU tests check the
# autograd plumbing below.

def _kernel_torch(x, k, upx, upy, downx, downy, px0, px1, py0, py1):
    y = _upfirdn2d_ref(x, k.to(x.dtype), up=(upx, upy), down=(downx, downy), padding=[px0, px1, py0, py1],
                       flip_filter=True, gain=1)
    return y.contiguous()

#----------------------------------------------------------------------------
# Autograd for a kernel of the contract above, one axis at a time for separable filters. The
# gradient is upfirdn2d again with up and down swapped and the filter flipped. Cached per configuration.

@functools.lru_cache(maxsize=None)
def _upfirdn2d_autograd(kernel, up, down, padding, flip_filter, gain):
    upx, upy = up
    downx, downy = down
    px0, px1, py0, py1 = padding

    def prepare(f, x):
        f = f.to(device=x.device, dtype=torch.float32) * (gain ** (f.ndim / 2))
        return (f if flip_filter else f.flip(list(range(f.ndim)))).contiguous()

    class Upfirdn2d(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, f):
            k = prepare(f, x)
            y = x.contiguous()
            if k.ndim == 2:
                y = kernel(y, k, upx, upy, downx, downy, px0, px1, py0, py1)
            else:
                y = kernel(y, k[None, :], upx, 1, downx, 1, px0, px1, 0, 0)
                y = kernel(y, k[:, None], 1, upy, 1, downy, 0, 0, py0, py1)
            ctx.save_for_backward(f)
            ctx.in_size = x.shape[2:]
            return y

        @staticmethod
        def backward(ctx, dy):
            f, = ctx.saved_tensors
            in_height, in_width = ctx.in_size
            out_height, out_width = dy.shape[2:]
            fw, fh = _get_filter_size(f)
            grad_padding = (
                fw - px0 - 1,
                in_width * upx - out_width * downx + px0 - upx + 1,
                fh - py0 - 1,
                in_height * upy - out_height * downy + py0 - upy + 1,
            )
            dx = None
            if ctx.needs_input_grad[0]:
                dx = _upfirdn2d_autograd(kernel, up=down, down=up, padding=grad_padding, flip_filter=(not flip_filter),
                                         gain=gain)(dy, f)
            return dx, None

    return Upfirdn2d.apply

#----------------------------------------------------------------------------

def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl='cuda'):
    r"""FIR-filter `x` with `f`, padded so that the output has the input's size (plus `padding`).

    Args as upfirdn2d(); returns [batch_size, num_channels, out_height, out_width].
    """
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)

#----------------------------------------------------------------------------

def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl='cuda'):
    r"""Upsample `x` by `up` with FIR filter `f`; the output is `up` times the input size (plus `padding`).

    Args as upfirdn2d(); the gain is multiplied by up_x * up_y to keep the mean.
    """
    upx, upy = _parse_scaling(up)
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=[upx, upy], padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)

#----------------------------------------------------------------------------

def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl='cuda'):
    r"""Downsample `x` by `down` with FIR filter `f`; the output is the input size / `down` (plus `padding`).

    Args as upfirdn2d().
    """
    downx, downy = _parse_scaling(down)
    px0, px1, py0, py1 = _parse_padding(padding)
    fw, fh = _get_filter_size(f)
    p = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=[downx, downy], padding=p, flip_filter=flip_filter, gain=gain, impl=impl)

#----------------------------------------------------------------------------
