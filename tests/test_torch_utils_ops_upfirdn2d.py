"""upfirdn2d and its wrappers against numpy loops (zero insertion, pad/crop, 2-D convolution,
decimation), gradcheck, and the CUDA kernel against 'ref'."""

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from torch_utils.ops import upfirdn2d

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')

#----------------------------------------------------------------------------
# Independent numpy version, one step at a time.

def slow_upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    x = np.asarray(x, dtype=np.float64)
    f = np.ones([1, 1]) if f is None else np.asarray(f, dtype=np.float64)
    if f.ndim == 1: # separable: the same taps along x and y
        f = np.outer(f, f)
    upx, upy = (up, up) if np.isscalar(up) else up
    downx, downy = (down, down) if np.isscalar(down) else down
    if np.isscalar(padding):
        padding = [padding] * 4
    if len(padding) == 2:
        padding = [padding[0], padding[0], padding[1], padding[1]]
    px0, px1, py0, py1 = padding
    n, c, h, w = x.shape

    # Zero insertion: pixel (i, j) moves to (i * upy, j * upx).
    u = np.zeros([n, c, h * upy, w * upx])
    for i in range(h):
        for j in range(w):
            u[:, :, i * upy, j * upx] = x[:, :, i, j]

    # Pad with zeros or crop: padded pixel (i, j) is upsampled pixel (i - py0, j - px0).
    ph, pw = h * upy + py0 + py1, w * upx + px0 + px1
    p = np.zeros([n, c, ph, pw])
    for i in range(ph):
        for j in range(pw):
            if 0 <= i - py0 < u.shape[2] and 0 <= j - px0 < u.shape[3]:
                p[:, :, i, j] = u[:, :, i - py0, j - px0]

    # Convolution (correlation with flipped taps unless flip_filter), valid region only.
    k = (f if flip_filter else f[::-1, ::-1]) * gain
    fh, fw = k.shape
    out = np.zeros([n, c, ph - fh + 1, pw - fw + 1])
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = (p[:, :, i : i + fh, j : j + fw] * k).sum(axis=(2, 3))

    # Decimation.
    return out[:, :, ::downy, ::downx]

def _image(shape, seed=0, dtype=torch.float64, device='cpu'):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype=dtype, device=device)

#----------------------------------------------------------------------------

def test_setup_filter():
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    assert np.allclose(f.numpy(), np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64)
    f = upfirdn2d.setup_filter(torch.tensor([1., 2, 3, 4, 5, 6, 7, 8], dtype=torch.float64), gain=4)
    assert f.shape == (8,) and f.dtype == torch.float64 # 8 taps or more stay separable
    assert abs(f.sum().item() - 2) < 1e-12 # normalised, then sqrt(gain) per axis
    f = upfirdn2d.setup_filter([[1, 2], [3, 4]], normalize=False, flip_filter=True)
    assert f.tolist() == [[4, 3], [2, 1]]
    assert upfirdn2d.setup_filter(None).tolist() == [[1.0]]

# (x shape, filter, up, down, padding, flip_filter, gain)
CASES = [
    ((2, 3, 5, 7), [1, 3, 3, 1], 2, 1, [2, 1], False, 4),
    ((1, 2, 6, 5), [1, 3, 3, 1], 1, 2, 1, False, 1),
    ((1, 2, 5, 6), 'rect', [2, 3], [1, 2], [2, 1, 0, 3], True, 1.5),
    ((1, 1, 4, 3), [1, 2, 3, 2, 1, 0, 1, 2], 4, 1, [4, 3, 5, 2], False, 16), # separable
    ((1, 2, 9, 10), [1, 2, 1], 1, 4, [1, 2], False, 1),
    ((1, 2, 7, 6), [1, 3, 3, 1], 1, 1, [-1, 2, 1, -2], False, 1), # negative padding crops
    ((2, 1, 3, 4), None, 2, 3, 0, False, 1),
]

def _filter(spec):
    if spec is None:
        return None
    if spec == 'rect': # non-square, non-symmetric 2-D filter
        return upfirdn2d.setup_filter(_image((3, 2), seed=9)[0:3, 0:2].abs() + 0.1)
    return upfirdn2d.setup_filter(torch.tensor(spec, dtype=torch.float64))

@pytest.mark.parametrize('case', CASES)
def test_ref_matches_numpy(case):
    shape, fspec, up, down, padding, flip_filter, gain = case
    x = _image(shape)
    f = _filter(fspec)
    y = upfirdn2d.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl='ref')
    expected = slow_upfirdn2d(x.numpy(), None if f is None else f.numpy(), up, down, padding, flip_filter, gain)
    assert y.shape == expected.shape
    assert np.abs(y.numpy() - expected).max() < 1e-10

@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('separable', [False, True])
@pytest.mark.parametrize('padding', [[2, 2, 2, 2], [1, 1, 3, 3], [2, 1, 2, 1], [0, 0, 0, 0]])
def test_down_filter_padding_in_the_conv_equals_padding_first(padding, separable, channels_last):
    # The reference path gives symmetric padding to the filter conv instead of copying the image into a padded one;
    # outputs, first and second derivatives are the same bits as padding with F.pad first (written out here).
    x = torch.randn(2, 8, 12, 12, generator=torch.Generator().manual_seed(0))
    x = x.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    f = upfirdn2d.setup_filter([1, 3, 3, 1], separable=separable)
    def padded_first(x):
        taps = f.flip(list(range(f.ndim)))[None, None].repeat([8, 1] + [1] * f.ndim)
        x = torch.nn.functional.pad(x, padding)
        if f.ndim == 2:
            return torch.nn.functional.conv2d(x, taps, groups=8, stride=2)
        x = torch.nn.functional.conv2d(x, taps.unsqueeze(2), groups=8, stride=[1, 2])
        return torch.nn.functional.conv2d(x, taps.unsqueeze(3), groups=8, stride=[2, 1])
    results = []
    for fn in (lambda x: upfirdn2d.upfirdn2d(x, f, down=2, padding=padding, impl='ref'), padded_first):
        xg = x.clone().requires_grad_(True)
        y = fn(xg)
        dx, = torch.autograd.grad((y * y).sum(), xg, create_graph=True)
        ddx, = torch.autograd.grad((dx * dx).sum(), xg)
        results.append([y, dx, ddx])
    for ours, reference in zip(*results):
        assert torch.equal(ours, reference)

class ConvolutionCount(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func in (torch.ops.aten.convolution.default, torch.ops.aten.convolution_backward.default)
        return func(*args, **(kwargs or {}))

@pytest.mark.parametrize('kwargs', [dict(down=2, padding=1), dict(up=2, padding=[2, 1, 2, 1], gain=4)])
def test_second_derivative_computes_no_filter_gradient(kwargs):
    # The R1 and path-length backward: torch's double backward of a grouped conv would also compute the constant
    # filter's gradient, one convolution per channel; the reference path's cost must not grow with the channels.
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    counts = []
    for channels in [2, 16]:
        x = _image((2, channels, 8, 8), seed=3).requires_grad_(True)
        y = upfirdn2d.upfirdn2d(x, f, impl='ref', **kwargs)
        dx, = torch.autograd.grad(y.square().sum(), x, create_graph=True)
        with ConvolutionCount() as convs:
            dx.square().sum().backward()
        counts.append(convs.count)
    assert counts[0] == counts[1] <= 2

@pytest.mark.parametrize('case', CASES[:5])
def test_gradcheck(case):
    shape, fspec, up, down, padding, flip_filter, gain = case
    x = _image((1, 1) + shape[2:], seed=1).requires_grad_(True)
    f = _filter(fspec)
    fn = lambda x: upfirdn2d.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
    assert torch.autograd.gradcheck(fn, [x], fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, [x], fast_mode=True)

@pytest.mark.parametrize('case', CASES)
def test_kernel_autograd_matches_ref(case):
    # The CUDA path's autograd (separable split, gradient padding) driven by the kernel's torch twin.
    shape, fspec, up, down, padding, flip_filter, gain = case
    f = _filter(fspec)
    f = torch.ones([1, 1], dtype=torch.float64) if f is None else f.float().double() # the kernel takes float32 taps
    args = dict(up=upfirdn2d._parse_scaling(up), down=upfirdn2d._parse_scaling(down),
                padding=tuple(upfirdn2d._parse_padding(padding)), flip_filter=flip_filter, gain=gain)
    fn = lambda x: upfirdn2d._upfirdn2d_autograd(upfirdn2d._kernel_torch, **args)(x, f)
    x = _image((1, 2) + shape[2:], seed=5).requires_grad_(True)
    y = fn(x)
    dy = _image(y.shape, seed=6)
    ref = upfirdn2d.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl='ref')
    assert (y - ref).abs().max() < 1e-6 # taps times gain are rounded to float32 for the kernel
    dx, = torch.autograd.grad(y, [x], dy)
    dx_ref, = torch.autograd.grad(ref, [x], dy)
    assert dx.shape == x.shape and (dx - dx_ref).abs().max() < 1e-6
    assert torch.autograd.gradgradcheck(fn, [x], fast_mode=True)

#----------------------------------------------------------------------------
# Wrappers: output sizes and the equivalent upfirdn2d padding.

@pytest.mark.parametrize('fspec', [[1, 3, 3, 1], [1, 2, 1], [1, 2, 3, 4, 4, 3, 2, 1]])
def test_wrappers(fspec):
    f = _filter(fspec)
    fw = len(fspec)
    x = _image((1, 2, 7, 9), seed=2)
    y = upfirdn2d.filter2d(x, f, impl='ref')
    assert y.shape == x.shape
    p = [fw // 2, (fw - 1) // 2] * 2
    assert np.abs(y.numpy() - slow_upfirdn2d(x.numpy(), f.numpy(), 1, 1, p)).max() < 1e-10

    y = upfirdn2d.upsample2d(x, f, up=2, impl='ref')
    assert y.shape == (1, 2, 14, 18)
    p = [(fw + 1) // 2, (fw - 2) // 2] * 2
    assert np.abs(y.numpy() - slow_upfirdn2d(x.numpy(), f.numpy(), 2, 1, p, gain=4)).max() < 1e-10

    y = upfirdn2d.downsample2d(x[:, :, :6, :8], f, down=2, padding=[1, 0], impl='ref')
    assert y.shape == (1, 2, 3, 5)
    p = [(fw - 1) // 2 + 1, (fw - 2) // 2 + 1, (fw - 1) // 2, (fw - 2) // 2]
    assert np.abs(y.numpy() - slow_upfirdn2d(x[:, :, :6, :8].numpy(), f.numpy(), 1, 2, p)).max() < 1e-10

def test_resampling_keeps_a_constant_image():
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    x = torch.full([1, 1, 8, 8], 3.0, dtype=torch.float64)
    assert torch.allclose(upfirdn2d.upsample2d(x, f)[:, :, 2:-2, 2:-2], x[:, :, :1, :1])
    assert torch.allclose(upfirdn2d.downsample2d(x, f)[:, :, 1:-1, 1:-1], x[:, :, :1, :1])

#----------------------------------------------------------------------------
# CUDA kernel against 'ref' (float32 reference for float16 inputs).

@needs_cuda
@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_cuda_matches_ref(case, dtype):
    assert upfirdn2d._plugin() is not None, 'CUDA kernel failed to build'
    shape, fspec, up, down, padding, flip_filter, gain = case
    x = _image((3, 5) + shape[2:], seed=3, dtype=dtype, device='cuda')
    f = _filter(fspec)
    f = None if f is None else f.float().cuda()
    dy = None

    def run(impl, dtype):
        nonlocal dy
        xx = x.to(dtype).requires_grad_(True)
        y = upfirdn2d.upfirdn2d(xx, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl=impl)
        if dy is None:
            dy = _image(y.shape, seed=4, dtype=x.dtype, device='cuda')
        dx, = torch.autograd.grad(y, [xx], dy.to(dtype))
        return [y.float(), dx.float()]
    for name, a, r in zip(['y', 'dx'], run('cuda', dtype), run('ref', torch.float32)):
        assert a.shape == r.shape, name
        assert (a - r).abs().max() <= 1e-3 * r.abs().max(), name

#----------------------------------------------------------------------------
