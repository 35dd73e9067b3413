"""nas/space/autogan_space.py: samples <-> genotypes, the published net against a reference written here, the shared
generator's parameter count and pre/post weight partition, its children equal derived nets, backward for every cell
choice, pickles."""

import io
import itertools
import json
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dnnlib.util import UserError
from nas.genotype import Genotype
from nas.space import autogan_space as A
from nas.space import primitives
from torch_utils import persistence

GENOTYPE_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'nas', 'genotypes',
                             'autogan_cifar10.json')
PUBLISHED = [(1, 0, 1, 1), (1, 0, 0, 1, 1), (1, 0, 1, 0, 3)] # authors' vector 1 0 1 1 | 1 0 0 1 1 | 1 0 1 0 3

def count(module):
    return sum(p.numel() for p in module.parameters())

def randomize(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module

def all_cell_tokens(index):
    return list(itertools.product(*[range(n) for n in primitives.autogan_token_sizes(index)]))

#----------------------------------------------------------------------------
# Samples and genotypes.

def test_space_size_counts_distinct_architectures():
    assert primitives.autogan_space_size() == 36 * 72 * 144 == 373248
    assert primitives.space_size('autogan') == 373248
    for s in range(3):
        cells = {json.dumps(A.decode_cell(t, s), sort_keys=True) for t in all_cell_tokens(s)}
        assert len(cells) == 36 * 2 ** s

def test_encode_decode_round_trip_every_cell_choice():
    for s in range(3):
        for tokens in all_cell_tokens(s):
            assert A.encode_cell(A.decode_cell(tokens, s), s) == tokens

def test_skip_bits_most_significant_is_earliest_cell():
    assert A.decode_cell((0, 0, 0, 0, 2), 2)['skip'] == {'cell1': True, 'cell2': False}
    assert A.decode_cell((0, 0, 0, 0, 1), 2)['skip'] == {'cell1': False, 'cell2': True}
    with pytest.raises(ValueError):
        A.decode_cell((0, 0, 0, 0, 4), 2)

def test_published_genotype_file_matches_the_paper():
    g = Genotype.from_json(GENOTYPE_PATH, backbone='autogan')
    assert A.genotype_to_sample(g) == PUBLISHED
    assert g.ops['cell1'] == dict(conv='pre', norm='none', up='nearest', shortcut=True, skip={})
    assert g.ops['cell2'] == dict(conv='pre', norm='none', up='bilinear', shortcut=True, skip={'cell1': True})
    assert g.ops['cell3'] == dict(conv='pre', norm='none', up='nearest', shortcut=False,
                                  skip={'cell1': True, 'cell2': True})

def test_genotype_json_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(5):
        sample = A.random_sample(rng)
        g = A.sample_to_genotype(sample, resolution=48, g_channels=64, method='autogan', iteration=i)
        g.to_json(tmp_path / 'g.json')
        g2 = Genotype.from_json(tmp_path / 'g.json')
        assert g2 == g and A.genotype_to_sample(g2) == sample

@pytest.mark.parametrize('path,value,needle', [
    ('norm', 'layer', "ops.cell2.norm: unknown choice"),
    ('shortcut', 1, "ops.cell2.shortcut: unknown choice"),
    ('skip', {}, "ops.cell2.skip: missing field 'cell1'"),
    ('skip', {'cell1': 'yes'}, 'ops.cell2.skip.cell1: expected true or false'),
])
def test_validation_names_the_field(path, value, needle):
    d = A.sample_to_genotype(PUBLISHED).to_dict()
    d['ops']['cell2'][path] = value
    with pytest.raises(UserError, match=needle.replace('.', r'\.')):
        Genotype.from_dict(d, source='g.json')

def test_generator_rejects_other_backbones():
    d = A.sample_to_genotype(PUBLISHED).to_dict()
    d['backbone'] = 'conventional'
    with pytest.raises(UserError):
        A.Generator(d)

#----------------------------------------------------------------------------
# Published network: parameter count by formula and the forward pass against a reference written here.

def test_published_parameter_count_by_formula():
    C, bw, conv3, conv1 = 256, 4, 256 * 256 * 9 + 256, 256 * 256 + 256
    stem = 128 * bw * bw * C + bw * bw * C + 2 * C + C * 9 * 3 + 3 # linear, to_rgb BN + conv
    cells = 3 * 2 * conv3 + 2 * conv1 + 3 * conv1  # c1, c2 per cell; shortcuts of cells 1, 2; skips 1->2, 1->3, 2->3
    with torch.device('meta'):
        G = A.Generator(Genotype.from_json(GENOTYPE_PATH).to_dict())
    assert count(G) == stem + cells == 4405251 # authors' code: about 4.41 M

def test_published_forward_matches_reference():
    G = randomize(A.Generator(A.sample_to_genotype(PUBLISHED).to_dict(), g_channels=4)).eval()
    z = torch.randn([3, 128], generator=torch.Generator().manual_seed(0))
    cv = lambda conv, x: F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)
    up = lambda x, mode, k=2: F.interpolate(x, scale_factor=k, mode=mode,
                                            **({'align_corners': False} if mode == 'bilinear' else {}))
    c1, c2, c3 = G.cells['cell1'], G.cells['cell2'], G.cells['cell3']
    x = F.linear(z, G.l1.weight, G.l1.bias).reshape(3, 4, 4, 4)
    s1 = cv(c1.c1, up(F.relu(x), 'nearest'))
    o1 = cv(c1.c2, F.relu(s1)) + cv(c1.c_sc, up(x, 'nearest'))
    s2 = cv(c2.c1, up(F.relu(o1), 'bilinear')) + cv(c2.c_skip['cell1'], up(s1, 'bilinear'))
    o2 = cv(c2.c2, F.relu(s2)) + cv(c2.c_sc, up(o1, 'bilinear'))
    h3 = cv(c3.c1, up(F.relu(o2), 'nearest')) + cv(c3.c_skip['cell1'], up(s1, 'nearest', 4)) \
        + cv(c3.c_skip['cell2'], up(s2, 'nearest'))
    o3 = cv(c3.c2, F.relu(h3))
    bn, conv = G.to_rgb[0], G.to_rgb[2]
    h = (o3 - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    ref = torch.tanh(cv(conv, F.relu(h * bn.weight[:, None, None] + bn.bias[:, None, None])))
    img = G(z, None)
    assert img.shape == (3, 3, 32, 32)
    torch.testing.assert_close(img, ref, atol=1e-5, rtol=1e-5)

#----------------------------------------------------------------------------
# SN-GAN's CIFAR-10 generator (Miyato et al. 2018, Appendix B, Table 4 (a): dense 4x4x256, three ResBlock up 256,
# BN-ReLU-conv3x3-tanh) as the AutoGAN-space genotype nas/genotypes/sngan_baseline.json: its parameter count by the
# formula and its forward pass against SN-GAN's block written out here.

SNGAN_PATH = os.path.join(os.path.dirname(GENOTYPE_PATH), 'sngan_baseline.json')

def test_sngan_parameter_count_by_formula():
    C, bw, z_dim = 256, 4, 128
    dense = z_dim * bw * bw * C + bw * bw * C
    block = 2 * (2 * C) + 2 * (C * C * 9 + C) + (C * C + C) # BN, BN, conv3x3, conv3x3, 1x1 shortcut
    to_rgb = 2 * C + C * 3 * 9 + 3
    with torch.device('meta'):
        G = A.Generator(Genotype.from_json(SNGAN_PATH).to_dict())
    assert count(G) == dense + 3 * block + to_rgb == 4276739

def sngan_reference(G, z):
    """SN-GAN's G in eval mode: per block BN-ReLU-up-conv3x3, BN-ReLU-conv3x3, plus conv1x1(up(x))."""
    cv = lambda conv, x: F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)
    bn = lambda norm, x: F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)
    up = lambda x: F.interpolate(x, scale_factor=2, mode='nearest')
    x = F.linear(z, G.l1.weight, G.l1.bias).reshape(z.shape[0], G.g_channels, 4, 4)
    for cell in G.cells.values():
        h = cv(cell.c1, up(F.relu(bn(cell.n1['batch'], x))))
        x = cv(cell.c2, F.relu(bn(cell.n2['batch'], h))) + cv(cell.c_sc, up(x))
    return torch.tanh(cv(G.to_rgb[2], F.relu(bn(G.to_rgb[0], x))))

def test_sngan_forward_matches_reference():
    G = randomize(A.Generator(Genotype.from_json(SNGAN_PATH).to_dict(), g_channels=4))
    for module in G.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2)
    G.eval()
    assert all(len(cell.c_skip) == 0 for cell in G.cells.values())
    z = torch.randn([3, 128], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(G(z, None), sngan_reference(G, z), atol=1e-5, rtol=1e-5)

def test_skip_out_before_skips_changes_cell3_only_through_cell2_skip_out():
    torch.manual_seed(0)
    d = A.sample_to_genotype(PUBLISHED).to_dict()
    G1 = randomize(A.Generator(d, g_channels=4)).eval()
    G2 = randomize(A.Generator(d, g_channels=4, skip_out='before_skips')).eval()
    z = torch.randn([2, 128])
    assert not torch.allclose(G1(z), G2(z))
    d['ops']['cell3']['skip']['cell2'] = False # cell2's skip-out is the only one that holds skip-ins
    G1 = randomize(A.Generator(d, g_channels=4)).eval()
    G2 = randomize(A.Generator(d, g_channels=4, skip_out='before_skips')).eval()
    torch.testing.assert_close(G1(z), G2(z))

@pytest.mark.parametrize('resolution', [32, 48])
def test_derived_generator_interface(resolution):
    G = A.Generator(A.sample_to_genotype(PUBLISHED).to_dict(), g_channels=8, img_resolution=resolution)
    assert (G.z_dim, G.c_dim, G.img_resolution, G.img_channels) == (128, 0, resolution, 3)
    img = G(torch.randn([2, 128]), torch.zeros([2, 0]), truncation_psi=1, noise_mode='const')
    assert img.shape == (2, 3, resolution, resolution) and img.abs().max() <= 1

#----------------------------------------------------------------------------
# Shared generator: weight sharing as in the authors' search code, and each child computes what the derived net
# computes with the same weights.

def test_shared_parameter_count_by_formula():
    C, bw = 128, 4
    conv3, conv1, deconv, bn = C * C * 9 + C, C * C + C, C * C * 4 + C, 2 * C
    stem = 128 * bw * bw * C + bw * bw * C + bn + C * 9 * 3 + 3 # linear, to_rgb BN + conv
    assert stem == 264192 + 3715
    cell = 4 * conv3 + 4 * bn + 2 * deconv + deconv + conv1 # pre/post x conv1/conv2, their BNs, conv1 deconvs, shortcut
    skips = 3 * conv1 + (1 + 1 + 2) * deconv # 1x1 per source; x2 stacks in cells 2, 3 and the x4 stack in cell 3
    with torch.device('meta'):
        S = A.SharedGenerator(g_channels=C)
    assert count(S) == stem + 3 * cell + skips == 2994691
    authors_cell = 4 * conv3 + 4 * bn + 8 * deconv + conv1 # also conv2 deconvs and x2/x4 stacks in every cell
    assert authors_cell == 1133184 and conv1 == 16512
    assert stem + 3 * authors_cell + 3 * conv1 == 3716995 == count(S) + (6 + 5) * deconv

def _child(conv, rng):
    """A random full sample whose cells all use the given conv type."""
    flag = primitives.AUTOGAN_TOKENS[0][1].index(conv)
    return [(flag,) + tokens[1:] for tokens in A.random_sample(rng)]

@pytest.mark.parametrize('conv', ['pre', 'post'])
def test_pre_and_post_children_use_disjoint_convs(conv):
    other = 'post' if conv == 'pre' else 'pre'
    S = A.SharedGenerator(g_channels=4).train()
    rng = np.random.default_rng(3)
    z = torch.randn([2, 128], generator=torch.Generator().manual_seed(0))
    for _ in range(4):
        S.zero_grad(set_to_none=True)
        S.set_arch(_child(conv, rng))
        S(z).square().sum().backward()
        for cell in S.cells.values():
            for p in cell.blocks[other].parameters():
                assert p.grad is None or not p.grad.any()
            for name in ('c1', 'c2'):
                grad = getattr(cell.blocks[conv], name).weight.grad
                assert grad is not None and grad.abs().sum() > 0

def test_shared_children_equal_derived_nets():
    S = randomize(A.SharedGenerator(g_channels=4)).eval()
    rng = np.random.default_rng(0)
    z = torch.randn([2, 128], generator=torch.Generator().manual_seed(1))
    convs = set()
    for _ in range(12):
        sample = A.random_sample(rng)
        convs.update(A.decode_cell(tokens, i)['conv'] for i, tokens in enumerate(sample))
        G = A.Generator(A.sample_to_genotype(sample).to_dict(), g_channels=4).eval()
        S.set_arch(sample)
        G.load_state_dict(S.child_state_dict()) # strict: exactly the derived net's names
        torch.testing.assert_close(S(z), G(z))
        S.set_arch(sample[:1])
        missing = set(G.state_dict()) - set(S.child_state_dict())
        assert missing and all(name.startswith(('cells.cell2.', 'cells.cell3.')) for name in missing)
    assert convs == {'pre', 'post'}

def test_shared_stages_grow_the_output():
    S = A.SharedGenerator(g_channels=4)
    for cells in (1, 2, 3):
        S.set_arch(PUBLISHED[:cells])
        assert S(torch.randn([2, 128])).shape == (2, 3, 4 << cells, 4 << cells)
    assert S.arch_parameters() == [] and len(S.weight_parameters()) == len(list(S.parameters()))
    assert S.space_size() == 373248

def test_backward_for_every_cell_choice():
    S = A.SharedGenerator(g_channels=2, img_resolution=16, bottom_width=2)
    z = torch.randn([2, 128])
    for s in range(3):
        for tokens in all_cell_tokens(s):
            S.zero_grad(set_to_none=True)
            S.set_arch([(1, 1, 0, 1, 1)[:len(primitives.autogan_token_sizes(i))] for i in range(s)] + [tokens])
            S(z).square().sum().backward()
            cell = S.cells[primitives.AUTOGAN_CELLS[s]]
            grad = cell.blocks[A.decode_cell(tokens, s)['conv']].c1.weight.grad
            assert grad is not None and torch.isfinite(grad).all()

#----------------------------------------------------------------------------
# Pickles: safe unpickling rebuilds from the installed classes with the genotype.

def test_generators_pickle():
    G = A.Generator(A.sample_to_genotype(PUBLISHED).to_dict(), g_channels=4).eval()
    S = A.SharedGenerator(g_channels=4).eval()
    S.set_arch(PUBLISHED)
    z = torch.randn([2, 128])
    for net in (G, S):
        net2 = persistence.load_pickle(io.BytesIO(pickle.dumps(net)))
        assert type(net2).__name__ == type(net).__name__
        torch.testing.assert_close(net2(z), net(z))
    assert persistence.load_pickle(io.BytesIO(pickle.dumps(G))).genotype == G.genotype

#----------------------------------------------------------------------------
