"""alphaGAN search supernet of the conventional generator (Tian et al. 2022, Fig. 2, Eq. 8): mixed ops on all edges."""

import torch

from nas.genotype import Genotype
from nas.space import cell_generator
from nas.space import mixed
from nas.space import primitives
from torch_utils import persistence

#----------------------------------------------------------------------------
# Layout of the architecture parameters, as in the authors' code: per cell c, normal_c [3, ops] (rows n0, n1, n2)
# and up_c [2, ops] (rows up0, up1); skip_c [sources, ops] into cells 2 and 3 (rows by source cell).

def alpha_layout():
    """{alpha name: [(cell, edge, kind) per row]} in the order of arch_parameters()."""
    layout = dict()
    for i, cell in enumerate(primitives.CONVENTIONAL_CELLS, start=1):
        layout[f'normal_{i}'] = [(cell, edge, 'normal') for edge in primitives.CONVENTIONAL_NORMAL_EDGES]
    for i, cell in enumerate(primitives.CONVENTIONAL_CELLS, start=1):
        layout[f'up_{i}'] = [(cell, edge, 'up') for edge in primitives.CONVENTIONAL_UP_EDGES]
    for i, cell in enumerate(primitives.CONVENTIONAL_CELLS, start=1):
        if primitives.CONVENTIONAL_SKIPS[cell]:
            layout[f'skip_{i}'] = [(cell, f'skip.{src}', 'up') for src in primitives.CONVENTIONAL_SKIPS[cell]]
    return layout

#----------------------------------------------------------------------------
# One search cell: a MixedOp on each of its edges (BN affine=False), wired like the derived cell.

@persistence.persistent_class
class SearchCell(torch.nn.Module):
    def __init__(self,
        name,                       # 'cell1', 'cell2' or 'cell3'.
        channels,                   # Channels of every feature map.
        normal,                     # Op names of the normal edges.
        up,                         # Op names of the up and skip edges.
    ):
        super().__init__()
        self.name = name
        registry = 'nas.space.ops.OPS'
        for edge in primitives.CONVENTIONAL_UP_EDGES:
            setattr(self, edge, mixed.MixedOp(up, registry, channels, False))
        for edge in primitives.CONVENTIONAL_NORMAL_EDGES:
            setattr(self, edge, mixed.MixedOp(normal, registry, channels, False))
        self.skip = torch.nn.ModuleDict({src: mixed.MixedOp(up, registry, channels, False,
            repeat=primitives.skip_steps(src, name)) for src in primitives.CONVENTIONAL_SKIPS[name]})

    def forward(self, x, skip_inputs, weights):
        """weights: {edge: op weights}; skip_inputs: {source cell: its node1}. Returns (node1, output)."""
        def apply(edge, h):
            op = self.skip[edge[len('skip.'):]] if edge.startswith('skip.') else getattr(self, edge)
            return op(h, weights[edge])
        return primitives.conventional_cell(x, {src: skip_inputs[src] for src in self.skip}, apply)

#----------------------------------------------------------------------------
# Supernet generator: the derived generator's wiring with mixed ops, alphas in their own container. Search
# algorithms use arch_parameters(), weight_parameters(), derive(); it samples like any ganas generator.

@persistence.persistent_class
class SupernetGenerator(cell_generator.CellGenerator):
    gumbel_generator = None         # Generator of the Gumbel noise, None = the global RNG (mixed.shared_gumbel_noise).
    fixed_weights = None            # {alpha name: one-hot rows} of the one architecture run_genotype() runs, None = mix.

    def __init__(self,
        z_dim           = 128,      # Input latent (Z) dimensionality.
        c_dim           = 0,        # Conditioning label dimensionality, 0 = unconditional (see CellGenerator).
        img_resolution  = 32,       # Output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 256,      # Channels of every feature map (paper: 256).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8.
        normal_ops      = 'default',  # Normal op set, a key of primitives.CONVENTIONAL_NORMAL_OP_SETS.
        up_ops          = 'default',  # Up op set: 'default', 'no_deconv' (Table 6), 'learnable_interp' (Table 7).
        gumbel          = False,    # Gumbel-softmax op weights instead of softmax (supp. Table 1)?
        gumbel_tau      = 1.0,      # Gumbel-softmax temperature.
        gumbel_hard     = True,     # One-hot forward with straight-through gradients?
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        self.normal_ops = normal_ops
        self.up_ops = up_ops
        self.gumbel = gumbel
        self.gumbel_tau = gumbel_tau
        self.gumbel_hard = gumbel_hard
        self.candidates = dict(
            normal=primitives.candidates('conventional', 'normal', normal_ops),
            up=primitives.candidates('conventional', 'up', up_ops))
        self._build(z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init,
                    cells=lambda: {name: SearchCell(name, g_channels, **self.candidates)
                                   for name in primitives.CONVENTIONAL_CELLS})

        self.layout = alpha_layout()
        self.alphas = torch.nn.ParameterDict() # architecture parameters, apart from the weights
        for name, rows in self.layout.items():
            num_ops = len(self.candidates[rows[0][2]])
            self.alphas[name] = torch.nn.Parameter(1e-3 * torch.randn(len(rows), num_ops))

    # Interface of search algorithms.

    def arch_parameters(self):
        return list(self.alphas.values())

    def weight_parameters(self):
        return [p for name, p in self.named_parameters() if not name.startswith('alphas.')]

    def space_size(self):
        return primitives.space_size('conventional', normal_ops=self.normal_ops, up_ops=self.up_ops)

    def run_genotype(self, genotype):
        """Run exactly `genotype` (a Genotype of this space and op sets) from now on; None = the relaxed mixture."""
        if genotype is None:
            self.fixed_weights = None
            return
        fixed = dict()
        for name, rows in self.layout.items():
            chosen = [genotype.ops[cell]['skip'][edge[len('skip.'):]] if edge.startswith('skip.') else
                      genotype.ops[cell][edge] for cell, edge, _kind in rows]
            candidates = self.candidates[rows[0][2]]
            fixed[name] = mixed.one_hot_rows([candidates.index(op) for op in chosen], len(candidates), self.alphas[name])
        self.fixed_weights = fixed

    def edge_weights(self):
        """{(cell, edge): op weights} for one forward pass: softmax of the alphas, or a Gumbel sample (or the one-hot
        rows of run_genotype())."""
        weights = dict()
        for name, alpha in self.alphas.items():
            rows = self.fixed_weights[name] if self.fixed_weights is not None else mixed.edge_weights(alpha,
                gumbel=self.gumbel, tau=self.gumbel_tau, hard=self.gumbel_hard, generator=self.gumbel_generator)
            for (cell, edge, _kind), row in zip(self.layout[name], rows.unbind(0)):
                weights[(cell, edge)] = row
        return weights

    def genotype_probs(self):
        """{'cell1.up0': {op: softmax probability}} for every edge (plots, logs)."""
        probs = dict()
        for name, alpha in self.alphas.items():
            for (cell, edge, kind), row in zip(self.layout[name], alpha.detach().softmax(dim=-1).cpu().tolist()):
                probs[f'{cell}.{edge}'] = dict(zip(self.candidates[kind], row))
        return probs

    def alphas_as_lists(self):
        return {name: alpha.detach().cpu().tolist() for name, alpha in self.alphas.items()}

    def derive(self, **provenance):
        """The argmax op of every edge as a Genotype; `provenance` (method, data, seed, iteration, extra) is recorded
        with the current alphas."""
        chosen = dict()
        for name, alpha in self.alphas.items():
            for (cell, edge, kind), index in zip(self.layout[name], alpha.detach().argmax(dim=-1).tolist()):
                chosen[(cell, edge)] = self.candidates[kind][index]
        cell_ops = dict()
        for cell in primitives.CONVENTIONAL_CELLS:
            edges = primitives.CONVENTIONAL_UP_EDGES + primitives.CONVENTIONAL_NORMAL_EDGES
            cell_ops[cell] = {edge: chosen[(cell, edge)] for edge in edges}
            cell_ops[cell]['skip'] = {src: chosen[(cell, f'skip.{src}')] for src in primitives.CONVENTIONAL_SKIPS[cell]}
        genotype = Genotype(backbone='conventional', mode='cell', resolution=self.img_resolution,
            channels=dict(g_channels=self.g_channels), ops=cell_ops,
            provenance=dict(provenance, alphas=self.alphas_as_lists()))
        return genotype.validate('derived genotype')

    # Generator interface.

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images in [-1, 1] of labels c from the mixed supernet; the StyleGAN2 sampling arguments are ignored."""
        weights = self.edge_weights()
        return self._run(z, c, {name: ({edge: w for (cell, edge), w in weights.items() if cell == name},)
                             for name in self.cells})

    def extra_repr(self):
        return f'{super().extra_repr()}, up_ops={self.up_ops}, gumbel={self.gumbel}'

#----------------------------------------------------------------------------
