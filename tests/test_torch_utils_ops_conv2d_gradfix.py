"""conv2d_gradfix against torch.nn.functional, gradcheck, and no_weight_gradients() in an R1-style
double backward."""

import pytest
import torch
import torch.nn.functional as F

from torch_utils.ops import conv2d_gradfix

#----------------------------------------------------------------------------

def _tensor(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_(True)

# (transpose, weight shape, keyword arguments)
CASES = [
    (False, [6, 2, 3, 3], dict(stride=2, padding=1, groups=2)),
    (False, [4, 4, 2, 3], dict(stride=[1, 2], padding=[0, 1], dilation=2)),
    (True, [4, 3, 3, 3], dict(stride=2, padding=1, output_padding=1, groups=2)),
    (True, [4, 2, 3, 3], dict(stride=[2, 3], padding=0, dilation=[1, 2])),
]

@pytest.mark.parametrize('case', CASES)
def test_matches_functional(case):
    transpose, w_shape, kw = case
    x = _tensor([2, 4, 7, 8], seed=0)
    w = _tensor(w_shape, seed=1)
    b = _tensor([w_shape[1] * kw.get('groups', 1) if transpose else w_shape[0]], seed=2)
    ours = conv2d_gradfix.conv_transpose2d if transpose else conv2d_gradfix.conv2d
    theirs = F.conv_transpose2d if transpose else F.conv2d
    results = []
    for fn in [ours, theirs]:
        y = fn(x, w, b, **kw)
        results.append([y] + list(torch.autograd.grad(y.sin().sum(), [x, w, b])))
    for a, r in zip(*results):
        assert a.shape == r.shape and (a - r).abs().max() < 1e-10
    fn = lambda x, w: ours(x, w, **kw)
    assert torch.autograd.gradcheck(fn, [x, w], fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, [x, w], fast_mode=True)

DEPTHWISE_FILTERS = [(False, [4, 1, 4, 4], dict(stride=1, padding=[2, 1], groups=4)), # upfirdn2d's reference path
                     (False, [4, 1, 1, 4], dict(stride=[1, 2], padding=[0, 1], groups=4))]

@pytest.mark.parametrize('case', CASES + DEPTHWISE_FILTERS)
@pytest.mark.parametrize('wanted', ['input', 'weight', 'both'])
def test_first_order_gradients_are_autograds_bits(case, wanted):
    # A first-order backward makes the native call that autograd makes for the functional op, asking for the
    # gradients wanted: the same bits in float32, the memory format of a CPU block included.
    transpose, w_shape, kw = case
    x = _tensor([2, 4, 7, 8], seed=7).float().contiguous(memory_format=torch.channels_last)
    w = _tensor(w_shape, seed=8).float()
    ours = conv2d_gradfix.conv_transpose2d if transpose else conv2d_gradfix.conv2d
    theirs = F.conv_transpose2d if transpose else F.conv2d
    results = []
    for fn in [ours, theirs]:
        xg = x.detach().requires_grad_(wanted in ['input', 'both'])
        wg = w.detach().requires_grad_(wanted in ['weight', 'both'])
        fn(xg, wg, **kw).sin().sum().backward()
        results.append([t.grad for t in [xg, wg]])
    for a, r in zip(*results):
        assert (a is None and r is None) or torch.equal(a, r)

def test_no_weight_gradients_in_r1_penalty():
    x = _tensor([2, 3, 5, 5], seed=3)
    w = _tensor([4, 3, 3, 3], seed=4)

    def r1_weight_grad(conv, disable):
        y = conv(x, w, padding=1).square().sum()
        with conv2d_gradfix.no_weight_gradients(disable):
            dx, = torch.autograd.grad(y, [x], create_graph=True)
        return torch.autograd.grad(dx.square().sum(), [w])[0]
    expected = r1_weight_grad(F.conv2d, False)
    for disable in [True, False]:
        assert (r1_weight_grad(conv2d_gradfix.conv2d, disable) - expected).abs().max() < 1e-10

def test_no_weight_gradients_skips_weight_grad():
    x = _tensor([1, 3, 5, 5], seed=5)
    w = _tensor([4, 3, 3, 3], seed=6)
    with conv2d_gradfix.no_weight_gradients():
        conv2d_gradfix.conv2d(x, w).sum().backward()
    assert w.grad is None and x.grad is not None
    conv2d_gradfix.conv2d(x, w).sum().backward() # the flag is restored on exit
    assert w.grad is not None

def test_disabled_module_is_plain_functional(monkeypatch):
    monkeypatch.setattr(conv2d_gradfix, 'enabled', False)
    x = _tensor([1, 3, 5, 5], seed=7)
    w = _tensor([4, 3, 3, 3], seed=8)
    y = conv2d_gradfix.conv2d(x, w)
    assert 'Convolution' in type(y.grad_fn).__name__ # torch's own node, not ours

#----------------------------------------------------------------------------
