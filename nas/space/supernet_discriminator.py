"""A searchable discriminator for alphaGAN's "Search D" ablation (Tian et al. 2022, Table 3): AutoGAN's spectral-norm
residual D with a mixed conv on every edge of its residual blocks, its alphas searched with G's in the duality-gap
step."""

import torch
import torch.nn.functional as F

from nas.space import mixed
from torch_utils import misc
from torch_utils import persistence
from training.networks_conventional import Discriminator
from training.networks_conventional import DisBlock
from training.networks_conventional import SNConv2d

#----------------------------------------------------------------------------
# The candidates of a searched D edge: spectral-norm convs of three kernel sizes, channels -> channels, 'same'
# padding. The paper names no D space; these are the plain convs of alphaGAN's G space, without the BN that a
# spectral-norm D does not use. Searched: both convs of blocks 2-4 (block1 reads the image, fixed as in AutoGAN's D).

D_OPS = {
    'conv_1x1': lambda channels, sn: SNConv2d(channels, channels, 1, sn=sn),
    'conv_3x3': lambda channels, sn: SNConv2d(channels, channels, 3, sn=sn),
    'conv_5x5': lambda channels, sn: SNConv2d(channels, channels, 5, sn=sn),
}
D_CANDIDATES = tuple(D_OPS)
SEARCHED_BLOCKS = ('block2', 'block3', 'block4')
D_EDGES = tuple(f'{block}.{conv}' for block in SEARCHED_BLOCKS for conv in ('c1', 'c2'))

#----------------------------------------------------------------------------
# DisBlock whose two convs are mixed ops: the same residual wiring, with each edge's op weights given at forward.

@persistence.persistent_class
class SearchDisBlock(DisBlock):
    def __init__(self, channels, downsample=False, sn=True):
        super().__init__(channels, downsample=downsample, sn=sn)
        self.c1 = mixed.MixedOp(D_CANDIDATES, 'nas.space.supernet_discriminator.D_OPS', channels, sn)
        self.c2 = mixed.MixedOp(D_CANDIDATES, 'nas.space.supernet_discriminator.D_OPS', channels, sn)

    def forward(self, x, w1, w2):
        h = self.c2(F.relu(self.c1(F.relu(x), w1)), w2)
        if self.downsample:
            return F.avg_pool2d(h, 2) + F.avg_pool2d(self.c_sc(x), 2)
        return h + x

#----------------------------------------------------------------------------
# Supernet D: alphas [6 edges, 3 ops], softmax-relaxed (alphaGAN Eq. 8), apart from the weights.

@persistence.persistent_class
class SupernetDiscriminator(Discriminator):
    def __init__(self, c_dim=0, img_resolution=32, img_channels=3, d_channels=128, sn=True):
        super().__init__(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels, d_channels=d_channels,
                         sn=sn)
        self.block2 = SearchDisBlock(d_channels, downsample=True, sn=sn)
        self.block3 = SearchDisBlock(d_channels, sn=sn)
        self.block4 = SearchDisBlock(d_channels, sn=sn)
        self.alphas = torch.nn.Parameter(1e-3 * torch.randn(len(D_EDGES), len(D_CANDIDATES)))

    def arch_parameters(self):
        return [self.alphas]

    def weight_parameters(self):
        return [p for name, p in self.named_parameters() if name != 'alphas']

    def edge_weights(self):
        """Op weights [edges, ops] for one forward pass."""
        return self.alphas.softmax(dim=-1)

    def derive_ops(self):
        """{'block2.c1': op, ...}: the argmax op of every searched edge."""
        return {edge: D_CANDIDATES[i] for edge, i in zip(D_EDGES, self.alphas.detach().argmax(dim=-1).tolist())}

    def forward(self, img, c=None, **kwargs):
        """Logits [N, 1]."""
        misc.assert_shape(img, [None, self.img_channels, self.img_resolution, self.img_resolution])
        weights = self.edge_weights().to(img.dtype).unbind(0)
        h = self.block1(img)
        for i, name in enumerate(SEARCHED_BLOCKS):
            h = getattr(self, name)(h, weights[2 * i], weights[2 * i + 1])
        return self.head(h, c)

#----------------------------------------------------------------------------
