"""Modulated candidate ops of alphaGAN's StyleGAN2 search space (Tian et al. 2022, Sec. 6.2): name -> factory."""

from nas.space import mixed
from training.layers import SynthesisLayer

#----------------------------------------------------------------------------
# Every op is one StyleGAN2 synthesis layer (own style affine, modulation + demodulation, noise, bias_act) and is
# called as op(x, w, noise_mode=..., fused_modconv=...). Normal ops keep the resolution; up ops double it:
# deconv = StyleGAN2's transposed conv + FIR filter, nearest_conv / bilinear_conv = interpolate x2 + conv_3x3.
# The supernet's mixed ops and the derived generator both build from this table.

def _normal(kernel_size):
    def factory(in_channels, out_channels, w_dim, resolution, **layer_kwargs):
        return SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution,
            kernel_size=kernel_size, **layer_kwargs)
    return factory

def _up(up=1, pre_upsample=None):
    def factory(in_channels, out_channels, w_dim, resolution, **layer_kwargs):
        return SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, kernel_size=3,
            up=up, pre_upsample=pre_upsample, **layer_kwargs)
    return factory

OPS = {
    'conv_1x1':         _normal(1),
    'conv_3x3':         _normal(3),
    'conv_5x5':         _normal(5),
    'deconv':           _up(up=2),
    'nearest_conv':     _up(pre_upsample='nearest'),
    'bilinear_conv':    _up(pre_upsample='bilinear'),
}

#----------------------------------------------------------------------------
# The op builder of StyleGAN2's synthesis blocks (training/networks_stylegan2.py, op_builder): an op name gives
# that op, a tuple of names a MixedOp over them (the supernet's layers).

def build_op(op, *args, **kwargs):
    if isinstance(op, str):
        return OPS[op](*args, **kwargs)
    return mixed.MixedOp(op, 'nas.space.ops_modulated.OPS', *args, **kwargs)

#----------------------------------------------------------------------------
