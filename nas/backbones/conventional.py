"""The conventional backbone of alphaGAN (Tian et al. 2022, Fig. 2): the generator built from a genotype."""

import torch

from nas.genotype import Genotype
from nas.space import cell_generator
from nas.space import ops
from nas.space import primitives
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
class Generator(cell_generator.CellGenerator):
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
        self.genotype = g.to_dict()
        self._build('conventional', z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init,
                    cells=lambda: {name: Cell(name, g.ops[name], g_channels) for name in primitives.CONVENTIONAL_CELLS})

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images in [-1, 1]; c and the StyleGAN2 sampling arguments are accepted and ignored."""
        return self._run(z, {name: () for name in self.cells})

#----------------------------------------------------------------------------
# Snapshots written before these classes moved here (issue 20) name them in training/networks_conventional.py.

persistence.register_former_name('training.networks_conventional.Cell', Cell)
persistence.register_former_name('training.networks_conventional.Generator', Generator)

#----------------------------------------------------------------------------
