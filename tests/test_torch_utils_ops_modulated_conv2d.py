"""modulated_conv2d against explicit per-sample modulation/demodulation with numpy loops, fused vs
non-fused equality, and gradcheck."""

import numpy as np
import pytest
import torch

from torch_utils.ops import modulated_conv2d
from torch_utils.ops import upfirdn2d
from test_torch_utils_ops_conv2d_resample import slow_conv2d_resample

#----------------------------------------------------------------------------
# Independent version: one sample at a time, weights scaled by its styles (Eq. 1), demodulated (Eq. 3).

def slow_modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, f=None, demodulate=True,
                          flip_weight=True):
    out = []
    for n in range(x.shape[0]):
        w = weight * styles[n][None, :, None, None]
        if demodulate:
            for o in range(w.shape[0]):
                w[o] = w[o] / np.sqrt((w[o] ** 2).sum() + 1e-8)
        out.append(slow_conv2d_resample(x[n : n + 1], w, f, up=up, down=down, padding=padding, flip_weight=flip_weight))
    y = np.concatenate(out)
    return y if noise is None else y + noise

def _tensor(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64)

#----------------------------------------------------------------------------

# (kernel, up, down, padding, demodulate, with noise)
CASES = [
    (3, 1, 1, 1, True, True),
    (3, 2, 1, 1, True, True),   # StyleGAN2 upsampling layer
    (1, 1, 1, 0, False, False), # ToRGB
    (3, 1, 2, 1, True, False),
    (3, 2, 1, 1, False, True),
]

@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('fused_modconv', [True, False])
def test_matches_numpy(case, fused_modconv):
    k, up, down, padding, demodulate, with_noise = case
    x = _tensor([3, 4, 5, 6], seed=0)
    weight = _tensor([5, 4, k, k], seed=1)
    styles = _tensor([3, 4], seed=2) + 1
    f = upfirdn2d.setup_filter(torch.tensor([1., 3, 3, 1], dtype=torch.float64))
    h, w = 5 * up // down, 6 * up // down
    noise = _tensor([3, 1, h, w], seed=3) if with_noise else None
    flip_weight = (up == 1) # as StyleGAN2's synthesis layer
    y = modulated_conv2d.modulated_conv2d(x, weight, styles, noise=noise, up=up, down=down, padding=padding,
                                          resample_filter=f, demodulate=demodulate, flip_weight=flip_weight,
                                          fused_modconv=fused_modconv)
    expected = slow_modulated_conv2d(x.numpy(), weight.numpy(), styles.numpy(),
                                     None if noise is None else noise.numpy(), up, down, padding, f.numpy(),
                                     demodulate, flip_weight)
    assert y.shape == expected.shape == (3, 5, h, w)
    assert np.abs(y.numpy() - expected).max() < 1e-10

def test_fused_equals_non_fused_with_gradients():
    x = _tensor([2, 3, 4, 4], seed=4).requires_grad_(True)
    weight = _tensor([4, 3, 3, 3], seed=5).requires_grad_(True)
    styles = (_tensor([2, 3], seed=6) + 1).requires_grad_(True)
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    grads = []
    for fused in [True, False]:
        y = modulated_conv2d.modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f.double(),
                                              flip_weight=False, fused_modconv=fused)
        grads.append([y] + list(torch.autograd.grad(y.sin().sum(), [x, weight, styles])))
    for a, b in zip(*grads):
        assert (a - b).abs().max() < 1e-10

@pytest.mark.parametrize('fused_modconv', [True, False])
def test_gradcheck(fused_modconv):
    x = _tensor([2, 2, 3, 3], seed=7).requires_grad_(True)
    weight = _tensor([3, 2, 3, 3], seed=8).requires_grad_(True)
    styles = (_tensor([2, 2], seed=9) + 1).requires_grad_(True)
    noise = _tensor([2, 1, 6, 6], seed=10)
    f = upfirdn2d.setup_filter([1, 3, 3, 1]).double()
    fn = lambda x, w, s: modulated_conv2d.modulated_conv2d(x, w, s, noise=noise, up=2, padding=1, resample_filter=f,
                                                           flip_weight=False, fused_modconv=fused_modconv)
    assert torch.autograd.gradcheck(fn, [x, weight, styles], fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, [x, weight, styles], fast_mode=True)

def test_rejects_mismatched_styles():
    with pytest.raises(AssertionError, match='dimension 1'):
        modulated_conv2d.modulated_conv2d(torch.zeros([2, 3, 4, 4]), torch.zeros([4, 3, 3, 3]), torch.zeros([2, 4]))

#----------------------------------------------------------------------------
