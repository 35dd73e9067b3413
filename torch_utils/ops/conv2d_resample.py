"""2-D convolution fused with FIR up/downsampling, as in the synthesis and discriminator layers of
StyleGAN2 (Karras et al. 2020)."""

import torch

from . import conv2d_gradfix
from . import upfirdn2d
from .upfirdn2d import _parse_padding, _get_filter_size

#----------------------------------------------------------------------------
# Convolution with the weight flipped or not, plain or transposed. conv_transpose2d already
# convolves, so it needs the flip exactly when a correlation is wanted, and the weight laid out
# [in_channels, out_channels // groups, kh, kw].

def _conv2d_wrapper(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    out_channels, in_channels_per_group, kh, kw = w.shape
    if not transpose:
        if not flip_weight:
            w = w.flip([2, 3])
        return conv2d_gradfix.conv2d(x, w, stride=stride, padding=padding, groups=groups)
    if flip_weight:
        w = w.flip([2, 3])
    w = w.reshape(groups, out_channels // groups, in_channels_per_group, kh, kw)
    w = w.transpose(1, 2).reshape(groups * in_channels_per_group, out_channels // groups, kh, kw)
    return conv2d_gradfix.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)

#----------------------------------------------------------------------------

def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    r"""2-D convolution with optional FIR upsampling before it and FIR downsampling after it.

    Equivalent to: upfirdn2d(x, f, up, total padding, gain=up**2) when up > 1 (else only the padding),
    then conv2d with `w`, then upfirdn2d(f, down) when down > 1; computed with a transposed
    convolution for up > 1 and a strided one for down > 1.

    Args:
        x:           Input tensor [batch_size, in_channels, in_height, in_width].
        w:           Weight tensor [out_channels, in_channels // groups, kernel_height, kernel_width].
        f:           Low-pass filter from upfirdn2d.setup_filter(), None = box [1].
        up:          Integer upsampling factor.
        down:        Integer downsampling factor.
        padding:     Padding of the upsampled image, int, [x, y] or [x0, x1, y0, y1].
        groups:      Split the channels into this many groups.
        flip_weight: False = convolution, True = correlation (matches torch.nn.functional.conv2d).
        flip_filter: False = convolution, True = correlation.

    Returns:
        Tensor [batch_size, out_channels, out_height, out_width].
    """
    assert isinstance(x, torch.Tensor) and x.ndim == 4 and x.dtype == w.dtype
    assert isinstance(w, torch.Tensor) and w.ndim == 4 and x.shape[1] == w.shape[1] * groups
    assert f is None or (isinstance(f, torch.Tensor) and f.ndim in [1, 2])
    assert isinstance(up, int) and up >= 1
    assert isinstance(down, int) and down >= 1
    assert isinstance(groups, int) and groups >= 1 and w.shape[0] % groups == 0
    out_channels, in_channels_per_group, kh, kw = w.shape
    fw, fh = _get_filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)

    # Padding that the resampling filters need, added to the user's padding of the upsampled image.
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 kernel with downsampling: filter and decimate first, then the cheap per-pixel conv.
    if kw == 1 and kh == 1 and (down > 1 and up == 1):
        x = upfirdn2d.upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)

    # 1x1 kernel with upsampling: per-pixel conv first, on the small image.
    if kw == 1 and kh == 1 and (up > 1 and down == 1):
        x = _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d.upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up ** 2, flip_filter=flip_filter)

    # Downsampling only: filter, then a strided conv.
    if down > 1 and up == 1:
        x = upfirdn2d.upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d_wrapper(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling: a full transposed conv with stride `up` equals the conv of the zero-inserted image
    # padded by kw-1 (left) and kw-up (right, after the trailing zeros); the filter's padding absorbs
    # the difference, and a crop common to both sides moves into the transposed conv.
    if up > 1:
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d_wrapper(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=flip_weight)
        x = upfirdn2d.upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up ** 2,
                                flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d.upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    # No resampling: a padded conv when the padding allows.
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d_wrapper(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)

    # Asymmetric or negative padding without resampling: pad or crop, then conv.
    x = upfirdn2d.upfirdn2d(x, None, padding=[px0, px1, py0, py1])
    return _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)

#----------------------------------------------------------------------------
