"""Candidate operation names and edge lists of the alphaGAN search spaces (Tian et al. 2022); plain data, no torch."""

import math

#----------------------------------------------------------------------------
# Backbones a genotype can describe, and the modes each one knows.
# The StyleGAN2 and AutoGAN issues add their backbones here.

MODES = {
    'conventional': ('cell',),  # SN-GAN/AutoGAN-like cell generator of paper Fig. 2.
    'stylegan2': ('micro', 'micro_dynw', 'macro', 'macro_dynw'),  # Paper Sec. 6.1-6.2, Table 8.
    'autogan': ('cell',),  # AutoGAN cell generator (Gong et al. 2019, Fig. 2).
}

BACKBONES = tuple(MODES)

def mode_flags(backbone, mode):
    """(shared_ops, dynamic_w) of a mode, the one place a mode's name is read: micro = one op per op kind shared
    by every layer, _dynw = each ws slot picks its own W_i (paper Sec. 6.1-6.2); a cell mode sets neither."""
    if mode not in MODES[backbone]:
        raise ValueError(f'unknown mode {mode!r} for backbone {backbone!r} (choose from {", ".join(MODES[backbone])})')
    return mode.startswith('micro'), mode.endswith('_dynw')

#----------------------------------------------------------------------------
# Conventional backbone, candidate ops (paper Sec. 4.2). Normal edges keep the resolution,
# up edges double it (a skip edge spanning two cells applies its op twice).

CONVENTIONAL_NORMAL_OPS = ('conv_1x1', 'conv_3x3', 'conv_5x5', 'sep_conv_3x3', 'sep_conv_5x5', 'sep_conv_7x7')
CONVENTIONAL_UP_OPS = ('deconv', 'nearest', 'bilinear')

# Named variants of the up-sampling set: Table 6 searches without deconv; Table 7's "learnable
# interpolation" replaces nearest/bilinear by the interpolation combined with a conv_1x1.
CONVENTIONAL_UP_OP_SETS = {
    'default':          CONVENTIONAL_UP_OPS,
    'no_deconv':        ('nearest', 'bilinear'),
    'learnable_interp': ('deconv', 'nearest_conv_1x1', 'bilinear_conv_1x1'),
}
CONVENTIONAL_NORMAL_OP_SETS = {
    'default':          CONVENTIONAL_NORMAL_OPS,
}

#----------------------------------------------------------------------------
# Conventional backbone, wiring (paper Fig. 2): three cells; in each, node1 = up0(x), node3 = up1(x),
# node2 = n0(node1), node4 = n1(node2) + n2(node3) + skips. Skip edges carry an earlier cell's node1.

CONVENTIONAL_CELLS = ('cell1', 'cell2', 'cell3')
CONVENTIONAL_UP_EDGES = ('up0', 'up1')
CONVENTIONAL_NORMAL_EDGES = ('n0', 'n1', 'n2')
CONVENTIONAL_SKIPS = {         # Sources of the skip edges into each cell, in order.
    'cell1': (),
    'cell2': ('cell1',),
    'cell3': ('cell1', 'cell2'),
}

def conventional_edges():
    """Every searchable edge as (cell, edge, kind): edge 'up0'...'n2' or 'skip.<source>', kind 'up' or 'normal'."""
    edges = []
    for cell in CONVENTIONAL_CELLS:
        edges += [(cell, name, 'up') for name in CONVENTIONAL_UP_EDGES]
        edges += [(cell, name, 'normal') for name in CONVENTIONAL_NORMAL_EDGES]
        edges += [(cell, f'skip.{src}', 'up') for src in CONVENTIONAL_SKIPS[cell]]
    return edges

def skip_steps(src, dst):
    """Number of x2 up-sampling steps on the skip edge from cell `src` to cell `dst` (one per cell crossed)."""
    return CONVENTIONAL_CELLS.index(dst) - CONVENTIONAL_CELLS.index(src)

def conventional_cell(x, skip_inputs, apply):
    """The cell's dataflow, shared by the supernet and derived nets: `apply(edge, tensor)` runs one edge,
    `skip_inputs` maps source cell -> its node1. Returns (node1, node4): the skip source and the output."""
    node1 = apply('up0', x)
    node3 = apply('up1', x)
    node2 = apply('n0', node1)
    node4 = apply('n1', node2) + apply('n2', node3)
    for src, h in skip_inputs.items():
        node4 = node4 + apply(f'skip.{src}', h)
    return node1, node4

#----------------------------------------------------------------------------
# Candidate lookup and space sizes.

def _op_sets(backbone, kind):
    if backbone not in _OP_SETS:
        raise ValueError(f'unknown backbone {backbone!r}')
    return _OP_SETS[backbone][kind]

def candidates(backbone, kind, variant='default'):
    """Candidate op names of one edge kind ('normal' or 'up') in a named variant of the op set."""
    sets = _op_sets(backbone, kind)
    if variant not in sets:
        raise ValueError(f'unknown {kind} op set {variant!r} (choose from {", ".join(sets)})')
    return sets[variant]

def known_ops(backbone, kind):
    """Every op name an edge of this kind may hold in a genotype: the union over all variants, in a stable order."""
    names = []
    for ops in _op_sets(backbone, kind).values():
        names += [name for name in ops if name not in names]
    return tuple(names)

def resolution_error(backbone, resolution):
    """Why a generator of this backbone cannot have this output resolution ('is not ...'), or None."""
    if backbone not in _RESOLUTION_RULES:
        raise ValueError(f'unknown backbone {backbone!r}')
    return _RESOLUTION_RULES[backbone](resolution)

def _three_cells_error(resolution):
    return None if resolution % 8 == 0 else 'is not a multiple of 8 (three x2 cells on a square bottom map)'

def _power_of_two_error(resolution):
    return None if resolution >= 4 and resolution & (resolution - 1) == 0 else 'is not a power of two >= 4'

def space_size(backbone, *args, **kwargs):
    """Exact number of architectures. space_size('conventional', normal_ops='default', up_ops='default');
    space_size('stylegan2', mode, resolution, num_mapping_layers=8), see stylegan2_space_size();
    space_size('autogan')."""
    if backbone not in _SPACE_SIZES:
        raise ValueError(f'unknown backbone {backbone!r}')
    return _SPACE_SIZES[backbone](*args, **kwargs)

def conventional_space_size(normal_ops='default', up_ops='default'):
    """The product of the candidate counts over all edges.
    Conventional default: (6^3 * 3^2)^3 * 3^3 = 18^9 (paper Sec. 4.2, about 2e11)."""
    counts = {'normal': len(candidates('conventional', 'normal', normal_ops)),
              'up': len(candidates('conventional', 'up', up_ops))}
    return math.prod(counts[kind] for _cell, _edge, kind in conventional_edges())

#----------------------------------------------------------------------------
# StyleGAN2 backbone, candidate ops (paper Sec. 6.2): modulated convs; the interpolations are followed by a
# modulated conv_3x3 ("learnable interpolation") so that every candidate takes a style.

STYLEGAN2_NORMAL_OPS = ('conv_1x1', 'conv_3x3', 'conv_5x5')
STYLEGAN2_UP_OPS = ('deconv', 'nearest_conv', 'bilinear_conv')
STYLEGAN2_NORMAL_OP_SETS = {'default': STYLEGAN2_NORMAL_OPS}
STYLEGAN2_UP_OP_SETS = {'default': STYLEGAN2_UP_OPS}

#----------------------------------------------------------------------------
# StyleGAN2 backbone, layers in the synthesis network's w order (bottom-up): b4.conv1 (normal), then per block
# of resolution 8..R conv0 (up) and conv1 (normal). Each conv layer and the last toRGB read one ws slot
# (num_ws = 2 log2 R - 2); the other toRGBs reuse the slot of the next conv0 (paper Fig. 2 / Table 9).

def _check_resolution(resolution):
    if not isinstance(resolution, int) or _power_of_two_error(resolution) is not None:
        raise ValueError(f'resolution must be a power of two >= 4, got {resolution!r}')

def stylegan2_layers(resolution):
    """[(layer name, kind)] of every synthesis conv layer in w order, kind 'normal' or 'up'."""
    _check_resolution(resolution)
    layers = [('b4.conv1', 'normal')]
    for log2 in range(3, int(math.log2(resolution)) + 1):
        layers += [(f'b{2 ** log2}.conv0', 'up'), (f'b{2 ** log2}.conv1', 'normal')]
    return layers

def stylegan2_w_slots(resolution):
    """Names of the layers with a W choice, in ws order: every conv layer, then the last toRGB."""
    return [name for name, _kind in stylegan2_layers(resolution)] + [f'b{resolution}.torgb']

def stylegan2_space_size(mode, resolution, num_mapping_layers=8):
    """Exact number of architectures (paper Table 8): micro 3 * 3 = 9; macro 3^(conv layers); the dynw modes
    multiply by num_mapping_layers^(conv layers + 1), e.g. micro_dynw at 128: 9 * 8^12 (about 6.2e11)."""
    shared_ops, dynamic_w = mode_flags('stylegan2', mode)
    layers = stylegan2_layers(resolution)
    if shared_ops:
        size = len(STYLEGAN2_NORMAL_OPS) * len(STYLEGAN2_UP_OPS)
    else:
        count = {'normal': len(STYLEGAN2_NORMAL_OPS), 'up': len(STYLEGAN2_UP_OPS)}
        size = math.prod(count[kind] for _name, kind in layers)
    if dynamic_w:
        size *= num_mapping_layers ** len(stylegan2_w_slots(resolution))
    return size

#----------------------------------------------------------------------------
# AutoGAN backbone (Gong et al. 2019, Sec. 3.1): per cell s (0-based) the tokens below in the authors' sampling
# order, then for s > 0 one integer of s bits selecting the skip-ins (most significant bit = the earliest cell).

AUTOGAN_CELLS = ('cell1', 'cell2', 'cell3')
AUTOGAN_TOKENS = (              # (token, choices in index order)
    ('conv', ('post', 'pre')),                      # Conv block: post- or pre-activation.
    ('norm', ('none', 'batch', 'instance')),        # Normalisation.
    ('up', ('bilinear', 'nearest', 'deconv')),      # Up-sampling, also of the skip-ins and the shortcut.
    ('shortcut', (False, True)),                    # In-cell shortcut.
)

def autogan_token_sizes(cell_index):
    """Number of choices of each token the controller samples for cell `cell_index` (0-based), skips last."""
    sizes = [len(choices) for _name, choices in AUTOGAN_TOKENS]
    return sizes + [2 ** cell_index] if cell_index > 0 else sizes

def autogan_space_size(num_cells=3):
    """36 * 72 * 144 = 373,248 generators for three cells (36 cell choices times 2^s skip patterns)."""
    return math.prod(math.prod(autogan_token_sizes(s)) for s in range(num_cells))

#----------------------------------------------------------------------------
# Per-backbone tables of the lookups above: the named op sets of each edge kind, the resolution rule and the
# space-size formula.

_OP_SETS = {
    'conventional': {'normal': CONVENTIONAL_NORMAL_OP_SETS, 'up': CONVENTIONAL_UP_OP_SETS},
    'stylegan2':    {'normal': STYLEGAN2_NORMAL_OP_SETS, 'up': STYLEGAN2_UP_OP_SETS},
}
_RESOLUTION_RULES = {
    'conventional': _three_cells_error,
    'stylegan2':    _power_of_two_error,
    'autogan':      _three_cells_error,
}
_SPACE_SIZES = {
    'conventional': conventional_space_size,
    'stylegan2':    stylegan2_space_size,
    'autogan':      autogan_space_size,
}

#----------------------------------------------------------------------------
