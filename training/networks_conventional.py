"""The fixed spectral-norm residual discriminator of AutoGAN (Gong et al. 2019) that alphaGAN's conventional
backbone (Tian et al. 2022) and AutoGAN search and re-train against."""

import torch
import torch.nn.functional as F

from torch_utils import misc
from torch_utils import persistence

#----------------------------------------------------------------------------
# Spectral normalisation (Miyato et al. 2018) as torch.nn.utils.spectral_norm computes it: weight / sigma, sigma
# = u^T W v with u, v refined by one power iteration per training-mode forward. Written out as layers so that
# pickles hold plain tensors (torch's hook objects are not safe to unpickle); sn=False gives the plain layer.

class _SpectralNorm:
    def _init_sn(self, sn):
        self.sn = sn
        if sn:
            rows, cols = self.weight.shape[0], self.weight[0].numel()
            self.register_buffer('sn_u', F.normalize(torch.randn(rows), dim=0, eps=1e-12))
            self.register_buffer('sn_v', F.normalize(torch.randn(cols), dim=0, eps=1e-12))

    def sn_weight(self):
        if not self.sn:
            return self.weight
        w = self.weight.flatten(1)
        if self.training:
            with torch.no_grad():
                self.sn_v.copy_(F.normalize(w.t() @ self.sn_u, dim=0, eps=1e-12))
                self.sn_u.copy_(F.normalize(w @ self.sn_v, dim=0, eps=1e-12))
        u, v = self.sn_u.clone(), self.sn_v.clone() # the buffers change in place at the next forward
        return self.weight / (u @ (w @ v))

@persistence.persistent_class
class SNConv2d(_SpectralNorm, torch.nn.Conv2d):
    def __init__(self,
        in_channels,                # Input channels.
        out_channels,               # Output channels.
        kernel_size,                # Square kernel size; 'same' padding.
        sn          = True,         # Spectral normalisation?
    ):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self._init_sn(sn)

    def forward(self, x):
        return F.conv2d(x, self.sn_weight(), self.bias, padding=self.padding)

@persistence.persistent_class
class SNLinear(_SpectralNorm, torch.nn.Linear):
    def __init__(self,
        in_features,                # Input features.
        out_features,               # Output features.
        bias        = True,         # Additive bias?
        sn          = True,         # Spectral normalisation?
    ):
        super().__init__(in_features, out_features, bias=bias)
        self._init_sn(sn)

    def forward(self, x):
        return F.linear(x, self.sn_weight(), self.bias)

#----------------------------------------------------------------------------
# First D block (SN-GAN): conv3x3-ReLU-conv3x3-avgpool, plus avgpool-conv1x1 shortcut.

@persistence.persistent_class
class OptimizedDisBlock(torch.nn.Module):
    def __init__(self,
        in_channels,                # Image channels.
        out_channels,               # Output channels.
        sn          = True,         # Spectral normalisation on every conv?
    ):
        super().__init__()
        self.c1 = SNConv2d(in_channels, out_channels, 3, sn=sn)
        self.c2 = SNConv2d(out_channels, out_channels, 3, sn=sn)
        self.c_sc = SNConv2d(in_channels, out_channels, 1, sn=sn)

    def forward(self, x):
        x = x.contiguous(memory_format=misc.activation_memory_format(x.device)) # the blocks below keep the format
        h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))

#----------------------------------------------------------------------------
# Pre-activation residual D block (SN-GAN): ReLU-conv3x3-ReLU-conv3x3 [avgpool]; conv1x1 [avgpool] shortcut
# when down-sampling.

@persistence.persistent_class
class DisBlock(torch.nn.Module):
    def __init__(self,
        channels,                   # Input and output channels.
        downsample  = False,        # Halve the resolution?
        sn          = True,         # Spectral normalisation on every conv?
    ):
        super().__init__()
        self.downsample = downsample
        self.c1 = SNConv2d(channels, channels, 3, sn=sn)
        self.c2 = SNConv2d(channels, channels, 3, sn=sn)
        self.c_sc = SNConv2d(channels, channels, 1, sn=sn) if downsample else None

    def forward(self, x):
        h = self.c2(F.relu(self.c1(F.relu(x))))
        if self.downsample:
            return F.avg_pool2d(h, 2) + F.avg_pool2d(self.c_sc(x), 2)
        return h + x

#----------------------------------------------------------------------------
# Discriminator of AutoGAN/alphaGAN (fixed during search and re-training): OptimizedDisBlock(down) ->
# DisBlock(down) -> DisBlock -> DisBlock -> ReLU -> spatial sum -> Linear(C -> 1, no bias). Conditional (c_dim > 0):
# the projection discriminator (Miyato & Koyama 2018, Eq. 3): the output adds <embed(c), features>, embed a
# bias-free spectral-norm Linear(c -> C) (an embedding table for one-hot labels; c_dim * C parameters).

@persistence.persistent_class
class Discriminator(torch.nn.Module):
    def __init__(self,
        c_dim           = 0,        # Conditioning label dimensionality, 0 = unconditional.
        img_resolution  = 32,       # Input resolution (any multiple of 4).
        img_channels    = 3,        # Number of input color channels.
        d_channels      = 128,      # Channels of every block (paper: 128).
        sn              = True,     # Spectral normalisation on every conv and the linear layer?
    ):
        super().__init__()
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block1 = OptimizedDisBlock(img_channels, d_channels, sn=sn)
        self.block2 = DisBlock(d_channels, downsample=True, sn=sn)
        self.block3 = DisBlock(d_channels, sn=sn)
        self.block4 = DisBlock(d_channels, sn=sn)
        self.l5 = SNLinear(d_channels, 1, bias=False, sn=sn)
        self.embed = SNLinear(c_dim, d_channels, bias=False, sn=sn) if c_dim > 0 else None

    def head(self, h, c):
        """Logits [N, 1] of the last block's features h [N, C, H, W] and the labels c."""
        features = F.relu(h).sum(dim=[2, 3])
        out = self.l5(features)
        if self.c_dim > 0: # not self.embed: pickles written before it have none
            misc.assert_shape(c, [h.shape[0], self.c_dim])
            out = out + (self.embed(c.to(features.dtype)) * features).sum(dim=1, keepdim=True)
        return out

    def forward(self, img, c=None, **kwargs):
        """Logits [N, 1]."""
        misc.assert_shape(img, [None, self.img_channels, self.img_resolution, self.img_resolution])
        h = self.block4(self.block3(self.block2(self.block1(img))))
        return self.head(h, c)

#----------------------------------------------------------------------------
