"""torch_utils/shift_invariance.py: the parameters a loss cannot depend on because batch normalisation removes what
they add, checked on small graphs and against float64 gradients of the search spaces' generators; a search weight
step leaves them where they are."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.backbones.conventional import ConventionalBackbone, Generator as ConventionalGenerator
from nas.search.base import g_step
from nas.space import autogan_space
from nas.space.supernet_conventional import SupernetGenerator
from training.networks_conventional import Discriminator
from torch_utils.shift_invariance import normalised_away

C = 3

#----------------------------------------------------------------------------
# Small graphs: x -> conv `a` (bias) -> middle -> norm -> ReLU -> weighted sum. Returns {name: found?}.

def found_in(middle, norm='batch', training=True, channels_last=False):
    torch.manual_seed(0)
    a = torch.nn.Conv2d(C, C, 3, padding=1)
    m = torch.nn.ModuleDict(dict(a=a, conv1=torch.nn.Conv2d(C, C, 1), conv1_padded=torch.nn.Conv2d(C, C, 1, padding=1),
                                 conv3=torch.nn.Conv2d(C, C, 3, padding=1),
                                 deconv=torch.nn.ConvTranspose2d(C, C, 2, stride=2), affine=torch.nn.BatchNorm2d(C),
                                 batch=torch.nn.BatchNorm2d(C), instance=torch.nn.InstanceNorm2d(C))).train(training)
    x = torch.randn([2, C, 4, 4])
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    h = middle(m, a(x))
    y = F.relu(m[norm](h))
    loss = (y * torch.randn(y.shape)).sum()
    found = {id(p) for p in normalised_away(loss, list(m.parameters()))}
    return {name: id(p) in found for name, p in m.named_parameters() if name.endswith('bias')}

@pytest.mark.parametrize('channels_last', [False, True])
def test_small_graphs(channels_last):
    def found(middle, **kwargs):
        return sorted(name for name, yes in found_in(middle, channels_last=channels_last, **kwargs).items() if yes)
    # Sums, scalar and per-channel factors, copies, x2 interpolation and unpadded 1x1 convs keep a shift per channel.
    assert found(lambda m, h: h) == ['a.bias']
    assert found(lambda m, h: h, norm='instance') == ['a.bias']
    assert found(lambda m, h: torch.tensor(0.5) * h + torch.ones([C, 1, 1]) * h.clone()) == ['a.bias']
    assert found(lambda m, h: F.interpolate(h, scale_factor=2, mode='bilinear')) == ['a.bias']
    assert found(lambda m, h: F.interpolate(m.conv1(h), scale_factor=2, mode='nearest')) == ['a.bias', 'conv1.bias']
    assert found(lambda m, h: m.affine(h)) == ['a.bias', 'affine.bias']
    # Padded convs, transposed convs, per-pixel factors, eval-mode BN and other uses let the shift through.
    assert found(lambda m, h: m.conv3(h)) == ['conv3.bias']
    assert found(lambda m, h: m.conv1_padded(h)) == ['conv1_padded.bias']
    assert found(lambda m, h: m.deconv(h)) == ['deconv.bias']
    assert found(lambda m, h: h * torch.linspace(0, 1, 4)) == []
    assert found(lambda m, h: h, training=False) == []
    assert found(lambda m, h: h + h.mean()) == []

#----------------------------------------------------------------------------
# The search spaces' generators in float64, where rounding noise is ~1e-16 of a gradient: the parameters found are
# exactly those whose gradient vanishes, over samples of every AutoGAN choice (norms, pre/post, up-sampling, skips).

def vanishing_and_found(G):
    G = G.double().train()
    z = torch.randn([4, G.z_dim], dtype=torch.float64)
    img = G(z)
    loss = (img * torch.randn(img.shape, dtype=torch.float64)).sum()
    params = [p for p in G.parameters() if p.requires_grad]
    found = {id(p) for p in normalised_away(loss, params)}
    used = [(p, g) for p, g in zip(params, torch.autograd.grad(loss, params, allow_unused=True)) if g is not None]
    largest = max(float(g.abs().max()) for _p, g in used) # the shared generator's other choices have no gradient
    vanishing = {id(p) for p, g in used if float(g.abs().max()) < 1e-12 * largest}
    return vanishing, found

def test_generators_against_float64_gradients():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    nets = [SupernetGenerator(z_dim=8, g_channels=4, img_resolution=16)]
    backbone = ConventionalBackbone()
    for _ in range(3):
        choices = [int(rng.integers(n)) for n in backbone.choice_sizes(resolution=16, channels=dict(g_channels=4))]
        genotype = backbone.genotype_from_choices(choices, resolution=16, channels=dict(g_channels=4))
        nets.append(ConventionalGenerator(genotype.to_dict(), z_dim=8, g_channels=4, img_resolution=16))
    shared = autogan_space.SharedGenerator(z_dim=8, g_channels=4, img_resolution=16)
    for _ in range(12):
        sample = autogan_space.random_sample(rng)
        shared.set_arch(sample)
        nets.append(autogan_space.Generator(autogan_space.sample_to_genotype(sample, 16, 4).to_dict(), z_dim=8,
                                            g_channels=4, img_resolution=16))
        nets.append(shared)
    counts = []
    for G in nets:
        vanishing, found = vanishing_and_found(G)
        assert found == vanishing
        counts.append(len(found))
    assert counts[0] == 7 and min(counts[1:4]) >= 2 # cell3's conv biases before to_rgb's BN (and a deconv's)

#----------------------------------------------------------------------------

def test_weight_step_leaves_them_in_place():
    torch.manual_seed(0)
    G = SupernetGenerator(z_dim=8, g_channels=4, img_resolution=16)
    D = Discriminator(img_resolution=16, d_channels=4)
    opt = torch.optim.Adam(G.weight_parameters(), lr=1e-2, betas=(0.0, 0.999))
    names = {id(p): name for name, p in G.named_parameters()}
    before = {name: p.detach().clone() for name, p in G.named_parameters()}
    g_step(G, D, opt, torch.randn([4, 8]), torch.zeros([4, 0]))
    moved = {name for name, p in G.named_parameters() if not torch.equal(p, before[name])}
    in_place = {names[id(p)] for p in opt.param_groups[0]['params']} - moved
    assert in_place == {f'cells.cell3.{edge}.ops.{i}.conv.bias' for edge in ['n1', 'n2'] for i in range(3)} | \
        {'cells.cell3.skip.cell2.ops.0.deconv.bias'}

#----------------------------------------------------------------------------
