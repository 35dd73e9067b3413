"""Style-modulated, demodulated convolution of StyleGAN2 (Karras et al. 2020, Sec. 2.2, Eqs. 1-3)."""

import torch

from .. import misc
from . import conv2d_resample
from . import fma

#----------------------------------------------------------------------------

def modulated_conv2d(
    x,                      # Input tensor [batch_size, in_channels, in_height, in_width].
    weight,                 # Weight tensor [out_channels, in_channels, kernel_height, kernel_width].
    styles,                 # Modulation coefficients [batch_size, in_channels].
    noise           = None, # Noise added after demodulation, broadcastable to the output; None = none.
    up              = 1,    # Integer upsampling factor.
    down            = 1,    # Integer downsampling factor.
    padding         = 0,    # Padding of the upsampled image.
    resample_filter = None, # Low-pass filter from upfirdn2d.setup_filter() for up/down.
    demodulate      = True, # Scale each output channel to unit expected variance (Eq. 3).
    flip_weight     = True, # False = convolution, True = correlation (StyleGAN2 uses up == 1).
    fused_modconv   = True, # One grouped conv with per-sample weights, else scale activations around a shared conv.
):
    r"""Modulated convolution: w'_ijk = s_i * w_ijk (Eq. 1), w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + 1e-8) (Eq. 3).

    Returns:
        Tensor [batch_size, out_channels, out_height, out_width].
    """
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    misc.assert_shape(x, [batch_size, in_channels, None, None]) # [NIHW]
    misc.assert_shape(styles, [batch_size, in_channels]) # [NI]

    # Rescale to keep float16 away from overflow; demodulation cancels these factors again.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / (in_channels * kh * kw) ** 0.5 / weight.norm(float('inf'), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float('inf'), dim=1, keepdim=True)

    # Demodulation coefficients without the per-sample weights: sum_ik (s_i w_oik)^2 = sum_i s_i^2 sum_k w_oik^2,
    # one [N, I] x [I, O] product instead of an [N, O, I, k, k] tensor, its square, sum and their backward (their
    # forward alone was 3% of a profiled CPU training step at 32x32, 128 channels). Per-sample weights only where the
    # fused conv needs them.
    w = None
    dcoefs = None
    if demodulate:
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt() # [NO]
    if fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1) # [NOIkk]
        if demodulate:
            w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    # Non-fused: scale activations, shared conv, scale outputs.
    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample.conv2d_resample(x=x, w=weight.to(x.dtype), f=resample_filter, up=up, down=down,
                                            padding=padding, flip_weight=flip_weight)
        if demodulate and noise is not None:
            return fma.fma(x, dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1), noise.to(x.dtype))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    # Fused: the batch becomes groups of one grouped conv.
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample.conv2d_resample(x=x, w=w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                                        groups=batch_size, flip_weight=flip_weight)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x

#----------------------------------------------------------------------------
