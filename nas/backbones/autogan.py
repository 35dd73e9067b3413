"""The AutoGAN backbone (Gong et al. 2019, Fig. 2): its Backbone (space, search networks, genotype sampling and
drawing); the shared and derived generators live in nas/space/autogan_space.py."""

import dnnlib
from nas.backbones import base
from nas.backbones.conventional import RETRAIN_SPECS
from nas.space import autogan_space
from nas.space import primitives

#----------------------------------------------------------------------------
# The label of a cell's first (up-sampling) or second conv block: its order of norm, ReLU, up-sampling and conv,
# in lines of at most 24 characters (a block's edge is 1.5 x-units long).

def _block_label(ops, first):
    norm = {'none': None, 'batch': 'batch norm', 'instance': 'instance norm'}[ops['norm']]
    up = [f'{ops["up"]} x2'] if first else []
    steps = [norm, 'ReLU', *up, 'conv3x3'] if ops['conv'] == 'pre' else [*up, 'conv3x3', norm, 'ReLU']
    lines = [f'{ops["conv"]}-activation']
    for i, step in enumerate(step for step in steps if step):
        if i > 0 and len(lines[-1]) + len(step) + 3 <= 24:
            lines[-1] += f' > {step}'
        else:
            lines.append(f'> {step}' if i > 0 else step)
    return '\n'.join(lines)

#----------------------------------------------------------------------------
# The AutoGAN space: per cell conv block, norm, up-sampling, shortcut and skip-ins, searched by AutoGAN's controller
# over a shared G (Sec. 4: 90 iterations, D batch 64, G 128 / D 64 channels) or sampled by random search.

class AutoGANBackbone(base.Backbone):
    name            = 'autogan'
    search_class    = 'nas.space.autogan_space.SharedGenerator'
    generator_class = 'nas.space.autogan_space.Generator'
    discriminator_class = 'training.networks_conventional.Discriminator' # AutoGAN's spectral-norm D
    search_defaults = dict(iters=90, batch=64, mode='cell', g_channels=128, d_channels=64)
    retrain_specs   = RETRAIN_SPECS

    def default_retrain_cfg(self, resolution):
        return 'autogan'

    def space_size(self, mode=None, resolution=None):
        return primitives.autogan_space_size()

    def choice_sizes(self, resolution=32, channels=None, mode=None):
        return [n for s in range(len(primitives.AUTOGAN_CELLS)) for n in primitives.autogan_token_sizes(s)]

    def genotype_from_choices(self, indices, resolution=32, channels=None, mode=None):
        g = autogan_space.sample_to_genotype(autogan_space.split_tokens(indices), resolution=resolution)
        g.channels = dict(channels or g.channels)
        return g.validate()

    def search_networks(self, opts, batch_size):
        G_kwargs = dnnlib.EasyDict(class_name=self.search_class, z_dim=128, g_channels=opts.g_channels)
        return G_kwargs, dnnlib.EasyDict(class_name=self.discriminator_class, d_channels=opts.d_channels)

    def show_genotype(self, G, genotype):
        if hasattr(G, 'set_arch'):
            G.set_arch(autogan_space.genotype_to_sample(genotype))

    def architecture_graph(self, genotype):
        # Fig. 2, cells left to right: each cell's first block up-samples its input into h, the skip-ins (an earlier
        # cell's h, up-sampled, 1x1 conv) add to h, the second block gives the output, plus the shortcut when on.
        side = genotype.resolution >> len(primitives.AUTOGAN_CELLS)
        nodes = {'c0.out': base.GraphNode(f'z\n{side}x{side}', 0, 0)}
        edges = []
        for i, cell in enumerate(primitives.AUTOGAN_CELLS):
            ops, x, prev, h, out = genotype.ops[cell], 3 * i, f'c{i}.out', f'c{i + 1}.h', f'c{i + 1}.out'
            side *= 2
            nodes.update({h: base.GraphNode('h', x + 1.5, 0), out: base.GraphNode(f'{cell}\n{side}x{side}', x + 3, 0)})
            edges += [base.GraphEdge(prev, h, _block_label(ops, first=True)),
                      base.GraphEdge(h, out, _block_label(ops, first=False))]
            if ops['shortcut']:
                edges.append(base.GraphEdge(prev, out, f'shortcut: {ops["up"]} x2, conv1x1', style='skip',
                                            route='below'))
            for src, on in ops['skip'].items():
                if on:
                    steps = i - primitives.AUTOGAN_CELLS.index(src)
                    edges.append(base.GraphEdge(f'c{i + 1 - steps}.h', h, f'skip-in from {src}: {ops["up"]} '
                                                f'x{2 ** steps}, conv1x1', style='skip', route='above'))
        notes = ['solid: conv blocks (pre: norm, ReLU, conv; post: conv, norm, ReLU); dashed above: skip-ins added to '
                 "h; dashed below: the cell's shortcut to its output"]
        return base.Graph(nodes, edges, notes=notes)

    def genotype_table(self, genotype):
        rows = []
        for cell, ops in genotype.ops.items():
            skips = ', '.join(src for src, on in ops['skip'].items() if on) or '-'
            rows.append([cell, ops['conv'], ops['norm'], ops['up'], 'on' if ops['shortcut'] else 'off', skips])
        return ['cell', 'conv', 'norm', 'up', 'shortcut', 'skip-ins'], rows

BACKBONE = base.register(AutoGANBackbone())

#----------------------------------------------------------------------------
