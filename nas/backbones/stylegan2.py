"""The StyleGAN2 backbone of alphaGAN (Tian et al. 2022, Sec. 6): its Backbone (modes, space, search networks,
genotype sampling and drawing) and the generator built from a genotype."""

import dnnlib
from dnnlib.util import UserError
from nas.backbones import base
from nas.genotype import Genotype
from nas.genotype import layers_to_w_idx
from nas.genotype import stylegan2_layer_ops
from nas.genotype import w_idx_to_layers
from nas.space import primitives
from torch_utils import persistence
from training import networks_stylegan2

#----------------------------------------------------------------------------
# StyleGAN2's generator (training/networks_stylegan2.py) whose conv layers take the genotype's modulated ops and,
# in the dynw modes, whose ws slots read the genotype's W_i; genotype None = StyleGAN2 itself.

@persistence.persistent_class
class Generator(networks_stylegan2.Generator):
    def __init__(self,
        z_dim               = 512,  # Input latent (Z) dimensionality.
        c_dim               = 0,    # Conditioning label (C) dimensionality, 0 = unconditional.
        w_dim               = 512,  # Intermediate latent (W) dimensionality.
        img_resolution      = 1024, # Output resolution.
        img_channels        = 3,    # Number of output color channels.
        mapping_kwargs      = {},   # Arguments for MappingNetwork.
        synthesis_kwargs    = {},   # Arguments for SynthesisNetwork.
        genotype            = None, # StyleGAN2 genotype dict (Genotype.to_dict()), None = StyleGAN2 itself.
    ):
        layer_ops, w_idx = genotype_choices(genotype, img_resolution, mapping_kwargs.get('num_layers', 8))
        super().__init__(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
            img_channels=img_channels, mapping_kwargs=dict(mapping_kwargs, w_idx=w_idx),
            synthesis_kwargs=dict(synthesis_kwargs, layer_ops=layer_ops, op_builder='nas.space.ops_modulated.build_op'))
        self.genotype = genotype

#----------------------------------------------------------------------------
# What a StyleGAN2 genotype (nas.genotype, validated here) asks of the generator.

def genotype_choices(genotype, img_resolution, num_mapping_layers):
    """(layer_ops, 0-based w_idx) of a genotype dict; (None, None) = StyleGAN2's own layers and W_n everywhere."""
    if genotype is None:
        return None, None
    g = Genotype.from_dict(genotype, source='genotype')
    if g.backbone != 'stylegan2':
        raise UserError(f"genotype: backbone: expected 'stylegan2', got {g.backbone!r}")
    layer_ops = stylegan2_layer_ops(g, img_resolution)
    if g.w_idx is None:
        return layer_ops, None
    if g.channels['num_mapping_layers'] != num_mapping_layers:
        raise UserError(f'genotype: channels.num_mapping_layers: searched with '
            f'{g.channels["num_mapping_layers"]} mapping layers, the generator has {num_mapping_layers}')
    return layer_ops, w_idx_to_layers(g.w_idx)

#----------------------------------------------------------------------------
# The StyleGAN2 space in its four modes (micro, micro_dynw, macro, macro_dynw), searched by alphaGAN (supp. A.1.2:
# 500 iterations, batch 2) at a fraction of config-f's width, or sampled by random search, against StyleGAN2's D.

class StyleGAN2Backbone(base.Backbone):
    name            = 'stylegan2'
    search_class    = 'nas.space.supernet_stylegan2.SupernetGenerator'
    generator_class = 'nas.backbones.stylegan2.Generator'
    discriminator_class = 'training.networks_stylegan2.Discriminator'
    search_defaults = dict(iters=500, batch=2, mode='micro_dynw')
    width_option    = 'width_frac'
    retrain_pl_weight = 0       # alphaGAN supp. A.1.2: searched genotypes re-train without path-length regularisation,
                                # which their interpolation up-sampling ops do not suit (train.py --pl-weight sets one).

    def space_size(self, mode=None, resolution=None, **kwargs):
        return primitives.stylegan2_space_size(mode, resolution, **kwargs)

    def choice_sizes(self, resolution=32, channels=None, mode=None):
        shared_ops, dynamic_w = self.mode_flags(mode or self.modes[0])
        layers = primitives.stylegan2_layers(resolution)
        sizes = []
        for kind in ('normal', 'up'):
            count = 1 if shared_ops else sum(1 for _name, k in layers if k == kind)
            sizes += [len(primitives.candidates(self.name, kind))] * count
        if dynamic_w:
            sizes += [self._channels(channels)['num_mapping_layers']] * len(primitives.stylegan2_w_slots(resolution))
        return sizes

    def genotype_from_choices(self, indices, resolution=32, channels=None, mode=None):
        mode = mode or self.modes[0]
        shared_ops, dynamic_w = self.mode_flags(mode)
        channels = self._channels(channels)
        layers = primitives.stylegan2_layers(resolution)
        indices, ops = list(indices), dict()
        for kind in ('normal', 'up'):
            count = 1 if shared_ops else sum(1 for _name, k in layers if k == kind)
            ops[kind] = [primitives.candidates(self.name, kind)[i] for i in indices[:count]]
            indices = indices[count:]
        w_idx = layers_to_w_idx(indices) if dynamic_w else None
        g = Genotype(backbone=self.name, mode=mode, resolution=resolution, channels=channels, ops=ops, w_idx=w_idx)
        return g.validate()

    def _channels(self, channels):
        return dict(channels or dict(channel_base=32768, channel_max=512, num_mapping_layers=8))

    def build_generator(self, genotype, img_channels=3, c_dim=0):
        ch = genotype.channels # z and w 512 and no fp16, as train.py builds a StyleGAN2 genotype
        return dnnlib.util.construct_class_by_name(class_name=self.generator_class, genotype=genotype.to_dict(),
            z_dim=512, c_dim=c_dim, w_dim=512, img_resolution=genotype.resolution, img_channels=img_channels,
            mapping_kwargs=dict(num_layers=ch['num_mapping_layers']),
            synthesis_kwargs=dict(channel_base=ch['channel_base'], channel_max=ch['channel_max'], num_fp16_res=0,
                                  conv_clamp=None))

    def search_networks(self, opts, batch_size):
        widths = dict(channel_base=int(32768 * opts.width_frac), channel_max=max(int(512 * opts.width_frac), 1))
        G_kwargs = dnnlib.EasyDict(class_name=self.search_class, z_dim=512, w_dim=512,
                                   mode=opts.mode, mapping_kwargs=dnnlib.EasyDict(num_layers=8),
                                   synthesis_kwargs=dnnlib.EasyDict(**widths, num_fp16_res=0, conv_clamp=None),
                                   gumbel=opts.gumbel, gumbel_tau=opts.gumbel_tau)
        D_kwargs = dnnlib.EasyDict(class_name=self.discriminator_class, **widths, num_fp16_res=0,
                                   conv_clamp=None,
                                   epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=min(4, batch_size)))
        return G_kwargs, D_kwargs

    def child_kwargs(self, opts, G_kwargs):
        return dnnlib.EasyDict(z_dim=G_kwargs['z_dim'], w_dim=G_kwargs['w_dim'],
            mapping_kwargs=G_kwargs['mapping_kwargs'], synthesis_kwargs=G_kwargs['synthesis_kwargs'])

    def check_genotype(self, genotype, resolution):
        stylegan2_layer_ops(genotype, resolution)

    def _layer_rows(self, genotype):
        """[(layer, kind, op, 'W<i>' or None)] in w order, the last toRGB included when it has a W choice."""
        layers = primitives.stylegan2_layers(genotype.resolution)
        ops = stylegan2_layer_ops(genotype, genotype.resolution)
        w_idx = genotype.w_idx or []
        rows = [(name, kind, op, f'W{w_idx[i]}' if i < len(w_idx) else None)
                for i, ((name, kind), op) in enumerate(zip(layers, ops))]
        if len(w_idx) > len(layers):
            rows.append((f'b{genotype.resolution}.torgb', 'torgb', None, f'W{w_idx[len(layers)]}'))
        return rows

    def architecture_graph(self, genotype):
        # Top to bottom: the mapping network's outputs W_1..W_n on the left, the synthesis layers on the right with
        # their op, grouped by resolution; a line from W_i to every layer that reads it (StyleGAN2 itself: W_n).
        num_w = genotype.channels.get('num_mapping_layers', 8)
        rows = self._layer_rows(genotype)
        if rows[-1][1] != 'torgb':
            rows.append((f'b{genotype.resolution}.torgb', 'torgb', None, None))
        step = 0.42 # y units between layers
        nodes = {'const': base.GraphNode('const 4x4', 1.2, 0, shape='box')}
        edges, groups, prev = [], [], 'const'
        w_step = step * len(rows) / num_w
        nodes['z'] = base.GraphNode('z', 0, 0)
        for i in range(1, num_w + 1):
            nodes[f'W{i}'] = base.GraphNode(f'W{i}', 0, -i * w_step, colour=i - 1)
            edges.append(base.GraphEdge('z' if i == 1 else f'W{i - 1}', f'W{i}', ''))
        for k, (name, kind, op, w) in enumerate(rows):
            w = w or f'W{num_w}' # no W choice: every layer reads the mapping's last output
            y = -(k + 1) * step
            label = f'{name}  {op}  ({w})' if op else f'toRGB  ({w})'
            nodes[name] = base.GraphNode(label, 1.2, y, shape='box', colour=int(w[1:]) - 1)
            edges += [base.GraphEdge(prev, name, ''), base.GraphEdge(w, name, '', style='w', colour=int(w[1:]) - 1)]
            prev = name
            res = name.split('.')[0][1:]
            if groups and groups[-1].label == f'{res}x{res}':
                groups[-1] = groups[-1]._replace(y0=y - step / 2)
            elif kind != 'torgb':
                groups.append(base.GraphGroup(f'{res}x{res}', 1.1, y - step / 2, 3.4, y + step / 2))
        nodes['img'] = base.GraphNode(f'image {genotype.resolution}x{genotype.resolution}', 1.2,
                                      -(len(rows) + 1) * step, shape='box')
        edges.append(base.GraphEdge(prev, 'img', ''))
        dynamic = 'W_i chosen per layer' if genotype.w_idx else 'every layer reads W_n (StyleGAN2)'
        notes = [f'left: mapping network z > W1 > ... > W{num_w}; right: synthesis layers (conv0 up-samples), '
                 f'op and W; {dynamic}']
        return base.Graph(nodes, edges, groups, notes)

    def genotype_table(self, genotype):
        return ['layer', 'kind', 'op', 'W'], [[name, kind, op or '-', w or '-']
                                             for name, kind, op, w in self._layer_rows(genotype)]

BACKBONE = base.register(StyleGAN2Backbone())

#----------------------------------------------------------------------------
# Snapshots written before this class moved here (issue 20) name it training.networks_stylegan2.Generator, with
# a genotype among its init kwargs.

persistence.register_former_name('training.networks_stylegan2.Generator', Generator, marker_kwarg='genotype')

#----------------------------------------------------------------------------
