"""Candidate operations of alphaGAN's conventional generator space (Tian et al. 2022, Sec. 4.2): one registry for
the search supernet and the derived networks."""

import torch
import torch.nn.functional as F

from torch_utils import persistence

#----------------------------------------------------------------------------
# ReLU then a k x k convolution with bias, resolution kept (alphaGAN conv_kxk).

@persistence.persistent_class
class ReLUConv(torch.nn.Module):
    def __init__(self,
        channels,                   # Input and output channels.
        kernel_size,                # Odd kernel size.
    ):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=True)

    def forward(self, x):
        return self.conv(F.relu(x))

#----------------------------------------------------------------------------
# DARTS separable convolution (Liu et al. 2019), applied twice: (ReLU, depthwise k x k, pointwise 1x1, BN) x 2,
# convs without bias. BN is affine=False inside the supernet and affine=True in derived nets.

@persistence.persistent_class
class SepConv(torch.nn.Module):
    def __init__(self,
        channels,                   # Input and output channels.
        kernel_size,                # Odd kernel size of the depthwise convs.
        affine,                     # Learnable BN scale and shift?
    ):
        super().__init__()
        pad = kernel_size // 2
        self.dw1 = torch.nn.Conv2d(channels, channels, kernel_size, padding=pad, groups=channels, bias=False)
        self.pw1 = torch.nn.Conv2d(channels, channels, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels, affine=affine)
        self.dw2 = torch.nn.Conv2d(channels, channels, kernel_size, padding=pad, groups=channels, bias=False)
        self.pw2 = torch.nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels, affine=affine)

    def forward(self, x):
        x = self.bn1(self.pw1(self.dw1(F.relu(x))))
        return self.bn2(self.pw2(self.dw2(F.relu(x))))

#----------------------------------------------------------------------------
# 2x2 transposed convolution with stride 2 and bias, no activation; `repeat` x2 steps share the one layer
# (the x4 skip edge from cell 1 to cell 3).

@persistence.persistent_class
class Deconv(torch.nn.Module):
    def __init__(self,
        channels,                   # Input and output channels.
        repeat      = 1,            # Number of x2 steps.
    ):
        super().__init__()
        self.repeat = repeat
        self.deconv = torch.nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=True)

    def forward(self, x):
        for _ in range(self.repeat):
            x = self.deconv(x)
        return x

#----------------------------------------------------------------------------
# Parameter-free x2 interpolation, `repeat` times; with `channels`, a bias-free conv_1x1 comes first: Table 7's
# "learnable interpolation". Interpolation acts per channel and the 1x1 conv per pixel, so both are linear and
# commute; running the conv at the low resolution costs 4^repeat times fewer MACs.

@persistence.persistent_class
class Interpolate(torch.nn.Module):
    def __init__(self,
        mode,                       # 'nearest' or 'bilinear'.
        repeat      = 1,            # Number of x2 steps.
        channels    = None,         # Channels of the conv_1x1, None = no conv.
    ):
        super().__init__()
        assert mode in ['nearest', 'bilinear']
        self.mode = mode
        self.repeat = repeat
        self.conv = torch.nn.Conv2d(channels, channels, 1, bias=False) if channels is not None else None

    def forward(self, x):
        if self.conv is not None:
            x = self.conv(x)
        for _ in range(self.repeat):
            if self.mode == 'bilinear':
                x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
            else:
                x = F.interpolate(x, scale_factor=2, mode='nearest')
        return x

    def extra_repr(self):
        return f'mode={self.mode}, repeat={self.repeat}'

#----------------------------------------------------------------------------
# Name -> factory. Normal ops: factory(channels, affine); up ops: factory(channels, affine, repeat=1).
# Every name in nas.space.primitives' conventional op sets is here.

OPS = {
    'conv_1x1':          lambda C, affine: ReLUConv(C, 1),
    'conv_3x3':          lambda C, affine: ReLUConv(C, 3),
    'conv_5x5':          lambda C, affine: ReLUConv(C, 5),
    'sep_conv_3x3':      lambda C, affine: SepConv(C, 3, affine),
    'sep_conv_5x5':      lambda C, affine: SepConv(C, 5, affine),
    'sep_conv_7x7':      lambda C, affine: SepConv(C, 7, affine),
    'deconv':            lambda C, affine, repeat=1: Deconv(C, repeat),
    'nearest':           lambda C, affine, repeat=1: Interpolate('nearest', repeat),
    'bilinear':          lambda C, affine, repeat=1: Interpolate('bilinear', repeat),
    'nearest_conv_1x1':  lambda C, affine, repeat=1: Interpolate('nearest', repeat, channels=C),
    'bilinear_conv_1x1': lambda C, affine, repeat=1: Interpolate('bilinear', repeat, channels=C),
}

#----------------------------------------------------------------------------
# Geometry of a three-cell generator (x2 per cell, conventional and AutoGAN): resolution 8 * bottom.

def bottom_width_for(img_resolution, bottom_width=None):
    if bottom_width is None:
        bottom_width = img_resolution // 8
    if bottom_width * 8 != img_resolution:
        raise ValueError(f'img_resolution {img_resolution} is not 8 * bottom_width {bottom_width}')
    return bottom_width

#----------------------------------------------------------------------------
# Output head of the conventional generator (supernet and derived net alike): BN-ReLU-conv3x3-tanh.

def to_rgb(C, img_channels):
    return torch.nn.Sequential(
        torch.nn.BatchNorm2d(C),
        torch.nn.ReLU(),
        torch.nn.Conv2d(C, img_channels, 3, padding=1),
        torch.nn.Tanh(),
    )

#----------------------------------------------------------------------------
# Weight init of the conventional networks, as the alphaGAN/AutoGAN scripts apply it: Conv2d weights
# (not transposed convs, not linears) by `init`, affine BN scale N(1, 0.02) and shift 0.

INITS = ('xavier_uniform', 'normal', 'orth', 'default')

def init_weights(module, init):
    assert init in INITS
    if init == 'default':
        return
    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            if init == 'xavier_uniform':
                torch.nn.init.xavier_uniform_(m.weight, gain=1.0)
            elif init == 'normal':
                torch.nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                torch.nn.init.orthogonal_(m.weight)
        elif isinstance(m, torch.nn.BatchNorm2d) and m.affine:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

#----------------------------------------------------------------------------
