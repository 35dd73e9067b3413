"""What ganas knows of one search space (alphaGAN's conventional and StyleGAN2 spaces, Tian et al. 2022; AutoGAN's,
Gong et al. 2019), as one Backbone object per space, and the registry the CLIs, search and report find them in."""

import collections

import dnnlib
from nas.space import primitives

#----------------------------------------------------------------------------
# Registry of backbones by name; each module of nas/backbones registers its one Backbone at import.

_backbones = dict() # registry: backbone name -> Backbone

def register(backbone):
    """Registers `backbone` under its name and returns the registered one: a backbone module executed again from a
    pickle's embedded source (trusted loading) gets the installed module's Backbone back."""
    assert backbone.name in primitives.BACKBONES
    registered = _backbones.setdefault(backbone.name, backbone)
    assert type(registered).__qualname__ == type(backbone).__qualname__, f'two backbones named {backbone.name}'
    return registered

def get(name):
    """The Backbone called `name`; a ValueError names the known ones."""
    if name not in _backbones:
        raise ValueError(f'unknown backbone {name!r} (choose from {", ".join(names())})')
    return _backbones[name]

def names():
    return [name for name in primitives.BACKBONES if name in _backbones]

def by_search_class(class_name):
    """The Backbone whose search generator is `class_name`, or None."""
    return next((b for b in _backbones.values() if b.search_class == class_name), None)

#----------------------------------------------------------------------------
# The drawing of a genotype (architecture.png, nas/viz.py): plain data a backbone lays out, in figure units (an x
# unit is 1.6 inches, a y unit 1.2 inches). Nodes are feature maps ('circle') or layers ('box', its label starting
# at x); an edge is an op ('op': solid arrow, its label on it), a skip or shortcut ('skip': dashed, curved 'above' or
# 'below' the nodes it passes), or a W_i feeding a layer ('w': thin). `colour` is an index into a 10-colour palette
# (a W_i's edge and the layers it feeds), None = the default. Groups are shaded boxes behind nodes (a resolution's
# layers), notes are lines under the drawing.

GraphNode = collections.namedtuple('GraphNode', ['label', 'x', 'y', 'shape', 'colour'], defaults=['circle', None])
GraphEdge = collections.namedtuple('GraphEdge', ['source', 'target', 'label', 'style', 'route', 'colour'],
                                   defaults=['op', 'straight', None])
GraphGroup = collections.namedtuple('GraphGroup', ['label', 'x0', 'y0', 'x1', 'y1'])
Graph = collections.namedtuple('Graph', ['nodes', 'edges', 'groups', 'notes'], defaults=[(), ()])

#----------------------------------------------------------------------------
# One search space. A backbone module subclasses this and registers an instance; every method has the form the
# CLIs, the search methods and the report call, so that none of them branches on a backbone's name.

class Backbone:
    name            = None      # Key in primitives.MODES and genotype 'backbone'.
    search_class    = None      # Class name of the generator searched over (supernet or shared G).
    generator_class = None      # Class name of the generator built from a genotype (genotype=<dict>).
    discriminator_class = None  # Class name of the D it searches and re-trains against (its default D).
    search_defaults = dict()    # search.py defaults: iters, batch, mode and the widths options.
    width_option    = 'channels' # Width options of search.py: 'channels' (--g/d-channels) or 'width_frac'.
    search_options  = ()        # Other search.py options only this backbone reads (e.g. 'up_ops').
    search_d_class  = None      # Class name of its searchable discriminator (search.py --search-d), None = none.

    @property
    def modes(self):
        """The backbone's modes; the first is what a genotype sampled without one gets."""
        return primitives.MODES[self.name]

    def mode_flags(self, mode):
        """(one op row per op kind shared by all layers, dynamic W) of a mode."""
        return primitives.mode_flags(self.name, mode)

    def run_desc(self, mode):
        """Part of a run directory's name after the backbone."""
        return f'-{mode}' if len(self.modes) > 1 else ''

    def resolution_error(self, resolution):
        """Why images of this resolution cannot be searched or re-trained here ('is not ...'), or None."""
        return primitives.resolution_error(self.name, resolution)

    def space_size(self, mode=None, resolution=None):
        """Exact number of architectures of the space at this mode and resolution."""
        raise NotImplementedError

    def sample_genotype(self, rng, resolution=32, channels=None, mode=None):
        """A uniform sample of the space (every choice independent, drawn in choice order) from a numpy Generator,
        as a Genotype."""
        sizes = self.choice_sizes(resolution=resolution, channels=channels, mode=mode)
        return self.genotype_from_choices([int(rng.integers(n)) for n in sizes], resolution=resolution,
                                          channels=channels, mode=mode)

    def choice_sizes(self, resolution=32, channels=None, mode=None):
        """Options of every independent choice of a genotype (its default op sets), in genotype_from_choices order."""
        raise NotImplementedError

    def genotype_from_choices(self, indices, resolution=32, channels=None, mode=None):
        """The Genotype taking option indices[i] of every choice; channels None = the space's default widths."""
        raise NotImplementedError

    def build_generator(self, genotype, img_channels=3, c_dim=0):
        """The generator `genotype` describes at the widths it records, as train.py --genotype builds it (z_dim 128
        for the cell spaces; c_dim > 0: conditional); nas.cost counts its parameters and FLOPs."""
        return dnnlib.util.construct_class_by_name(class_name=self.generator_class, genotype=genotype.to_dict(),
            z_dim=128, c_dim=c_dim, g_channels=genotype.channels['g_channels'], img_resolution=genotype.resolution,
            img_channels=img_channels)

    def search_networks(self, opts, batch_size):
        """(G_kwargs, D_kwargs) of the search: the searched generator and the discriminator, from search.py's
        options (widths, mode, up_ops, gumbel, gumbel_tau)."""
        raise NotImplementedError

    def child_kwargs(self, opts, G_kwargs):
        """Options of the generator random search builds from each sampled genotype, at the search width."""
        return dict(z_dim=G_kwargs['z_dim'], g_channels=opts.g_channels)

    def show_genotype(self, G, genotype):
        """Make the searched generator G run exactly `genotype` (a supernet: one-hot op weights)."""
        if hasattr(G, 'run_genotype'):
            G.run_genotype(genotype)

    def check_genotype(self, genotype, resolution):
        """Raise a UserError where a valid `genotype` cannot build a generator of this resolution (no-op here)."""

    # Re-training (train.py --genotype): None = StyleGAN2-ADA's --cfg presets and ADA; else this space's own table
    # of presets ({cfg: dict(kimg, mb, G_mb, lrate, betas, n_critic, ema, decay)}) with the hinge loss and its D.
    retrain_specs = None
    retrain_pl_weight = None    # Path-length regularisation weight of a genotype's StyleGAN2 re-training, None = the preset's.

    def default_retrain_cfg(self, resolution):
        """The --cfg a genotype of this space re-trains with at this resolution by default."""
        raise NotImplementedError

    def genotype_table(self, genotype):
        """The report's table of a genotype as (header, rows) of plain strings, None = show its JSON."""
        return None

    def architecture_graph(self, genotype):
        """The drawing of a genotype (architecture.png) as a Graph of its cells or layers, with every op and W
        choice written on it."""
        raise NotImplementedError

#----------------------------------------------------------------------------
