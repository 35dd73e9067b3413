"""grid_sample_gradfix against a numpy bilinear sampler (zero padding, align_corners=False) and against
torch's grid_sample, and its first and second derivatives by gradcheck, on CPU and CUDA."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch_utils.ops import grid_sample_gradfix

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])

#----------------------------------------------------------------------------
# Independent numpy version: grid (-1, -1) is the top-left corner of the top-left pixel.

def slow_grid_sample(x, grid):
    n, c, h, w = x.shape
    out = np.zeros([n, c, grid.shape[1], grid.shape[2]])
    for b in range(n):
        for i in range(grid.shape[1]):
            for j in range(grid.shape[2]):
                gx, gy = grid[b, i, j]
                px = ((gx + 1) * w - 1) / 2
                py = ((gy + 1) * h - 1) / 2
                x0, y0 = int(np.floor(px)), int(np.floor(py))
                for yy, wy in [(y0, 1 - (py - y0)), (y0 + 1, py - y0)]:
                    for xx, wx in [(x0, 1 - (px - x0)), (x0 + 1, px - x0)]:
                        if 0 <= yy < h and 0 <= xx < w:
                            out[b, :, i, j] += wy * wx * x[b, :, yy, xx]
    return out

def _inputs(seed, device='cpu', dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn([2, 3, 5, 4], generator=gen, dtype=torch.float64)
    grid = torch.rand([2, 3, 6, 2], generator=gen, dtype=torch.float64) * 2.4 - 1.2 # some samples fall outside
    return x.to(device, dtype), grid.to(device, dtype)

#----------------------------------------------------------------------------

def test_matches_numpy():
    x, grid = _inputs(seed=0)
    y = grid_sample_gradfix.grid_sample(x, grid)
    assert y.shape == (2, 3, 3, 6)
    assert np.abs(y.numpy() - slow_grid_sample(x.numpy(), grid.numpy())).max() < 1e-10

@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_matches_torch_with_gradients(device, dtype):
    x, grid = _inputs(seed=2, device=device, dtype=dtype)
    x.requires_grad_(True)
    grid.requires_grad_(True)
    results = []
    for fn in [grid_sample_gradfix.grid_sample,
               lambda x, g: F.grid_sample(x, g, mode='bilinear', padding_mode='zeros', align_corners=False)]:
        y = fn(x, grid)
        results.append([y] + list(torch.autograd.grad(y.sin().sum(), [x, grid])))
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    for a, r in zip(*results):
        assert a.shape == r.shape and (a - r).abs().max() < tol

@pytest.mark.parametrize('device', DEVICES)
def test_double_backward(device):
    x, grid = _inputs(seed=1, device=device)
    x.requires_grad_(True)
    grid.requires_grad_(True)
    assert torch.autograd.gradcheck(grid_sample_gradfix.grid_sample, [x, grid], fast_mode=True)
    assert torch.autograd.gradgradcheck(grid_sample_gradfix.grid_sample, [x, grid], fast_mode=True)

    # R1 through an augmentation: d/dx of |d(sum y^2)/dx|^2 where y = sample(x), grid fixed.
    x2 = x.detach().requires_grad_(True)
    y = grid_sample_gradfix.grid_sample(x2, grid.detach())
    dx, = torch.autograd.grad(y.square().sum(), [x2], create_graph=True)
    ddx, = torch.autograd.grad(dx.square().sum(), [x2])
    assert ddx.shape == x.shape and ddx.abs().sum() > 0

#----------------------------------------------------------------------------
