"""The conventional (SN-GAN/AutoGAN-like) generator of alphaGAN (Tian et al. 2022, Fig. 2) built from a genotype,
and the fixed spectral-norm residual discriminator of AutoGAN (Gong et al. 2019)."""

import torch
import torch.nn.functional as F

from nas.genotype import Genotype
from nas.space import ops
from nas.space import primitives
from torch_utils import misc
from torch_utils import persistence

#----------------------------------------------------------------------------
# One derived cell: every edge holds the single op its genotype names (BN affine), wired as in paper Fig. 2.

@persistence.persistent_class
class Cell(torch.nn.Module):
    def __init__(self,
        name,                       # 'cell1', 'cell2' or 'cell3'.
        cell_ops,                   # The genotype's ops[name]: {up0, up1, n0, n1, n2: op, skip: {src: op}}.
        channels,                   # Channels of every feature map.
    ):
        super().__init__()
        self.name = name
        for edge in primitives.CONVENTIONAL_UP_EDGES + primitives.CONVENTIONAL_NORMAL_EDGES:
            setattr(self, edge, ops.OPS[cell_ops[edge]](channels, True))
        self.skip = torch.nn.ModuleDict({src: ops.OPS[op](channels, True, repeat=primitives.skip_steps(src, name))
            for src, op in cell_ops['skip'].items()})

    def forward(self, x, skip_inputs):
        """skip_inputs: {source cell: its node1}. Returns (node1, output)."""
        def apply(edge, h):
            return self.skip[edge[len('skip.'):]](h) if edge.startswith('skip.') else getattr(self, edge)(h)
        return primitives.conventional_cell(x, {src: skip_inputs[src] for src in self.skip}, apply)

#----------------------------------------------------------------------------
# Generator: Linear(z -> C x bw x bw), three cells (x2 each), BN-ReLU-conv3x3-tanh to RGB. Paper Table 2 counts:
# alphaGAN_(l) 8.618 M / alphaGAN_(s) 2.953 M at CIFAR-10 (bw 4), 9.279 M / 3.613 M at STL-10 (bw 6), C = 256.

@persistence.persistent_class
class Generator(torch.nn.Module):
    def __init__(self,
        genotype,                   # Genotype.to_dict(), backbone 'conventional' (searched at any resolution, Table 2).
        z_dim           = 128,      # Input latent (Z) dimensionality.
        c_dim           = 0,        # Conditioning label dimensionality; the conventional backbone is unconditional.
        img_resolution  = 32,       # Output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 256,      # Channels of every feature map (paper: 256).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8 (4 CIFAR-10, 6 STL-10).
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        g = Genotype.from_dict(genotype, source='G genotype')
        if g.backbone != 'conventional':
            raise ValueError(f'G genotype: backbone: expected \'conventional\', got {g.backbone!r}')
        bottom_width = ops.bottom_width_for('conventional', c_dim, img_resolution, bottom_width)
        self.genotype = g.to_dict()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.g_channels = g_channels
        self.bottom_width = bottom_width

        self.l1 = torch.nn.Linear(z_dim, bottom_width * bottom_width * g_channels)
        self.cells = torch.nn.ModuleDict({name: Cell(name, g.ops[name], g_channels)
            for name in primitives.CONVENTIONAL_CELLS})
        self.to_rgb = ops.to_rgb(g_channels, img_channels)
        ops.init_weights(self, init)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images in [-1, 1]; c and the StyleGAN2 sampling arguments are accepted and ignored."""
        misc.assert_shape(z, [None, self.z_dim])
        x = self.l1(z).reshape(-1, self.g_channels, self.bottom_width, self.bottom_width)
        skip_sources = dict()
        for name, cell in self.cells.items():
            skip_sources[name], x = cell(x, skip_sources)
        img = self.to_rgb(x)
        misc.assert_shape(img, [z.shape[0], self.img_channels, self.img_resolution, self.img_resolution])
        return img

    def extra_repr(self):
        return f'z_dim={self.z_dim}, img_resolution={self.img_resolution}, g_channels={self.g_channels}'

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
# DisBlock(down) -> DisBlock -> DisBlock -> ReLU -> spatial sum -> Linear(C -> 1, no bias).

@persistence.persistent_class
class Discriminator(torch.nn.Module):
    def __init__(self,
        c_dim           = 0,        # Conditioning label dimensionality; unconditional, c is ignored.
        img_resolution  = 32,       # Input resolution (any multiple of 4).
        img_channels    = 3,        # Number of input color channels.
        d_channels      = 128,      # Channels of every block (paper: 128).
        sn              = True,     # Spectral normalisation on every conv and the linear layer?
    ):
        super().__init__()
        if c_dim != 0:
            raise ValueError(f'c_dim: the conventional discriminator is unconditional, got c_dim={c_dim}')
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block1 = OptimizedDisBlock(img_channels, d_channels, sn=sn)
        self.block2 = DisBlock(d_channels, downsample=True, sn=sn)
        self.block3 = DisBlock(d_channels, sn=sn)
        self.block4 = DisBlock(d_channels, sn=sn)
        self.l5 = SNLinear(d_channels, 1, bias=False, sn=sn)

    def forward(self, img, c=None, **kwargs):
        """Logits [N, 1]."""
        misc.assert_shape(img, [None, self.img_channels, self.img_resolution, self.img_resolution])
        h = self.block4(self.block3(self.block2(self.block1(img))))
        return self.l5(F.relu(h).sum(dim=[2, 3]))

#----------------------------------------------------------------------------
