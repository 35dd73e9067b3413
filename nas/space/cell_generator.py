"""The skeleton shared by the cell generators of alphaGAN's conventional space (Tian et al. 2022, Fig. 2) and of
AutoGAN (Gong et al. 2019, Fig. 2), searched and derived alike."""

import torch

from nas.genotype import Genotype
from nas.space import ops
from torch_utils import misc

#----------------------------------------------------------------------------
# Linear(z -> C x bw x bw), the cells (x2 each), BN-ReLU-conv3x3-tanh to RGB. A subclass calls _build with its cells;
# its forward calls _run(z, c, {cell name: extra arguments}), which runs the named cells in order, each as
# cell(x, skip_outs, *arguments) -> (its skip-out, its output). Running fewer cells than were built (AutoGAN's growing
# search) gives bottom_width * 2^cells pixels. Conditional (c_dim > 0): a class embedding, a bias-free
# Linear(c -> z_dim), is added to z before l1, so that the label enters with the latent as in conditional GANs
# (Mirza & Osindero 2014); it works unchanged for every op of the cells, searched and derived alike, and adds
# c_dim * z_dim parameters. With one-hot labels it is an embedding table, initialised N(0, 1) on z's scale.

class CellGenerator(torch.nn.Module):
    def _set_genotype(self, genotype, backbone):
        """A derived generator's genotype dict, validated as one of `backbone`; kept as self.genotype (pickles and
        safe files rebuild the net from it). Returns the Genotype."""
        g = Genotype.from_dict(genotype, source='G genotype')
        if g.backbone != backbone:
            raise ValueError(f'G genotype: backbone: expected {backbone!r}, got {g.backbone!r}')
        self.genotype = g.to_dict()
        return g

    def _build(self,
        z_dim, c_dim, img_resolution, img_channels, g_channels, bottom_width, # As the subclass's constructor.
        init,                       # Weight init, one of nas.space.ops.INITS.
        cells,                      # {name: cell}, or a function returning it, called once l1 is built.
    ):
        bottom_width = ops.bottom_width_for(img_resolution, bottom_width)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.g_channels = g_channels
        self.bottom_width = bottom_width
        self.init = init
        self.l1 = torch.nn.Linear(z_dim, bottom_width * bottom_width * g_channels)
        self.cells = torch.nn.ModuleDict(cells() if callable(cells) else cells) # after l1: its init draws come first
        self.to_rgb = ops.to_rgb(g_channels, img_channels)
        ops.init_weights(self, init)
        self.embed = None
        if c_dim > 0: # built last: an unconditional net draws the same initial weights as before
            self.embed = torch.nn.Linear(c_dim, z_dim, bias=False)
            torch.nn.init.normal_(self.embed.weight)

    def _run(self, z, c, cell_args):
        misc.assert_shape(z, [None, self.z_dim])
        if self.c_dim > 0:
            misc.assert_shape(c, [z.shape[0], self.c_dim])
            z = z + self.embed(c.to(z.dtype))
        x = self.l1(z).reshape(-1, self.g_channels, self.bottom_width, self.bottom_width)
        x = x.contiguous(memory_format=misc.activation_memory_format(x.device)) # the cells keep the format
        skip_outs = dict()
        for name, args in cell_args.items():
            skip_outs[name], x = self.cells[name](x, skip_outs, *args)
        img = self.to_rgb(x).contiguous() # callers get the usual layout
        res = self.bottom_width << len(cell_args)
        misc.assert_shape(img, [z.shape[0], self.img_channels, res, res])
        return img

    def extra_repr(self):
        return f'z_dim={self.z_dim}, img_resolution={self.img_resolution}, g_channels={self.g_channels}'

#----------------------------------------------------------------------------
