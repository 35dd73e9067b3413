"""nas/space/mixed.py: one-hot mixed op equals its op, softmax/Gumbel edge weights (DARTS; alphaGAN supp. Table 1)."""

import pickle

import pytest
import torch

from nas.space import mixed
from nas.space import ops
from nas.space import primitives

C = 6
REGISTRY = 'nas.space.ops.OPS'

def randomized(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module

#----------------------------------------------------------------------------

@pytest.mark.parametrize('kind,kwargs', [('normal', {}), ('up', {}), ('up', {'repeat': 2})])
def test_one_hot_mixed_op_equals_the_op(kind, kwargs):
    candidates = primitives.known_ops('conventional', kind)
    mop = randomized(mixed.MixedOp(candidates, REGISTRY, C, False, **kwargs)).eval()
    x = torch.randn(2, C, 4, 4)
    for i, name in enumerate(candidates):
        w = torch.zeros(len(candidates))
        w[i] = 1
        alone = ops.OPS[name](C, False, **kwargs).eval()
        alone.load_state_dict(mop.ops[i].state_dict())
        assert torch.equal(mop(x, w), alone(x)), name

def test_weighted_sum_matches_explicit_sum():
    mop = randomized(mixed.MixedOp(primitives.CONVENTIONAL_NORMAL_OPS, REGISTRY, C, True)).eval()
    x = torch.randn(2, C, 5, 5)
    w = torch.randn(len(mop.ops)).softmax(0)
    ref = sum(w[i] * op(x) for i, op in enumerate(mop.ops))
    assert torch.allclose(mop(x, w), ref, atol=1e-6)

def test_weights_must_match_candidates():
    mop = mixed.MixedOp(['nearest', 'bilinear'], REGISTRY, C, False)
    with pytest.raises(AssertionError):
        mop(torch.randn(1, C, 2, 2), torch.ones(3))

def test_gradients_reach_weights_and_ops():
    mop = mixed.MixedOp(['conv_1x1', 'conv_3x3'], REGISTRY, C, False)
    alpha = torch.zeros(2, requires_grad=True)
    mop(torch.randn(2, C, 4, 4), alpha.softmax(0)).square().sum().backward()
    assert alpha.grad.abs().sum() > 0
    assert all(p.grad is not None for p in mop.parameters())

# A toy registry whose ops take an extra forward argument (as modulated ops take styles).
TOY_OPS = {
    'add': lambda scale: _Toy(scale, 'add'),
    'mul': lambda scale: _Toy(scale, 'mul'),
}

class _Toy(torch.nn.Module):
    def __init__(self, scale, kind):
        super().__init__()
        self.scale, self.kind = scale, kind

    def forward(self, x, s):
        return x + self.scale * s if self.kind == 'add' else x * self.scale * s

def test_generic_registry_and_extra_forward_args():
    mop = mixed.MixedOp(['add', 'mul'], f'{__name__}.TOY_OPS', scale=2.0)
    x, s = torch.tensor([1.0, 2.0]), torch.tensor(3.0)
    w = torch.tensor([0.25, 0.75])
    assert torch.allclose(mop(x, w, s), 0.25 * (x + 6) + 0.75 * (x * 6))
    assert mop.candidates == ('add', 'mul')

def test_mixed_op_pickles():
    mop = randomized(mixed.MixedOp(['deconv', 'nearest'], REGISTRY, C, False)).eval()
    copy = pickle.loads(pickle.dumps(mop))
    x, w = torch.randn(1, C, 2, 2), torch.tensor([0.3, 0.7])
    assert torch.equal(copy(x, w), mop(x, w))

#----------------------------------------------------------------------------
# Edge weights: softmax rows, or Gumbel-softmax samples.

def test_softmax_weights():
    alpha = torch.randn(3, 6)
    assert torch.allclose(mixed.edge_weights(alpha), torch.exp(alpha) / torch.exp(alpha).sum(1, keepdim=True))

def test_gumbel_hard_is_exactly_one_hot_with_gradients():
    alpha = torch.randn(4, 6, requires_grad=True)
    w = mixed.edge_weights(alpha, gumbel=True, tau=1.0, hard=True, generator=torch.Generator().manual_seed(1))
    assert torch.all((w == 0) | (w == 1)) and torch.all(w.sum(1) == 1)
    (w * torch.arange(6.0)).sum().backward() # straight-through: gradient of the soft sample
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0

def test_gumbel_soft_rows_are_distributions():
    alpha = torch.randn(4, 6)
    w = mixed.edge_weights(alpha, gumbel=True, tau=2.0, hard=False)
    assert torch.allclose(w.sum(1), torch.ones(4)) and torch.all(w > 0) and torch.all(w < 1)

def test_gumbel_max_samples_follow_softmax():
    # Gumbel-max trick: argmax(alpha + g) ~ softmax(alpha), whatever tau.
    alpha = torch.tensor([[1.0, 0.0, -1.0]]).expand(20000, 3)
    gen = torch.Generator().manual_seed(0)
    w = mixed.edge_weights(alpha, gumbel=True, tau=0.5, hard=True, generator=gen)
    freq = w.mean(0)
    assert torch.allclose(freq, alpha[0].softmax(0), atol=0.015)

def test_gumbel_uses_the_generator():
    alpha = torch.zeros(5, 6)
    a = mixed.edge_weights(alpha, gumbel=True, hard=False, generator=torch.Generator().manual_seed(7))
    b = mixed.edge_weights(alpha, gumbel=True, hard=False, generator=torch.Generator().manual_seed(7))
    c = mixed.edge_weights(alpha, gumbel=True, hard=False, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)

#----------------------------------------------------------------------------
