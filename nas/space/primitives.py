"""Candidate operation names and edge lists of the alphaGAN search spaces (Tian et al. 2022); plain data, no torch."""

import math

#----------------------------------------------------------------------------
# Backbones a genotype can describe, and the modes each one knows.
# The StyleGAN2 and AutoGAN issues add their backbones here.

MODES = {
    'conventional': ('cell',),  # SN-GAN/AutoGAN-like cell generator of paper Fig. 2.
}

BACKBONES = tuple(MODES)

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
    if backbone != 'conventional':
        raise ValueError(f'unknown backbone {backbone!r}')
    return {'normal': CONVENTIONAL_NORMAL_OP_SETS, 'up': CONVENTIONAL_UP_OP_SETS}[kind]

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

def space_size(backbone, normal_ops='default', up_ops='default'):
    """Exact number of architectures: the product of the candidate counts over all edges.
    Conventional default: (6^3 * 3^2)^3 * 3^3 = 18^9 (paper Sec. 4.2, about 2e11)."""
    counts = {'normal': len(candidates(backbone, 'normal', normal_ops)), 'up': len(candidates(backbone, 'up', up_ops))}
    return math.prod(counts[kind] for _cell, _edge, kind in conventional_edges())

#----------------------------------------------------------------------------
