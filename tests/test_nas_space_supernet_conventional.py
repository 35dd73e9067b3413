"""nas/space/supernet_conventional.py: alpha layout and split, derivation, one-hot equality with the derived network."""

import os
import pickle

import pytest
import torch

from nas.genotype import Genotype
from nas.space import primitives
from nas.space.supernet_conventional import SupernetGenerator
from nas.backbones.conventional import Generator

C = 8
Z = 16
GENOTYPE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'nas', 'genotypes')

def expected_op_params(name, channels, affine):
    """conv k x k + bias; DARTS sep conv 2 * (C*k*k + C*C) + affine BN 4*C; deconv C*C*4 + C; interpolation 0."""
    k = int(name[-1]) if name[-1].isdigit() else None
    if name.startswith('conv_'):
        return channels * channels * k * k + channels
    if name.startswith('sep_conv_'):
        return 2 * (channels * k * k + channels * channels) + (4 * channels if affine else 0)
    return {'deconv': channels * channels * 4 + channels, 'nearest': 0, 'bilinear': 0}[name]

def make_supernet(seed=0, **kwargs):
    torch.manual_seed(seed)
    return SupernetGenerator(z_dim=Z, g_channels=C, **kwargs)

#----------------------------------------------------------------------------

def test_alpha_shapes_and_init():
    net = make_supernet()
    shapes = {name: tuple(a.shape) for name, a in net.alphas.items()}
    assert shapes == {'normal_1': (3, 6), 'normal_2': (3, 6), 'normal_3': (3, 6), 'up_1': (2, 3), 'up_2': (2, 3),
                      'up_3': (2, 3), 'skip_2': (1, 3), 'skip_3': (2, 3)}
    for a in net.arch_parameters():
        assert 0 < a.abs().max() < 1e-2 # 1e-3 * randn

def test_arch_and_weight_parameters_split():
    net = make_supernet()
    arch = {id(p) for p in net.arch_parameters()}
    weights = {id(p) for p in net.weight_parameters()}
    assert not arch & weights
    assert arch | weights == {id(p) for p in net.parameters()}
    assert len(arch) == 8

def test_supernet_weight_count():
    # Every candidate of every edge holds its own weights (BN affine=False); x4 skips share the x2 weights.
    net = make_supernet(img_resolution=48)
    normal = sum(expected_op_params(n, C, affine=False) for n in primitives.CONVENTIONAL_NORMAL_OPS)
    up = sum(expected_op_params(n, C, affine=False) for n in primitives.CONVENTIONAL_UP_OPS)
    stem = Z * 36 * C + 36 * C + 2 * C + (C * 9 * 3 + 3)
    cells = 3 * (3 * normal + 2 * up) + 3 * up
    assert sum(p.numel() for p in net.weight_parameters()) == stem + cells

@pytest.mark.parametrize('up_ops,width', [('default', 3), ('no_deconv', 2), ('learnable_interp', 3)])
def test_ablation_op_sets(up_ops, width):
    net = make_supernet(up_ops=up_ops)
    assert net.alphas['up_1'].shape == (2, width) and net.alphas['skip_3'].shape == (2, width)
    assert net.candidates['up'] == primitives.CONVENTIONAL_UP_OP_SETS[up_ops]
    assert net.space_size() == primitives.space_size('conventional', up_ops=up_ops)
    assert net.cells['cell3'].skip['cell1'].candidates == net.candidates['up']
    assert net(torch.randn(2, Z)).shape == (2, 3, 32, 32)

def test_forward_interface():
    net = make_supernet(img_resolution=48)
    img = net(torch.randn(3, Z), None, truncation_psi=0.5, noise_mode='random')
    assert img.shape == (3, 3, 48, 48)
    assert img.abs().max() <= 1
    assert (net.z_dim, net.c_dim, net.img_resolution, net.img_channels) == (Z, 0, 48, 3)

def test_gradients_reach_alphas_and_weights():
    net = make_supernet()
    net(torch.randn(2, Z)).square().mean().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.arch_parameters())
    assert all(p.grad is not None for p in net.weight_parameters())

#----------------------------------------------------------------------------
# Derivation.

def test_derive_picks_argmax_per_edge():
    net = make_supernet()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.copy_(torch.randn_like(a))
    g = net.derive(method='alphagan', seed=5, iteration=7)
    normal, up = primitives.CONVENTIONAL_NORMAL_OPS, primitives.CONVENTIONAL_UP_OPS
    for i, cell in enumerate(['cell1', 'cell2', 'cell3'], start=1):
        for row, edge in enumerate(['n0', 'n1', 'n2']):
            assert g.ops[cell][edge] == normal[int(net.alphas[f'normal_{i}'][row].argmax())]
        for row, edge in enumerate(['up0', 'up1']):
            assert g.ops[cell][edge] == up[int(net.alphas[f'up_{i}'][row].argmax())]
    assert g.ops['cell2']['skip']['cell1'] == up[int(net.alphas['skip_2'][0].argmax())]
    assert g.ops['cell3']['skip']['cell1'] == up[int(net.alphas['skip_3'][0].argmax())]
    assert g.ops['cell3']['skip']['cell2'] == up[int(net.alphas['skip_3'][1].argmax())]
    assert (g.backbone, g.mode, g.resolution, g.channels) == ('conventional', 'cell', 32, {'g_channels': C})
    assert (g.provenance['method'], g.provenance['seed'], g.provenance['iteration']) == ('alphagan', 5, 7)
    assert g.provenance['alphas']['skip_3'] == net.alphas['skip_3'].tolist()
    assert Genotype.from_dict(g.to_dict()) == g

def test_derive_with_learnable_interpolation_validates(tmp_path):
    net = make_supernet(up_ops='learnable_interp')
    with torch.no_grad():
        net.alphas['up_1'][0] = torch.tensor([0.0, 5.0, 0.0])
    g = net.derive()
    assert g.ops['cell1']['up0'] == 'nearest_conv_1x1'
    g.to_json(tmp_path / 'g.json')
    assert Genotype.from_json(tmp_path / 'g.json') == g

def test_genotype_probs():
    net = make_supernet()
    probs = net.genotype_probs()
    assert len(probs) == 18
    assert list(probs['cell3.skip.cell2']) == list(primitives.CONVENTIONAL_UP_OPS)
    assert list(probs['cell1.n2']) == list(primitives.CONVENTIONAL_NORMAL_OPS)
    ref = net.alphas['normal_1'][2].detach().softmax(0).tolist()
    assert list(probs['cell1.n2'].values()) == pytest.approx(ref)
    for p in probs.values():
        assert sum(p.values()) == pytest.approx(1)

#----------------------------------------------------------------------------
# With one-hot op weights the supernet is the derived network (same weights copied in).

def set_one_hot(net, genotype):
    with torch.no_grad():
        for name, rows in net.layout.items():
            for r, (cell, edge, kind) in enumerate(rows):
                op = genotype.ops[cell]['skip'][edge[5:]] if edge.startswith('skip.') else genotype.ops[cell][edge]
                net.alphas[name][r] = -1e4
                net.alphas[name][r, net.candidates[kind].index(op)] = 1e4 # softmax gives exactly 1 and 0

def copy_into_derived(net, derived, genotype):
    src = dict(net.state_dict())
    for name, tensor in derived.state_dict().items():
        parts = name.split('.')
        if parts[0] == 'cells':
            cell = parts[1]
            if parts[2] == 'skip':
                edge, rest, op = f'skip.{parts[3]}', parts[4:], genotype.ops[cell]['skip'][parts[3]]
                prefix = f'cells.{cell}.skip.{parts[3]}'
            else:
                edge, rest, op = parts[2], parts[3:], genotype.ops[cell][parts[2]]
                prefix = f'cells.{cell}.{edge}'
            kind = 'normal' if edge.startswith('n') else 'up'
            index = net.candidates[kind].index(op)
            key = f'{prefix}.ops.{index}.' + '.'.join(rest)
        else:
            key = name
        if key in src:
            tensor.copy_(src[key])
        else: # affine BN of a derived sep conv vs. affine=False in the supernet: the identity transform
            assert name.endswith(('bn1.weight', 'bn1.bias', 'bn2.weight', 'bn2.bias')), name
            tensor.fill_(1.0 if name.endswith('weight') else 0.0)

@pytest.mark.parametrize('name', ['alphagan_s_cifar10', 'alphagan_l_cifar10'])
@pytest.mark.parametrize('train', [False, True])
def test_one_hot_supernet_equals_derived(name, train):
    genotype = Genotype.from_json(os.path.join(GENOTYPE_DIR, f'{name}.json'))
    net = make_supernet()
    torch.manual_seed(1)
    derived = Generator(genotype.to_dict(), z_dim=Z, g_channels=C)
    set_one_hot(net, genotype)
    with torch.no_grad():
        copy_into_derived(net, derived, genotype)
    net.train(train)
    derived.train(train)
    z = torch.randn(4, Z)
    with torch.no_grad():
        assert torch.allclose(net(z), derived(z), atol=1e-6, rtol=0)
    assert net.derive().ops == genotype.ops

#----------------------------------------------------------------------------

def test_gumbel_forward_uses_one_hot_weights():
    net = make_supernet(gumbel=True, gumbel_tau=1.0)
    for w in net.edge_weights().values():
        assert torch.all((w == 0) | (w == 1)) and w.sum() == 1
    net(torch.randn(2, Z)).square().mean().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.arch_parameters())

def test_gumbel_options_are_attributes():
    net = make_supernet()
    w = net.edge_weights()
    assert not torch.all((w[('cell1', 'n0')] == 0) | (w[('cell1', 'n0')] == 1))
    net.gumbel = True
    w = net.edge_weights()
    assert torch.all((w[('cell1', 'n0')] == 0) | (w[('cell1', 'n0')] == 1))

def test_pickle_round_trip():
    net = make_supernet(up_ops='no_deconv').eval()
    copy = pickle.loads(pickle.dumps(net))
    z = torch.randn(2, Z)
    with torch.no_grad():
        assert torch.equal(copy(z), net(z))
    assert copy.init_kwargs.up_ops == 'no_deconv'

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
# On CPU the supernet's cells and the conventional D run channels-last (torch_utils.misc.activation_memory_format):
# every conv sees and gives channels-last tensors, with the contiguous layout's image, logits and gradients to float
# tolerance. The tolerance of a gradient is scaled by the largest gradient: the biases of convs right before the
# training-mode BatchNorm of to_rgb have a gradient that is zero but for rounding.

def _conv_layouts(nets):
    seen = []
    for net in nets:
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                m.register_forward_hook(lambda _m, inputs, y: seen.append(all(
                    t.is_contiguous(memory_format=torch.channels_last) for t in [inputs[0], y])))
    return seen

def _image_logits_grads(G, D, z):
    img = G(z)
    logits = D(img)
    params = list(G.parameters()) + list(D.parameters())
    return [img, logits, *torch.autograd.grad(logits.square().sum(), params)]

@pytest.mark.parametrize('up_ops', ['default', 'learnable_interp'])
def test_cpu_layers_run_channels_last_with_the_contiguous_numbers(monkeypatch, up_ops):
    from torch_utils import misc
    from training.networks_conventional import Discriminator
    G = make_supernet(up_ops=up_ops).eval() # eval: both passes see the same BN statistics and spectral norms
    D = Discriminator(img_resolution=32, d_channels=C).eval()
    z = torch.randn(4, Z)
    seen = _conv_layouts([G, D])
    channels_last = _image_logits_grads(G, D, z)
    assert len(seen) > 50 and all(seen)
    assert channels_last[0].is_contiguous() # callers get G's image in the usual layout
    seen.clear()
    monkeypatch.setattr(misc, 'activation_memory_format', lambda device: torch.contiguous_format)
    contiguous = _image_logits_grads(G, D, z)
    assert len(seen) > 50 and not any(seen)
    scale = max(t.abs().max().item() for t in contiguous)
    for a, b in zip(channels_last, contiguous, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * scale)
