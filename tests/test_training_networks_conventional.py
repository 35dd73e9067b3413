"""The conventional backbone's G (nas/backbones/conventional.py) and D (training/networks_conventional.py): paper
parameter counts, wiring and D against references written here, pickles."""

import copy
import io
import json
import os
import pickle

import pytest
import torch
import torch.nn.functional as F

from dnnlib.util import UserError
from torch_utils import persistence
from nas.backbones.conventional import Generator
from training.networks_conventional import Discriminator, SNConv2d

GENOTYPE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'nas', 'genotypes')

def load(name):
    with open(os.path.join(GENOTYPE_DIR, f'{name}.json')) as f:
        return json.load(f)

def count(module):
    return sum(p.numel() for p in module.parameters())

def randomize(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return module

#----------------------------------------------------------------------------
# Parameter counts of G alone (what the paper's Params column counts; D is the same for every row).

@pytest.mark.parametrize('name,resolution,millions', [
    ('alphagan_l_cifar10', 32, 8.618), ('alphagan_l_cifar10', 48, 9.279), # Table 2, CIFAR-10 / STL-10
    ('alphagan_s_cifar10', 32, 2.953), ('alphagan_s_cifar10', 48, 3.613),
])
def test_table2_parameter_counts(name, resolution, millions):
    with torch.device('meta'):
        G = Generator(load(name), img_resolution=resolution, g_channels=256)
    assert round(count(G) / 1e6, 3) == millions

@pytest.mark.parametrize('channels,millions', [(128, 0.887), (64, 0.296), (32, 0.111)]) # Table 4, searched at G_256
def test_table4_rescaled_parameter_counts(channels, millions):
    with torch.device('meta'):
        G = Generator(load('alphagan_s_cifar10'), g_channels=channels)
    assert round(count(G) / 1e6, 3) == millions

#----------------------------------------------------------------------------
# Generator behaviour.

@pytest.mark.parametrize('resolution', [32, 48])
def test_generator_interface(resolution):
    torch.manual_seed(0)
    G = Generator(load('alphagan_s_cifar10'), z_dim=16, img_resolution=resolution, g_channels=8)
    attrs = (G.z_dim, G.c_dim, G.img_resolution, G.img_channels, G.bottom_width)
    assert attrs == (16, 0, resolution, 3, resolution // 8)
    img = G(torch.randn(3, 16), torch.zeros(3, 0), truncation_psi=0.7, noise_mode='random')
    assert img.shape == (3, 3, resolution, resolution)
    assert img.abs().max() <= 1

def reference_forward(G, z):
    """Paper Fig. 2 wired by hand from G's own modules."""
    c1, c2, c3 = G.cells['cell1'], G.cells['cell2'], G.cells['cell3']
    x = G.l1(z).view(z.shape[0], G.g_channels, G.bottom_width, G.bottom_width)
    s1 = c1.up0(x)
    h1 = c1.n1(c1.n0(s1)) + c1.n2(c1.up1(x))
    s2 = c2.up0(h1)
    h2 = c2.n1(c2.n0(s2)) + c2.n2(c2.up1(h1)) + c2.skip['cell1'](s1)
    s3 = c3.up0(h2)
    h3 = c3.n1(c3.n0(s3)) + c3.n2(c3.up1(h2)) + c3.skip['cell1'](s1) + c3.skip['cell2'](s2)
    bn, conv = G.to_rgb[0], G.to_rgb[2]
    return torch.tanh(conv(F.relu(bn(h3))))

@pytest.mark.parametrize('name', ['alphagan_s_cifar10', 'alphagan_l_cifar10'])
def test_generator_matches_hand_wired_reference(name):
    torch.manual_seed(0)
    G = randomize(Generator(load(name), z_dim=16, g_channels=8)).eval()
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(G(z), reference_forward(G, z), atol=1e-6)

def test_generator_ops_follow_genotype():
    G = Generator(load('alphagan_l_cifar10'), z_dim=16, g_channels=8)
    assert type(G.cells['cell1'].n2).__name__ == 'SepConv' and G.cells['cell1'].n2.bn1.affine
    assert type(G.cells['cell3'].skip['cell1']).__name__ == 'Interpolate' and G.cells['cell3'].skip['cell1'].repeat == 2
    assert G.cells['cell3'].skip['cell1'].mode == 'bilinear'
    assert len(G.cells['cell1'].skip) == 0

def test_generator_rejects_bad_arguments():
    g = load('alphagan_s_cifar10')
    with pytest.raises(ValueError, match='img_resolution 32 is not 8 \\* bottom_width 6'):
        Generator(g, img_resolution=32, bottom_width=6)
    g['ops']['cell1']['n0'] = 'conv_2x2'
    with pytest.raises(UserError, match="^G genotype: ops.cell1.n0: unknown op 'conv_2x2'"):
        Generator(g)

def test_generator_pickles_with_its_genotype():
    torch.manual_seed(0)
    g = load('alphagan_s_cifar10')
    G = randomize(Generator(genotype=g, z_dim=16, g_channels=8)).eval()
    G2 = persistence.load_pickle(io.BytesIO(pickle.dumps(G))) # safe mode: rebuilt from installed classes
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(G2(z), G(z))
    assert G2.init_kwargs.genotype == g
    assert G2.genotype['ops'] == g['ops']

#----------------------------------------------------------------------------
# Discriminator.

def d_params(C, img_channels=3):
    conv3 = lambda i, o: i * o * 9 + o
    conv1 = lambda i, o: i * o + o
    block1 = conv3(img_channels, C) + conv3(C, C) + conv1(img_channels, C)
    return block1 + 3 * 2 * conv3(C, C) + conv1(C, C) + C # block2 has the 1x1 shortcut; l5 has no bias

def test_discriminator_parameter_count():
    assert count(Discriminator()) == d_params(128) == 1053824
    assert count(Discriminator(d_channels=16, img_channels=1)) == d_params(16, 1)

def d_reference(D, x):
    """SN-GAN/AutoGAN D with plain convs (sn=False), from D's own weights."""
    conv = lambda m, h: F.conv2d(h, m.weight, m.bias, padding=m.padding)
    b = D.block1
    h = F.avg_pool2d(conv(b.c2, F.relu(conv(b.c1, x))), 2) + conv(b.c_sc, F.avg_pool2d(x, 2))
    b = D.block2
    h = F.avg_pool2d(conv(b.c2, F.relu(conv(b.c1, F.relu(h)))), 2) + F.avg_pool2d(conv(b.c_sc, h), 2)
    for b in [D.block3, D.block4]:
        h = conv(b.c2, F.relu(conv(b.c1, F.relu(h)))) + h
    return F.relu(h).sum(dim=[2, 3]) @ D.l5.weight.t()

@pytest.mark.parametrize('resolution', [32, 48])
def test_discriminator_matches_reference(resolution):
    torch.manual_seed(0)
    D = randomize(Discriminator(img_resolution=resolution, d_channels=8, sn=False))
    x = torch.randn(2, 3, resolution, resolution)
    out = D(x, None)
    assert out.shape == (2, 1)
    assert torch.allclose(out, d_reference(D, x), atol=1e-4)

def test_discriminator_spectral_norm_everywhere():
    torch.manual_seed(0)
    D = Discriminator(d_channels=8)
    layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 11 and all(m.sn for m in layers)
    x = torch.randn(4, 3, 32, 32)
    for _ in range(100): # each training-mode forward runs one power iteration
        D(x)
    for m in layers:
        w = m.sn_weight().detach()
        assert torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item() == pytest.approx(1, abs=2e-2)

@pytest.mark.parametrize('train', [True, False])
def test_spectral_norm_matches_torch(train):
    torch.manual_seed(0)
    layer = SNConv2d(8, 6, 3).train(train)
    ref = torch.nn.utils.spectral_norm(torch.nn.Conv2d(8, 6, 3, padding=1)).train(train)
    with torch.no_grad():
        ref.weight_orig.copy_(layer.weight)
        ref.bias.copy_(layer.bias)
        ref.weight_u.copy_(layer.sn_u)
        ref.weight_v.copy_(layer.sn_v)
    x = torch.randn(2, 8, 5, 5)
    for _ in range(3):
        assert torch.allclose(layer(x), ref(x), atol=1e-5)

def test_discriminator_backward_after_two_calls():
    D = Discriminator(d_channels=8)
    loss = F.relu(1 - D(torch.randn(2, 3, 32, 32))).mean() + F.relu(1 + D(torch.randn(2, 3, 32, 32))).mean()
    loss.backward() # the in-place power iteration of the second call must not break the first graph
    assert all(p.grad is not None for p in D.parameters())

def test_discriminator_copies_and_pickles():
    torch.manual_seed(0)
    D = Discriminator(d_channels=8).eval()
    x = torch.randn(2, 3, 32, 32)
    for D2 in [copy.deepcopy(D), persistence.load_pickle(io.BytesIO(pickle.dumps(D)))]:
        with torch.no_grad():
            assert torch.equal(D2(x), D(x))

#----------------------------------------------------------------------------
