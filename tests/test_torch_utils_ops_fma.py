"""fma against a * b + c with broadcasting, gradients reduced to each input's shape."""

import torch

from torch_utils.ops import fma

#----------------------------------------------------------------------------

def test_matches_multiply_add_with_broadcast_gradients():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn([2, 3, 4, 5], generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn([2, 3, 1, 1], generator=gen, dtype=torch.float64, requires_grad=True)
    c = torch.randn([2, 1, 4, 5], generator=gen, dtype=torch.float64, requires_grad=True)
    results = []
    for fn in [fma.fma, lambda a, b, c: a * b + c]:
        y = fn(a, b, c)
        results.append([y] + list(torch.autograd.grad(y.sin().sum(), [a, b, c])))
    for x, r in zip(*results):
        assert x.shape == r.shape and (x - r).abs().max() < 1e-12
    assert torch.autograd.gradgradcheck(fma.fma, [a, b, c], fast_mode=True)

#----------------------------------------------------------------------------
