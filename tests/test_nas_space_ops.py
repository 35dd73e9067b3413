"""nas/space/ops.py: shapes, exact parameter counts and plain-torch references of every conventional candidate op."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.space import ops
from nas.space import primitives

C = 8

NORMAL = primitives.CONVENTIONAL_NORMAL_OPS
UP = primitives.known_ops('conventional', 'up')

def expected_params(name, channels, affine):
    """Parameter count by formula: conv k x k with bias C*C*k*k + C; DARTS sep conv 2 * (depthwise C*k*k +
    pointwise C*C) + BN 2*2*C when affine; deconv 2x2 C*C*4 + C; interpolation 0, with conv_1x1 C*C."""
    k = int(name[-1]) if name[-1].isdigit() else None
    if name.startswith('conv_'):
        return channels * channels * k * k + channels
    if name.startswith('sep_conv_'):
        return 2 * (channels * k * k + channels * channels) + (4 * channels if affine else 0)
    return {'deconv': channels * channels * 4 + channels, 'nearest': 0, 'bilinear': 0,
            'nearest_conv_1x1': channels * channels, 'bilinear_conv_1x1': channels * channels}[name]

def randomize(module, seed=0):
    """Non-trivial values everywhere, BN running stats included, so every term shows up."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=gen))
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
    return module

#----------------------------------------------------------------------------

@pytest.mark.parametrize('affine', [False, True])
@pytest.mark.parametrize('name', NORMAL)
def test_normal_op_shape_and_params(name, affine):
    op = ops.OPS[name](C, affine)
    assert sum(p.numel() for p in op.parameters()) == expected_params(name, C, affine)
    x = torch.randn(2, C, 6, 6)
    assert op(x).shape == (2, C, 6, 6)

@pytest.mark.parametrize('repeat', [1, 2])
@pytest.mark.parametrize('name', UP)
def test_up_op_shape_and_params(name, repeat):
    op = ops.OPS[name](C, True, repeat=repeat)
    assert sum(p.numel() for p in op.parameters()) == expected_params(name, C, True) # x4 shares the x2 weights
    x = torch.randn(2, C, 3, 5)
    assert op(x).shape == (2, C, 3 * 2**repeat, 5 * 2**repeat)

@pytest.mark.parametrize('name', NORMAL + UP)
def test_ops_leave_input_untouched(name):
    op = randomize(ops.OPS[name](C, True))
    x = torch.randn(2, C, 4, 4)
    x0 = x.clone()
    op(x)
    assert torch.equal(x, x0) # the same input feeds every candidate: no in-place ReLU

#----------------------------------------------------------------------------
# References written with torch.nn.functional from the op's own weights.

@pytest.mark.parametrize('k', [1, 3, 5])
def test_conv_matches_reference(k):
    op = randomize(ops.OPS[f'conv_{k}x{k}'](C, True))
    x = torch.randn(2, C, 7, 7)
    ref = F.conv2d(x.clamp(min=0), op.conv.weight, op.conv.bias, padding=k // 2)
    assert torch.allclose(op(x), ref, atol=1e-5)

@pytest.mark.parametrize('k', [3, 5, 7])
def test_sep_conv_matches_reference_eval(k):
    op = randomize(ops.OPS[f'sep_conv_{k}x{k}'](C, True)).eval()
    x = torch.randn(2, C, 9, 9)
    def bn(h, m):
        return (h - m.running_mean.view(1, -1, 1, 1)) / torch.sqrt(m.running_var.view(1, -1, 1, 1) + m.eps) \
            * m.weight.view(1, -1, 1, 1) + m.bias.view(1, -1, 1, 1)
    h = x.clamp(min=0)
    h = F.conv2d(F.conv2d(h, op.dw1.weight, padding=k // 2, groups=C), op.pw1.weight)
    h = bn(h, op.bn1).clamp(min=0)
    h = F.conv2d(F.conv2d(h, op.dw2.weight, padding=k // 2, groups=C), op.pw2.weight)
    assert torch.allclose(op(x), bn(h, op.bn2), atol=1e-4)

def test_sep_conv_supernet_bn_is_not_affine():
    op = ops.OPS['sep_conv_3x3'](C, False)
    assert not op.bn1.affine and not op.bn2.affine
    op.train()
    y = op(torch.randn(4, C, 5, 5))
    assert torch.allclose(y.mean(dim=[0, 2, 3]), torch.zeros(C), atol=1e-5) # batch-normalised output

@pytest.mark.parametrize('repeat', [1, 2])
def test_deconv_matches_reference(repeat):
    op = randomize(ops.OPS['deconv'](C, True, repeat=repeat))
    x = torch.randn(2, C, 3, 3)
    ref = x
    for _ in range(repeat): # the same weights each step
        ref = F.conv_transpose2d(ref, op.deconv.weight, op.deconv.bias, stride=2)
    assert torch.allclose(op(x), ref, atol=1e-5)

def bilinear_x2_ref(x):
    """Half-pixel-centre bilinear x2, separable, edge-clamped: outputs at 0.25/0.75 between neighbours."""
    x = x.numpy()
    for axis in (2, 3):
        n = x.shape[axis]
        src = (np.arange(2 * n) + 0.5) / 2 - 0.5
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n - 1)
        frac = (src - lo).reshape([-1 if a == axis else 1 for a in range(4)])
        x = np.take(x, lo, axis=axis) * (1 - frac) + np.take(x, hi, axis=axis) * frac
    return torch.from_numpy(x.astype(np.float32))

@pytest.mark.parametrize('repeat', [1, 2])
def test_interpolation_matches_reference(repeat):
    x = torch.randn(2, C, 3, 4)
    near, bil = x, x
    for _ in range(repeat):
        near = near.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        bil = bilinear_x2_ref(bil)
    assert torch.equal(ops.OPS['nearest'](C, True, repeat=repeat)(x), near)
    assert torch.allclose(ops.OPS['bilinear'](C, True, repeat=repeat)(x), bil, atol=1e-5)

@pytest.mark.parametrize('mode', ['nearest', 'bilinear'])
def test_learnable_interpolation_is_interp_then_conv_1x1(mode):
    op = randomize(ops.OPS[f'{mode}_conv_1x1'](C, True, repeat=2))
    x = torch.randn(2, C, 3, 3)
    up = ops.OPS[mode](C, True, repeat=2)(x)
    ref = F.conv2d(up, op.conv.weight) # Table 7: interpolation followed by conv_1x1 (they commute)
    assert torch.allclose(op(x), ref, atol=1e-5)

#----------------------------------------------------------------------------

def test_init_weights():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(64, 64, 3), torch.nn.BatchNorm2d(64), torch.nn.ConvTranspose2d(64, 64, 2),
                              torch.nn.BatchNorm2d(64, affine=False))
    deconv = net[2].weight.detach().clone()
    ops.init_weights(net, 'normal')
    assert abs(net[0].weight.std().item() - 0.02) < 0.002
    assert abs(net[1].weight.mean().item() - 1) < 0.01 and torch.all(net[1].bias == 0)
    assert torch.equal(net[2].weight, deconv) # transposed convs keep PyTorch's init, as in the authors' scripts
    ops.init_weights(net, 'xavier_uniform')
    bound = (6 / (64 * 9 + 64 * 9)) ** 0.5
    assert net[0].weight.abs().max().item() <= bound and net[0].weight.abs().max().item() > 0.9 * bound
    with pytest.raises(AssertionError):
        ops.init_weights(net, 'kaiming')

#----------------------------------------------------------------------------
