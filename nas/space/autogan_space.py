"""The AutoGAN cell search space (Gong et al. 2019, Sec. 3.1 and Fig. 2): samples, genotypes, the shared-weight
search generator and the derived generator."""

import torch
import torch.nn.functional as F

from nas.genotype import Genotype
from nas.space import cell_generator
from nas.space import primitives
from torch_utils import persistence

TOKEN_NAMES = tuple(name for name, _choices in primitives.AUTOGAN_TOKENS)
SKIP_OUTS = ('with_skips', 'before_skips')

#----------------------------------------------------------------------------
# A sample is what the controller emits: one tuple of token indices per cell, (conv, norm, up, shortcut) plus, for
# cell s > 0, the skip-in integer of s bits. Cell dicts are the genotype's layout: {conv, norm, up, shortcut, skip}.

def decode_cell(tokens, index):
    """Token indices of cell `index` (0-based) -> the genotype's cell dict."""
    sizes = primitives.autogan_token_sizes(index)
    tokens = [int(t) for t in tokens]
    if len(tokens) != len(sizes) or any(not 0 <= t < n for t, n in zip(tokens, sizes)):
        raise ValueError(f'cell {index}: expected {len(sizes)} tokens below {sizes}, got {tokens}')
    cell = {name: choices[t] for (name, choices), t in zip(primitives.AUTOGAN_TOKENS, tokens)}
    bits = tokens[len(TOKEN_NAMES)] if index > 0 else 0
    cell['skip'] = {src: bool(bits >> (index - 1 - i) & 1) for i, src in enumerate(primitives.AUTOGAN_CELLS[:index])}
    return cell

def encode_cell(cell, index):
    """The genotype's cell dict -> token indices of cell `index` (inverse of decode_cell)."""
    tokens = [choices.index(cell[name]) for name, choices in primitives.AUTOGAN_TOKENS]
    if index > 0:
        tokens.append(sum(int(cell['skip'][src]) << (index - 1 - i)
                          for i, src in enumerate(primitives.AUTOGAN_CELLS[:index])))
    return tuple(tokens)

def sample_to_genotype(sample, resolution=32, g_channels=256, **provenance):
    """A full sample (one token tuple per cell, all cells) -> validated Genotype with backbone 'autogan'."""
    if len(sample) != len(primitives.AUTOGAN_CELLS):
        raise ValueError(f'a genotype needs all {len(primitives.AUTOGAN_CELLS)} cells, got {len(sample)}')
    cell_ops = {name: decode_cell(tokens, i) for i, (name, tokens) in enumerate(zip(primitives.AUTOGAN_CELLS, sample))}
    return Genotype(backbone='autogan', mode='cell', resolution=resolution, channels=dict(g_channels=g_channels),
                    ops=cell_ops, provenance=provenance).validate()

def genotype_to_sample(genotype):
    """Genotype (or its dict) with backbone 'autogan' -> one token tuple per cell."""
    g = genotype if isinstance(genotype, Genotype) else Genotype.from_dict(genotype)
    if g.backbone != 'autogan':
        raise ValueError(f'genotype: backbone: expected \'autogan\', got {g.backbone!r}')
    return [encode_cell(g.ops[name], i) for i, name in enumerate(primitives.AUTOGAN_CELLS)]

def split_tokens(tokens):
    """Every cell's token indices in one flat list (the order of Backbone.choice_sizes) -> a full sample."""
    sample, start = [], 0
    for s in range(len(primitives.AUTOGAN_CELLS)):
        count = len(primitives.autogan_token_sizes(s))
        sample.append(tuple(int(t) for t in tokens[start:start + count]))
        start += count
    return sample

def random_sample(rng, num_cells=3):
    """Uniform sample from a numpy Generator: every token independent."""
    return [tuple(int(rng.integers(n)) for n in primitives.autogan_token_sizes(s)) for s in range(num_cells)]

#----------------------------------------------------------------------------
# x2 (or x2^steps) up-sampling by name: interpolation to the target size in one call, as the authors' code
# resizes skip-ins, or the cell's own stack of 2x2 stride-2 transposed convs.

def upsample(x, mode, steps=1, deconv=None):
    if mode == 'deconv':
        return deconv(x)
    size = [x.shape[2] << steps, x.shape[3] << steps]
    if mode == 'bilinear':
        return F.interpolate(x, size=size, mode='bilinear', align_corners=False)
    return F.interpolate(x, size=size, mode='nearest')

def _deconv_stack(channels, steps):
    return torch.nn.Sequential(*[torch.nn.ConvTranspose2d(channels, channels, 2, stride=2) for _ in range(steps)])

def _norm(kind, channels):
    return torch.nn.BatchNorm2d(channels) if kind == 'batch' else torch.nn.InstanceNorm2d(channels)

#----------------------------------------------------------------------------
# The modules of one conv type's two blocks, set on `holder`: c1 with its norms n1 and deconv up1 (the up-sampling
# block, conv1), c2 with its norms n2 (conv2). A pre block's BatchNorm normalises its input, a post block's its
# output; both have C channels. InstanceNorm has no parameters.
#   pre:  [norm] -> ReLU -> [up] -> conv3x3        post: [up] -> conv3x3 -> [norm] -> ReLU

def _add_blocks(holder, channels, norms, deconv):
    holder.c1 = torch.nn.Conv2d(channels, channels, 3, padding=1)
    holder.c2 = torch.nn.Conv2d(channels, channels, 3, padding=1)
    holder.n1 = torch.nn.ModuleDict({kind: _norm(kind, channels) for kind in norms if kind != 'none'})
    holder.n2 = torch.nn.ModuleDict({kind: _norm(kind, channels) for kind in norms if kind != 'none'})
    holder.up1 = _deconv_stack(channels, 1) if deconv else None
    return holder

#----------------------------------------------------------------------------
# One conv type's blocks as a module of their own; the shared cell holds one per conv type.

@persistence.persistent_class
class _ConvBlocks(torch.nn.Module):
    def __init__(self, channels, norms):
        super().__init__()
        _add_blocks(self, channels, norms, deconv=True)

#----------------------------------------------------------------------------
# Wiring of an AutoGAN cell, shared by the derived cell and the shared-weight cell; they differ in where the blocks
# of the chosen conv type live (_blocks_for). The cell owns the shortcut (1x1 conv, deconv) and per skip-in source
# a 1x1 conv and, for deconv up-sampling, a stack of 2x2 stride-2 transposed convs (x2: one, x4: two).
# h = block1(x, up); h = h + sum of 1x1(up(skip-in)); skip-out = h (or block1's output: skip_out='before_skips');
# out = block2(h) [+ 1x1(up(x)) when the shortcut is on]. No in-place op, so every choice has a backward.

class _CellBase(torch.nn.Module):
    def __init__(self, index, channels, skip_out):
        super().__init__()
        assert skip_out in SKIP_OUTS
        self.index = index
        self.channels = channels
        self.skip_out = skip_out

    def _add_links(self, deconv, shortcut, skips):
        C = self.channels
        self.skips = tuple(skips)
        self.c_sc = torch.nn.Conv2d(C, C, 1) if shortcut else None
        self.up_sc = _deconv_stack(C, 1) if shortcut and deconv else None
        self.c_skip = torch.nn.ModuleDict({src: torch.nn.Conv2d(C, C, 1) for src in self.skips})
        self.up_skip = torch.nn.ModuleDict({src: _deconv_stack(C, self._steps(src)) for src in self.skips}
                                           if deconv else {})

    def _steps(self, src):
        return self.index - primitives.AUTOGAN_CELLS.index(src)

    def _blocks_for(self, kind):
        raise NotImplementedError

    def _block(self, x, cell, first):
        blocks = self._blocks_for(cell['conv'])
        conv, norms = (blocks.c1, blocks.n1) if first else (blocks.c2, blocks.n2)
        norm = norms[cell['norm']] if cell['norm'] != 'none' else None
        if cell['conv'] == 'pre':
            x = F.relu(norm(x) if norm is not None else x)
            return conv(upsample(x, cell['up'], deconv=blocks.up1) if first else x)
        x = conv(upsample(x, cell['up'], deconv=blocks.up1) if first else x)
        return F.relu(norm(x) if norm is not None else x)

    def forward(self, x, skip_inputs, cell):
        """x: the previous cell's output; skip_inputs: {source cell: its skip-out}; cell: the genotype's cell dict.
        Returns (skip-out, output), both at twice x's resolution."""
        h = self._block(x, cell, first=True)
        before = h
        for src, on in cell['skip'].items():
            if on:
                deconv = self.up_skip[src] if cell['up'] == 'deconv' else None
                h = h + self.c_skip[src](upsample(skip_inputs[src], cell['up'], self._steps(src), deconv=deconv))
        out = self._block(h, cell, first=False)
        if cell['shortcut']:
            out = out + self.c_sc(upsample(x, cell['up'], deconv=self.up_sc))
        return (h if self.skip_out == 'with_skips' else before), out

#----------------------------------------------------------------------------
# Cell of a derived net: only the modules its choices use, the blocks' as the cell's own (c1, n1, up1, c2, n2).

@persistence.persistent_class
class Cell(_CellBase):
    def __init__(self,
        index,                      # 0-based cell index; earlier cells are its skip-in sources.
        channels,                   # Channels of every feature map.
        choices,                    # The genotype's cell dict {conv, norm, up, shortcut, skip}.
        skip_out    = 'with_skips', # Skip-out taken after the skip-ins are added (authors' code) or before (figure).
    ):
        super().__init__(index, channels, skip_out)
        deconv = choices['up'] == 'deconv'
        _add_blocks(self, channels, (choices['norm'],), deconv) # first: parameter order and init draws as published
        self._add_links(deconv, choices['shortcut'], [src for src, on in choices['skip'].items() if on])

    def _blocks_for(self, kind):
        return self # built for the genotype's conv type only

#----------------------------------------------------------------------------
# Cell of the shared-weight search generator, sharing as the authors' search code does (VITA-Group/AutoGAN,
# models_search/building_blocks_search.py): separate pre- and post-activation blocks (blocks['pre'], ['post']), so
# the conv type selects different convs, BNs and deconvs, while norm and up choices reuse the chosen type's; the
# shortcut and the skip-in modules are shared by all choices. Only modules some child uses are built.

@persistence.persistent_class
class SharedCell(_CellBase):
    def __init__(self,
        index,                      # 0-based cell index; earlier cells are its skip-in sources.
        channels,                   # Channels of every feature map.
        skip_out    = 'with_skips', # See Cell.
    ):
        super().__init__(index, channels, skip_out)
        norms = dict(primitives.AUTOGAN_TOKENS)['norm']
        self.blocks = torch.nn.ModuleDict({kind: _ConvBlocks(channels, norms)
                                           for kind in dict(primitives.AUTOGAN_TOKENS)['conv']})
        self._add_links(deconv=True, shortcut=True, skips=primitives.AUTOGAN_CELLS[:index])

    def _blocks_for(self, kind):
        return self.blocks[kind]

    def child_state_dict(self, choices):
        """The state dict of Cell(index, channels, choices), taken from the shared weights."""
        with torch.device('meta'):
            names = Cell(self.index, self.channels, choices, self.skip_out).state_dict().keys()
        own = self.state_dict()
        blocks = self.blocks[choices['conv']].state_dict()
        return {name: blocks[name] if name in blocks else own[name] for name in names}

#----------------------------------------------------------------------------
# Search generator with shared weights (the authors' "shared GAN", C = 128): every cell holds every choice;
# set_arch(sample) picks the child. A sample of s cells makes it a stage-s generator: its output (through the one
# shared to_rgb) is at bottom_width * 2^s pixels, the growing generator of the multi-level search.
# At C = 128, 32x32: 2,994,691 parameters (l1 264,192, to_rgb 3,715, per cell 804,864, per skip-in source 16,512,
# skip-in deconvs 65,664 in cell2 and 196,992 in cell3). The authors' module has 3,716,995: it also builds a deconv
# in each conv2 block (6 x 65,664) and x2/x4 skip-in deconvs in cells without a source at that scale (5 x 65,664).

@persistence.persistent_class
class SharedGenerator(cell_generator.CellGenerator):
    def __init__(self,
        z_dim           = 128,      # Input latent (Z) dimensionality.
        c_dim           = 0,        # Conditioning label dimensionality, 0 = unconditional (see CellGenerator).
        img_resolution  = 32,       # Final output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 128,      # Channels of every feature map (authors' search: 128).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8.
        skip_out        = 'with_skips', # See Cell.
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        cells = {name: SharedCell(i, g_channels, skip_out) for i, name in enumerate(primitives.AUTOGAN_CELLS)}
        self._build(z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init, cells)
        self.sample = None
        self._cell_ops = None

    def set_arch(self, sample):
        """Select the child: one token tuple per cell for the first len(sample) cells."""
        if not 1 <= len(sample) <= len(primitives.AUTOGAN_CELLS):
            raise ValueError(f'expected 1..{len(primitives.AUTOGAN_CELLS)} cells, got {len(sample)}')
        self.sample = [tuple(int(t) for t in tokens) for tokens in sample]
        self._cell_ops = {name: decode_cell(tokens, i) for i, (name, tokens) in enumerate(
            zip(primitives.AUTOGAN_CELLS, self.sample))}

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images of the current child in [-1, 1] at bottom_width * 2^(cells in the sample)."""
        if self.sample is None:
            raise RuntimeError('SharedGenerator: call set_arch(sample) first')
        return self._run(z, c, {name: (cell,) for name, cell in self._cell_ops.items()})

    def child_state_dict(self):
        """The current child's weights under the names of the derived Generator (with g_channels and skip_out of
        this net); a sample of fewer than all cells gives those cells only."""
        if self.sample is None:
            raise RuntimeError('SharedGenerator: call set_arch(sample) first')
        state = {name: value for name, value in self.state_dict().items() if not name.startswith('cells.')}
        for cell_name, choices in self._cell_ops.items():
            for name, value in self.cells[cell_name].child_state_dict(choices).items():
                state[f'cells.{cell_name}.{name}'] = value
        return state

    def arch_parameters(self):
        return [] # the architecture lives in the controller

    def weight_parameters(self):
        return list(self.parameters())

    def space_size(self):
        return primitives.autogan_space_size(len(primitives.AUTOGAN_CELLS))

#----------------------------------------------------------------------------
# Derived AutoGAN generator built from a genotype (train.py --genotype). The published CIFAR-10 net
# (nas/genotypes/autogan_cifar10.json, C = 256) has 4,405,251 parameters (authors' code: about 4.41 M).

@persistence.persistent_class
class Generator(cell_generator.CellGenerator):
    def __init__(self,
        genotype,                   # Genotype.to_dict(), backbone 'autogan'.
        z_dim           = 128,      # Input latent (Z) dimensionality.
        c_dim           = 0,        # Conditioning label dimensionality, 0 = unconditional (see CellGenerator).
        img_resolution  = 32,       # Output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 256,      # Channels of every feature map (published net: 256).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8.
        skip_out        = 'with_skips', # See Cell.
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        g = self._set_genotype(genotype, 'autogan')
        cells = {name: Cell(i, g_channels, g.ops[name], skip_out) for i, name in enumerate(primitives.AUTOGAN_CELLS)}
        self._build(z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init, cells)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images in [-1, 1] of labels c; the StyleGAN2 sampling arguments are accepted and ignored."""
        return self._run(z, c, {name: (cell,) for name, cell in self.genotype['ops'].items()})

#----------------------------------------------------------------------------
