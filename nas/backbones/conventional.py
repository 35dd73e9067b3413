"""The conventional backbone of alphaGAN (Tian et al. 2022, Fig. 2): its Backbone (space, search networks,
genotype sampling and drawing) and the generator built from a genotype."""

import torch

import dnnlib
from nas.backbones import base
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
        c_dim           = 0,        # Conditioning label dimensionality, 0 = unconditional (see CellGenerator).
        img_resolution  = 32,       # Output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 256,      # Channels of every feature map (paper: 256).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8 (4 CIFAR-10, 6 STL-10).
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        g = self._set_genotype(genotype, 'conventional')
        self._build(z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init,
                    cells=lambda: {name: Cell(name, g.ops[name], g_channels) for name in primitives.CONVENTIONAL_CELLS})

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images in [-1, 1] of labels c; the StyleGAN2 sampling arguments are accepted and ignored."""
        return self._run(z, c, {name: () for name in self.cells})

#----------------------------------------------------------------------------
# Re-training presets of a conventional (alphaGAN/AutoGAN) genotype: paper supp. A.1.1 (CIFAR-10: 50k G iterations,
# Adam (0, 0.9)) and A.1.2 (STL-10 48x48: 80k G iterations, Adam (0.5, 0.9)); G batch 128, D batch 64, lr 2e-4,
# n_critic 5 (AutoGAN), hence kimg = G iterations * n_critic * 64 / 1000. ema: G_ema half-life in kimg, 0 = off
# (0.999 per G step is about 222 kimg at n_critic 5, batch 64; the loop's EMA runs every D step). decay: default
# learning-rate schedule. G weights EMA 0.999 per G step in both: alphaGAN's official re-training code keeps one
# (the paper does not say), as AutoGAN's does (Gong et al. 2019, Sec. 4 and the authors' code: 50k G iterations at
# a constant learning rate). train.py --ema-kimg=0 turns it off.

RETRAIN_SPECS = {
    'conv_cifar': dict(kimg=16000, mb=64, G_mb=128, lrate=0.0002, betas=[0.0, 0.9], n_critic=5, ema=222, decay='linear'),
    'conv_stl':   dict(kimg=25600, mb=64, G_mb=128, lrate=0.0002, betas=[0.5, 0.9], n_critic=5, ema=222, decay='linear'),
    'autogan':    dict(kimg=16000, mb=64, G_mb=128, lrate=0.0002, betas=[0.0, 0.9], n_critic=5, ema=222, decay=None),
}
#----------------------------------------------------------------------------
# The conventional space: cells of 9 normal edges x 6 ops and up/skip edges x 3 ops, searched by alphaGAN (supp.
# A.1.1: 100 iterations, batch 64, G 256 / D 128 channels) or sampled by random search, against AutoGAN's D.

class ConventionalBackbone(base.Backbone):
    name            = 'conventional'
    search_class    = 'nas.space.supernet_conventional.SupernetGenerator'
    generator_class = 'nas.backbones.conventional.Generator'
    discriminator_class = 'training.networks_conventional.Discriminator'
    search_defaults = dict(iters=100, batch=64, mode='cell', g_channels=256, d_channels=128)
    search_options  = ('up_ops',)
    search_d_class  = 'nas.space.supernet_discriminator.SupernetDiscriminator' # alphaGAN Table 3 "Search D"
    retrain_specs   = RETRAIN_SPECS

    def default_retrain_cfg(self, resolution):
        return 'conv_stl' if resolution == 48 else 'conv_cifar'

    def space_size(self, mode=None, resolution=None, **op_sets):
        return primitives.conventional_space_size(**op_sets)

    def choice_sizes(self, resolution=32, channels=None, mode=None):
        return [len(primitives.candidates(self.name, kind)) for _cell, _edge, kind in primitives.conventional_edges()]

    def genotype_from_choices(self, indices, resolution=32, channels=None, mode=None):
        chosen = {(cell, edge): primitives.candidates(self.name, kind)[index]
                  for (cell, edge, kind), index in zip(primitives.conventional_edges(), indices)}
        ops = dict()
        for cell in primitives.CONVENTIONAL_CELLS:
            ops[cell] = {edge: chosen[(cell, edge)]
                         for edge in primitives.CONVENTIONAL_UP_EDGES + primitives.CONVENTIONAL_NORMAL_EDGES}
            ops[cell]['skip'] = {src: chosen[(cell, f'skip.{src}')] for src in primitives.CONVENTIONAL_SKIPS[cell]}
        channels = dict(channels or dict(g_channels=256))
        return Genotype(backbone=self.name, mode=mode or self.modes[0], resolution=resolution, channels=channels,
            ops=ops).validate()

    def search_networks(self, opts, batch_size):
        G_kwargs = dnnlib.EasyDict(class_name=self.search_class, z_dim=128, g_channels=opts.g_channels,
                                   up_ops=opts.up_ops, gumbel=opts.gumbel, gumbel_tau=opts.gumbel_tau)
        return G_kwargs, dnnlib.EasyDict(class_name=self.discriminator_class, d_channels=opts.d_channels)

    def architecture_graph(self, genotype):
        # Paper Fig. 2, cells left to right: the input, node1 = up0(input) and node3 = up1(input) after the
        # up-sampling edges, node2 = n0(node1), the output n1(node2) + n2(node3) + the skips from earlier node1s.
        nodes, edges = {'c0.out': base.GraphNode('input', 0, 0)}, []
        for i, cell in enumerate(primitives.CONVENTIONAL_CELLS):
            ops, x, prev = genotype.ops[cell], 3 * i, f'c{i}.out'
            nodes.update({f'c{i + 1}.node1': base.GraphNode('1', x + 1, 0.6),
                          f'c{i + 1}.node3': base.GraphNode('3', x + 1, -0.6),
                          f'c{i + 1}.node2': base.GraphNode('2', x + 2, 0.6),
                          f'c{i + 1}.out': base.GraphNode(f'{cell}\nout', x + 3, 0)})
            edges += [base.GraphEdge(prev, f'c{i + 1}.node1', ops['up0']),
                      base.GraphEdge(prev, f'c{i + 1}.node3', ops['up1']),
                      base.GraphEdge(f'c{i + 1}.node1', f'c{i + 1}.node2', ops['n0']),
                      base.GraphEdge(f'c{i + 1}.node2', f'c{i + 1}.out', ops['n1']),
                      base.GraphEdge(f'c{i + 1}.node3', f'c{i + 1}.out', ops['n2'])]
            for src, op in ops.get('skip', {}).items():
                edges.append(base.GraphEdge(f'c{primitives.CONVENTIONAL_CELLS.index(src) + 1}.node1', f'c{i + 1}.out',
                                            op, style='skip', route='above'))
        notes = ['solid: the edges of each cell (up-sampling into nodes 1 and 3); dashed: skip edges from an earlier '
                 "cell's node 1 (up-sampled once per cell crossed)"]
        return base.Graph(nodes, edges, notes=notes)

    def genotype_table(self, genotype):
        edges = primitives.CONVENTIONAL_UP_EDGES + primitives.CONVENTIONAL_NORMAL_EDGES
        rows = []
        for cell, ops in genotype.ops.items():
            skips = ', '.join(f'{src}: {op}' for src, op in ops.get('skip', {}).items()) or '-'
            rows.append([cell, *[ops.get(edge, '-') for edge in edges], skips])
        return ['cell', *edges, 'skips'], rows

BACKBONE = base.register(ConventionalBackbone())

#----------------------------------------------------------------------------
# Snapshots written before these classes moved here (issue 20) name them in training/networks_conventional.py.

persistence.register_former_name('training.networks_conventional.Cell', Cell)
persistence.register_former_name('training.networks_conventional.Generator', Generator)

#----------------------------------------------------------------------------
