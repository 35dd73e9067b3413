"""The AutoGAN backbone (Gong et al. 2019, Fig. 2): its Backbone (space, search networks, genotype sampling and
drawing); the shared and derived generators live in nas/space/autogan_space.py."""

import dnnlib
from nas.backbones import base
from nas.backbones.conventional import RETRAIN_SPECS
from nas.space import autogan_space
from nas.space import primitives

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

    def architecture_panels(self, genotype):
        panels = []
        for cell, ops in genotype.ops.items():
            skips = [src for src, on in ops['skip'].items() if on]
            panels.append((cell, [f'block: {ops["conv"]}-activation', f'norm: {ops["norm"]}', f'up: {ops["up"]}',
                                  f'shortcut: {"on" if ops["shortcut"] else "off"}',
                                  f'skip-in: {", ".join(skips) if skips else "none"}']))
        return panels

    def genotype_table(self, genotype):
        rows = []
        for cell, ops in genotype.ops.items():
            skips = ', '.join(src for src, on in ops['skip'].items() if on) or '-'
            rows.append([cell, ops['conv'], ops['norm'], ops['up'], 'on' if ops['shortcut'] else 'off', skips])
        return ['cell', 'conv', 'norm', 'up', 'shortcut', 'skip-ins'], rows

BACKBONE = base.register(AutoGANBackbone())

#----------------------------------------------------------------------------
