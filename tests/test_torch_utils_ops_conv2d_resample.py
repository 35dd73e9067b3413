"""conv2d_resample against numpy loops (zero insertion, padding, FIR filter, grouped 2-D correlation,
decimation), output sizes as StyleGAN2 uses them, gradcheck, and the CUDA path against 'ref'."""

import numpy as np
import pytest
import torch

from torch_utils.ops import conv2d_resample
from torch_utils.ops import upfirdn2d
from test_torch_utils_ops_upfirdn2d import slow_upfirdn2d

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')

#----------------------------------------------------------------------------
# Independent numpy version: grouped valid correlation by loops.

def slow_conv2d(x, w, groups=1):
    n, c, h, wd = x.shape
    o, ig, kh, kw = w.shape
    og = o // groups
    y = np.zeros([n, o, h - kh + 1, wd - kw + 1])
    for oc in range(o):
        g = oc // og
        xs = x[:, g * ig : (g + 1) * ig]
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                y[:, oc, i, j] = (xs[:, :, i : i + kh, j : j + kw] * w[oc][None]).sum(axis=(1, 2, 3))
    return y

def slow_conv2d_resample(x, w, f, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
    """Upsample (zero insertion + filter, gain up^2) with the total padding, convolve, filter + decimate.

    The total padding adds what the filters need to the user's padding, per StyleGAN2:
    up: (fw + up - 1) // 2 before, (fw - up) // 2 after; down: (fw - down + 1) // 2 before, (fw - down) // 2 after.
    """
    f = np.ones([1, 1]) if f is None else f
    fw = f.shape[-1]
    p = [padding] * 4 if np.isscalar(padding) else list(padding)
    p = p if len(p) == 4 else [p[0], p[0], p[1], p[1]]
    if up > 1:
        p = [p[0] + (fw + up - 1) // 2, p[1] + (fw - up) // 2, p[2] + (fw + up - 1) // 2, p[3] + (fw - up) // 2]
    if down > 1:
        p = [p[0] + (fw - down + 1) // 2, p[1] + (fw - down) // 2, p[2] + (fw - down + 1) // 2, p[3] + (fw - down) // 2]
    x = slow_upfirdn2d(x, f if up > 1 else None, up=up, padding=p, flip_filter=flip_filter, gain=up ** 2)
    x = slow_conv2d(x, w if flip_weight else w[:, :, ::-1, ::-1], groups=groups)
    if down > 1:
        x = slow_upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x

def _tensor(shape, seed, dtype=torch.float64, device='cpu'):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)

#----------------------------------------------------------------------------

# (in channels, out channels, kernel, up, down, padding, groups, flip_weight, flip_filter, filter)
CASES = [
    (4, 6, 3, 2, 1, 1, 1, False, False, [1, 3, 3, 1]),  # StyleGAN2 synthesis upsampling layer
    (4, 6, 3, 2, 1, 1, 2, True, False, [1, 3, 3, 1]),
    (4, 6, 3, 1, 2, 1, 1, True, False, [1, 3, 3, 1]),   # discriminator downsampling conv
    (4, 6, 1, 1, 2, 0, 1, True, False, [1, 3, 3, 1]),   # discriminator skip (1x1, down)
    (4, 6, 1, 2, 1, 0, 2, True, True, [1, 3, 3, 1]),    # 1x1 with up
    (3, 6, 3, 2, 2, [1, 0, 2, 1], 3, True, False, [1, 2, 1]),
    (2, 3, 3, 4, 1, [-3, 2], 1, False, True, [1, 3, 3, 1]), # up=4, negative padding: crop in the transposed conv
    (2, 4, 5, 1, 4, 2, 2, True, False, [1, 2, 3, 2]),
    (4, 4, 3, 1, 1, 1, 4, True, False, None),            # plain padded conv
    (2, 3, 3, 1, 1, [2, 1, 0, 1], 1, False, False, None), # asymmetric padding
]

@pytest.mark.parametrize('case', CASES)
def test_ref_matches_numpy(case):
    cin, cout, k, up, down, padding, groups, flip_weight, flip_filter, fspec = case
    x = _tensor([2, cin, 7, 6], seed=0)
    w = _tensor([cout, cin // groups, k, k], seed=1)
    f = None if fspec is None else upfirdn2d.setup_filter(torch.tensor(fspec, dtype=torch.float64))
    y = conv2d_resample.conv2d_resample(x, w, f=f, up=up, down=down, padding=padding, groups=groups,
                                        flip_weight=flip_weight, flip_filter=flip_filter)
    expected = slow_conv2d_resample(x.numpy(), w.numpy(), None if f is None else f.numpy(), up, down, padding, groups,
                                    flip_weight, flip_filter)
    assert y.shape == expected.shape
    assert np.abs(y.numpy() - expected).max() < 1e-10

def test_output_sizes():
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    x = _tensor([1, 2, 8, 8], seed=2)
    w3 = _tensor([3, 2, 3, 3], seed=3)
    assert conv2d_resample.conv2d_resample(x, w3, f, up=2, padding=1).shape == (1, 3, 16, 16)
    assert conv2d_resample.conv2d_resample(x, w3, f, down=2, padding=1).shape == (1, 3, 4, 4)
    assert conv2d_resample.conv2d_resample(x, w3, f, padding=1).shape == (1, 3, 8, 8)
    assert conv2d_resample.conv2d_resample(x, w3[:, :, :1, :1], f, down=2).shape == (1, 3, 4, 4)

@pytest.mark.parametrize('case', [CASES[0], CASES[2], CASES[5]])
def test_gradcheck(case):
    cin, cout, k, up, down, padding, groups, flip_weight, flip_filter, fspec = case
    x = _tensor([1, cin, 4, 5], seed=4).requires_grad_(True)
    w = _tensor([cout, cin // groups, k, k], seed=5).requires_grad_(True)
    f = upfirdn2d.setup_filter(torch.tensor(fspec, dtype=torch.float64))
    fn = lambda x, w: conv2d_resample.conv2d_resample(x, w, f=f, up=up, down=down, padding=padding, groups=groups,
                                                      flip_weight=flip_weight, flip_filter=flip_filter)
    assert torch.autograd.gradcheck(fn, [x, w], fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, [x, w], fast_mode=True)

#----------------------------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize('case', CASES)
def test_cuda_matches_ref(case, monkeypatch):
    assert upfirdn2d._plugin() is not None, 'CUDA kernel failed to build'
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    cin, cout, k, up, down, padding, groups, flip_weight, flip_filter, fspec = case
    x = _tensor([4, cin * 4, 13, 12], seed=6, dtype=torch.float32, device='cuda')
    w = _tensor([cout * 4, cin * 4 // groups, k, k], seed=7, dtype=torch.float32, device='cuda')
    f = None if fspec is None else upfirdn2d.setup_filter(fspec, device='cuda')
    run = lambda: conv2d_resample.conv2d_resample(x, w, f=f, up=up, down=down, padding=padding, groups=groups,
                                                  flip_weight=flip_weight, flip_filter=flip_filter)
    y_cuda = run()
    monkeypatch.setattr(upfirdn2d, '_on_cuda', lambda t: False) # conv2d_resample's upfirdn2d calls now take 'ref'
    y_ref = run()
    assert (y_cuda - y_ref).abs().max() <= 1e-3 * y_ref.abs().max()

#----------------------------------------------------------------------------
