"""nas/space/ops_modulated.py and the modulated parts of mixed.py: op shapes and definitions, one-hot MixedOp
over modulated ops equals the op, WSelector (alphaGAN Sec. 6.2 dynamic W)."""

import pickle

import pytest
import torch
import torch.nn.functional as F

from nas.space import mixed
from nas.space import ops_modulated
from nas.space import primitives
from training.layers import SynthesisLayer

REGISTRY = 'nas.space.ops_modulated.OPS'
C_IN, C_OUT, W_DIM, RES = 6, 5, 7, 8

def randomized(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module

def make(name, **kwargs):
    torch.manual_seed(0)
    return randomized(ops_modulated.OPS[name](C_IN, C_OUT, W_DIM, RES, **kwargs)).eval()

def in_res(name):
    return RES // 2 if name in primitives.STYLEGAN2_UP_OPS else RES

#----------------------------------------------------------------------------

def test_registry_holds_the_paper_ops():
    assert set(ops_modulated.OPS) == set(primitives.STYLEGAN2_NORMAL_OPS + primitives.STYLEGAN2_UP_OPS)
    assert primitives.known_ops('stylegan2', 'normal') == ('conv_1x1', 'conv_3x3', 'conv_5x5')
    assert primitives.known_ops('stylegan2', 'up') == ('deconv', 'nearest_conv', 'bilinear_conv')

@pytest.mark.parametrize('name', sorted(ops_modulated.OPS))
def test_op_output_shape_and_parameter_count(name):
    op = make(name)
    x = torch.randn(3, C_IN, in_res(name), in_res(name))
    y = op(x, torch.randn(3, W_DIM), noise_mode='random')
    assert y.shape == (3, C_OUT, RES, RES) and torch.isfinite(y).all()
    k = int(name[5]) if name.startswith('conv_') else 3
    # Affine (w_dim -> C_IN, bias), weight [C_OUT, C_IN, k, k], noise strength, bias [C_OUT] (StyleGAN2 Fig. 2c).
    expected = W_DIM * C_IN + C_IN + C_OUT * C_IN * k * k + 1 + C_OUT
    assert sum(p.numel() for p in op.parameters()) == expected

@pytest.mark.parametrize('name,mode', [('nearest_conv', 'nearest'), ('bilinear_conv', 'bilinear')])
def test_interpolation_ops_are_interpolate_then_modulated_conv3x3(name, mode):
    op = make(name)
    conv = SynthesisLayer(C_IN, C_OUT, w_dim=W_DIM, resolution=RES, kernel_size=3).eval()
    conv.load_state_dict(op.state_dict())
    x, w = torch.randn(2, C_IN, RES // 2, RES // 2), torch.randn(2, W_DIM)
    ref = conv(F.interpolate(x, scale_factor=2, mode=mode, **({} if mode == 'nearest' else {'align_corners': False})),
        w, noise_mode='const')
    assert torch.allclose(op(x, w, noise_mode='const'), ref, atol=1e-6)

def test_deconv_is_stylegan2_upsampling_layer():
    op = make('deconv')
    assert (op.up, op.kernel_size, op.pre_upsample) == (2, 3, None)
    assert [make(f'conv_{k}x{k}').kernel_size for k in (1, 3, 5)] == [1, 3, 5]

def test_layer_kwargs_reach_the_layer():
    op = ops_modulated.OPS['conv_3x3'](C_IN, C_OUT, W_DIM, RES, use_noise=False, conv_clamp=0.01)
    assert not hasattr(op, 'noise_strength')
    y = op(torch.randn(2, C_IN, RES, RES) * 10, torch.randn(2, W_DIM))
    assert y.abs().max() <= 0.01 + 1e-7

#----------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['normal', 'up'])
@pytest.mark.parametrize('noise_mode', ['const', 'none'])
def test_one_hot_mixed_modulated_op_equals_the_op(kind, noise_mode):
    candidates = primitives.candidates('stylegan2', kind)
    mop = randomized(mixed.MixedOp(candidates, REGISTRY, C_IN, C_OUT, W_DIM, RES)).eval()
    r = RES // 2 if kind == 'up' else RES
    x, w = torch.randn(2, C_IN, r, r), torch.randn(2, W_DIM)
    for i, name in enumerate(candidates):
        alone = ops_modulated.OPS[name](C_IN, C_OUT, W_DIM, RES).eval()
        alone.load_state_dict(mop.ops[i].state_dict())
        one_hot = torch.nn.functional.one_hot(torch.tensor(i), len(candidates)).float()
        assert torch.equal(mop(x, one_hot, w, noise_mode=noise_mode), alone(x, w, noise_mode=noise_mode)), name

def test_mixed_modulated_op_is_weighted_sum_and_each_op_has_its_own_affine():
    mop = randomized(mixed.MixedOp(primitives.STYLEGAN2_NORMAL_OPS, REGISTRY, C_IN, C_OUT, W_DIM, RES)).eval()
    assert len({id(op.affine.weight) for op in mop.ops}) == 3
    x, w = torch.randn(2, C_IN, RES, RES), torch.randn(2, W_DIM)
    weights = torch.randn(3).softmax(0)
    ref = sum(weights[i] * op(x, w, noise_mode='const') for i, op in enumerate(mop.ops))
    assert torch.allclose(mop(x, weights, w, noise_mode='const'), ref, atol=1e-6)

#----------------------------------------------------------------------------

def test_w_selector_one_hot_equals_feeding_that_w():
    L, num_ws, N = 4, 5, 3
    sel = mixed.WSelector(L, num_ws)
    all_ws = torch.randn(N, L, num_ws, W_DIM)
    choice = [3, 0, 2, 2, 1]
    weights = torch.nn.functional.one_hot(torch.tensor(choice), L).float()
    ws = sel(all_ws, weights)
    assert ws.shape == (N, num_ws, W_DIM)
    for j, i in enumerate(choice):
        assert torch.equal(ws[:, j], all_ws[:, i, j])

def test_w_selector_soft_weights_and_gradients():
    L, num_ws = 3, 2
    sel = mixed.WSelector(L, num_ws)
    all_ws = torch.randn(2, L, num_ws, W_DIM)
    beta = torch.randn(num_ws, L, requires_grad=True)
    weights = beta.softmax(-1)
    ws = sel(all_ws, weights)
    ref = torch.stack([sum(weights[j, i] * all_ws[:, i, j] for i in range(L)) for j in range(num_ws)], dim=1)
    assert torch.allclose(ws, ref, atol=1e-6)
    ws.square().sum().backward()
    assert beta.grad.abs().min() > 0
    with pytest.raises(AssertionError):
        sel(all_ws, torch.ones(num_ws, L + 1))
    assert pickle.loads(pickle.dumps(sel)).num_ws == num_ws

#----------------------------------------------------------------------------
