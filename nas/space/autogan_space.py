"""The AutoGAN cell search space (Gong et al. 2019, Sec. 3.1 and Fig. 2): samples, genotypes, the shared-weight
search generator and the derived generator."""

import torch
import torch.nn.functional as F

from nas.genotype import Genotype
from nas.space import ops
from nas.space import primitives
from torch_utils import misc
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
# One AutoGAN cell holding the modules of every listed choice: all of them in the shared search generator, only
# the chosen ones in a derived net (same parameter names, so shared weights load into a child).
#   pre:  [norm] -> ReLU -> [up] -> conv3x3        post: [up] -> conv3x3 -> [norm] -> ReLU
# h = block1(x, up); h = h + sum of 1x1(up(skip-in)); skip-out = h (or block1's output: skip_out='before_skips');
# out = block2(h) [+ 1x1(up(x)) when the shortcut is on]. No in-place op, so every choice has a backward.

@persistence.persistent_class
class Cell(torch.nn.Module):
    def __init__(self,
        index,                      # 0-based cell index; earlier cells are its skip-in sources.
        channels,                   # Channels of every feature map.
        norms       = ('batch', 'instance'),        # Norm layers to hold ('none' needs none).
        ups         = ('bilinear', 'nearest', 'deconv'), # Up-sampling modes to support.
        shortcut    = True,         # Hold the shortcut's 1x1 conv?
        skips       = None,         # Skip-in sources to hold, None = every earlier cell.
        skip_out    = 'with_skips', # Skip-out taken after the skip-ins are added (authors' code) or before (figure).
    ):
        super().__init__()
        assert skip_out in SKIP_OUTS
        self.index = index
        self.skip_out = skip_out
        self.skips = tuple(primitives.AUTOGAN_CELLS[:index] if skips is None else skips)
        self.c1 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.c2 = torch.nn.Conv2d(channels, channels, 3, padding=1)
        self.n1 = torch.nn.ModuleDict({kind: _norm(kind, channels) for kind in norms if kind != 'none'})
        self.n2 = torch.nn.ModuleDict({kind: _norm(kind, channels) for kind in norms if kind != 'none'})
        has_deconv = 'deconv' in ups
        self.up1 = _deconv_stack(channels, 1) if has_deconv else None
        self.c_sc = torch.nn.Conv2d(channels, channels, 1) if shortcut else None
        self.up_sc = _deconv_stack(channels, 1) if shortcut and has_deconv else None
        self.c_skip = torch.nn.ModuleDict({src: torch.nn.Conv2d(channels, channels, 1) for src in self.skips})
        self.up_skip = torch.nn.ModuleDict({src: _deconv_stack(channels, index - primitives.AUTOGAN_CELLS.index(src))
            for src in self.skips} if has_deconv else {})

    def _block(self, x, conv, norms, cell, up):
        norm = norms[cell['norm']] if cell['norm'] != 'none' else None
        if cell['conv'] == 'pre':
            x = F.relu(norm(x) if norm is not None else x)
            return conv(upsample(x, cell['up'], deconv=self.up1) if up else x)
        x = conv(upsample(x, cell['up'], deconv=self.up1) if up else x)
        return F.relu(norm(x) if norm is not None else x)

    def forward(self, x, skip_inputs, cell):
        """x: the previous cell's output; skip_inputs: {source cell: its skip-out}; cell: the genotype's cell dict.
        Returns (skip-out, output), both at twice x's resolution."""
        h = self._block(x, self.c1, self.n1, cell, up=True)
        before = h
        for src, on in cell['skip'].items():
            if on:
                steps = self.index - primitives.AUTOGAN_CELLS.index(src)
                deconv = self.up_skip[src] if cell['up'] == 'deconv' else None
                h = h + self.c_skip[src](upsample(skip_inputs[src], cell['up'], steps, deconv=deconv))
        out = self._block(h, self.c2, self.n2, cell, up=False)
        if cell['shortcut']:
            out = out + self.c_sc(upsample(x, cell['up'], deconv=self.up_sc))
        return (h if self.skip_out == 'with_skips' else before), out

#----------------------------------------------------------------------------
# Shared body of both generators: Linear(z -> C x bw x bw), the cells, BN-ReLU-conv3x3-tanh to RGB.

class _CellGenerator(torch.nn.Module):
    def _build(self, z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init, cells):
        bottom_width = ops.bottom_width_for('AutoGAN', c_dim, img_resolution, bottom_width)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.g_channels = g_channels
        self.bottom_width = bottom_width
        self.init = init
        self.l1 = torch.nn.Linear(z_dim, bottom_width * bottom_width * g_channels)
        self.cells = torch.nn.ModuleDict(cells)
        self.to_rgb = ops.to_rgb(g_channels, img_channels)
        ops.init_weights(self, init)

    def _run(self, z, cell_ops):
        misc.assert_shape(z, [None, self.z_dim])
        x = self.l1(z).reshape(-1, self.g_channels, self.bottom_width, self.bottom_width)
        skip_outs = dict()
        for name, cell in cell_ops.items():
            skip_outs[name], x = self.cells[name](x, skip_outs, cell)
        img = self.to_rgb(x)
        res = self.bottom_width << len(cell_ops)
        misc.assert_shape(img, [z.shape[0], self.img_channels, res, res])
        return img

    def extra_repr(self):
        return f'z_dim={self.z_dim}, img_resolution={self.img_resolution}, g_channels={self.g_channels}'

#----------------------------------------------------------------------------
# Search generator with shared weights (the authors' "shared GAN", C = 128): every cell holds every choice;
# set_arch(sample) picks the child. A sample of s cells makes it a stage-s generator: its output (through the one
# shared to_rgb) is at bottom_width * 2^s pixels, the growing generator of the multi-level search.

@persistence.persistent_class
class SharedGenerator(_CellGenerator):
    def __init__(self,
        z_dim           = 128,      # Input latent (Z) dimensionality.
        c_dim           = 0,        # Conditioning label dimensionality; unconditional.
        img_resolution  = 32,       # Final output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 128,      # Channels of every feature map (authors' search: 128).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8.
        skip_out        = 'with_skips', # See Cell.
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        self._build(z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init,
                    {name: Cell(i, g_channels, skip_out=skip_out) for i, name in enumerate(primitives.AUTOGAN_CELLS)})
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
        return self._run(z, self._cell_ops)

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
class Generator(_CellGenerator):
    def __init__(self,
        genotype,                   # Genotype.to_dict(), backbone 'autogan'.
        z_dim           = 128,      # Input latent (Z) dimensionality.
        c_dim           = 0,        # Conditioning label dimensionality; unconditional.
        img_resolution  = 32,       # Output resolution, 8 * bottom_width.
        img_channels    = 3,        # Number of output color channels.
        g_channels      = 256,      # Channels of every feature map (published net: 256).
        bottom_width    = None,     # Side of the first feature map, None = img_resolution // 8.
        skip_out        = 'with_skips', # See Cell.
        init            = 'xavier_uniform', # Weight init, one of nas.space.ops.INITS.
    ):
        super().__init__()
        g = Genotype.from_dict(genotype, source='G genotype')
        if g.backbone != 'autogan':
            raise ValueError(f'G genotype: backbone: expected \'autogan\', got {g.backbone!r}')
        self.genotype = g.to_dict()
        cells = dict()
        for i, name in enumerate(primitives.AUTOGAN_CELLS):
            cell = g.ops[name]
            cells[name] = Cell(i, g_channels, norms=(cell['norm'],), ups=(cell['up'],), shortcut=cell['shortcut'],
                               skips=[src for src, on in cell['skip'].items() if on], skip_out=skip_out)
        self._build(z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, init, cells)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        """Images in [-1, 1]; c and the StyleGAN2 sampling arguments are accepted and ignored."""
        return self._run(z, self.genotype['ops'])

#----------------------------------------------------------------------------
