"""Tests for training/augment.py: the ADA pipeline (Karras et al. 2020, Appendix B) and the adaptive p controller."""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training import augment
from training.augment import AUGPIPE_SPECS, AdaController, AugmentPipe

SINGLE = ['xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac', 'brightness', 'contrast', 'lumaflip',
          'hue', 'saturation', 'imgfilter', 'noise', 'cutout']

#----------------------------------------------------------------------------
# Helpers: random images in [-1, 1], a pipe with a given p, a seeded call, and reference warps written here.

def images(n=4, c=3, res=16, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand([n, c, res, res], generator=g, dtype=dtype) * 2 - 1

def make(p=1.0, **kwargs):
    pipe = AugmentPipe(**kwargs)
    pipe.p.fill_(p)
    return pipe

def run(pipe, x, seed=1):
    torch.manual_seed(seed)
    return pipe(x)

def shift(x, dx, dy):
    """x moved right by dx and down by dy, with the border filled by whole-sample reflection."""
    s = max(abs(dx), abs(dy))
    H, W = x.shape[-2:]
    xp = F.pad(x[None], [s, s, s, s], mode='reflect')[0] if s > 0 else x
    return xp[..., s - dy:s - dy + H, s - dx:s - dx + W]

def translate_inv(dx, dy, dtype=torch.float64):
    """Inverse matrix [1, 3, 3] of a move right by dx and down by dy."""
    return torch.tensor([[[1, 0, -dx], [0, 1, -dy], [0, 0, 1]]], dtype=dtype)

#----------------------------------------------------------------------------
# p = 0 is the identity, bit-exact, for every preset and channel count; every preset builds.

def test_presets_are_the_stylegan2_ada_table():
    assert sorted(AUGPIPE_SPECS) == sorted(['blit', 'geom', 'color', 'filter', 'noise', 'cutout',
                                            'bg', 'bgc', 'bgcf', 'bgcfn', 'bgcfnc'])
    assert set(AUGPIPE_SPECS['bgcfnc']) == set(SINGLE)
    assert set(AUGPIPE_SPECS['bgc']) == set(SINGLE) - {'imgfilter', 'noise', 'cutout'}
    assert all(v == 1 for spec in AUGPIPE_SPECS.values() for v in spec.values())

@pytest.mark.parametrize('name', sorted(AUGPIPE_SPECS))
def test_p0_is_identity(name):
    x = images()
    assert torch.equal(run(make(p=0, **AUGPIPE_SPECS[name]), x), x)

@pytest.mark.parametrize('channels', [1, 2, 4])
def test_p0_is_identity_any_channels(channels):
    x = images(c=channels)
    assert torch.equal(run(make(p=0, **AUGPIPE_SPECS['bgcfnc']), x), x)

#----------------------------------------------------------------------------
# p = 1, one transformation at a time: shape kept, values finite and in a sane range, images changed.

# |y| <= 1.5 for geometry (sym6 ringing); luma flip and hue reach 7/3 and 5/3 on corners of the RGB cube; the rest
# are a few standard deviations of their lognormal or normal parameter.
BOUND = dict(lumaflip=7 / 3, hue=5 / 3, brightness=2, contrast=8, saturation=16, imgfilter=8, noise=2.5)

@pytest.mark.parametrize('name', SINGLE)
def test_single_transform_p1(name):
    x = images(n=8)
    y = run(make(**{name: 1}), x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert y.abs().max() <= BOUND.get(name, 1.5)
    assert not torch.equal(y, x)

def test_bgcfnc_p1_keeps_shape_and_range():
    x = images(n=4, c=3, res=32)
    y = run(make(**AUGPIPE_SPECS['bgcfnc']), x)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() < 20

#----------------------------------------------------------------------------
# Integer transformations are exact: x-flip, 90-degree rotation, integer translation, and their composition.

def test_xflip_is_torch_flip():
    x = images(n=8)
    y = run(make(xflip=1), x)
    flipped = [torch.equal(y[i], x[i].flip(2)) for i in range(8)]
    kept = [torch.equal(y[i], x[i]) for i in range(8)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)

def test_rotate90_is_torch_rot90():
    x = images(n=16)
    y = run(make(rotate90=1), x)
    ks = []
    for i in range(16):
        matches = [k for k in range(4) if torch.equal(y[i], torch.rot90(x[i], k, [1, 2]))]
        assert len(matches) == 1
        ks += matches
    assert set(ks) == {0, 1, 2, 3}

def test_xint_is_reflected_shift():
    x = images(n=8)
    y = run(make(xint=1), x)
    r = round(0.125 * 16)
    found = []
    for i in range(8):
        matches = [(dx, dy) for dx in range(-r, r + 1) for dy in range(-r, r + 1)
                   if torch.equal(y[i], shift(x[i], dx, dy))]
        assert matches
        found.append(matches[0])
    assert len(set(found)) >= 3

def test_blit_is_flip_then_rot90_then_shift():
    x = images(n=8)
    y = run(make(**AUGPIPE_SPECS['blit']), x)
    for i in range(8):
        assert any(torch.equal(y[i], shift(torch.rot90(x[i].flip(2) if f else x[i], k, [1, 2]), dx, dy))
                   for f in [0, 1] for k in range(4) for dx in range(-2, 3) for dy in range(-2, 3))

#----------------------------------------------------------------------------
# The resampling path (pad, sym6 up, grid_sample, sym6 down) against exact and analytic references.

def test_sym6_is_orthonormal():
    h = np.asarray(augment.SYM6)
    assert abs(h.sum() - math.sqrt(2)) < 1e-10
    for m in range(6):
        assert abs(np.dot(h[2 * m:], h[:len(h) - 2 * m]) - (m == 0)) < 1e-10

def test_resample_identity_and_integer_shift_match_blit():
    x = images(n=2, c=2, res=16, dtype=torch.float64)
    f = AugmentPipe().geom_filter
    G_inv = torch.cat([translate_inv(0, 0), translate_inv(3, -2)])
    y = augment.resample(x, G_inv, f)
    assert (y[0] - x[0]).abs().max() < 1e-9
    assert (y[1] - shift(x[1], 3, -2)).abs().max() < 1e-9
    assert torch.equal(augment.blit(x, G_inv), torch.stack([x[0], shift(x[1], 3, -2)]))

def test_resample_constant_image_stays_constant():
    # Any leak of grid_sample's zero padding (too little reflect padding) would show here.
    x = torch.full([3, 1, 32, 32], 0.75, dtype=torch.float64)
    theta = torch.tensor([0.7, -2.0, 3.0], dtype=torch.float64)
    s = torch.tensor([0.8, 1.25, 0.9], dtype=torch.float64)
    ref = theta.new_zeros([3])
    G_inv = augment.rotate2d(theta, ref) @ augment.scale2d(s, 1 / s, ref) @ augment.translate2d(2.5, -1.25, ref)
    y = augment.resample(x, G_inv, AugmentPipe().geom_filter)
    assert (y - 0.75).abs().max() < 1e-9

def smooth_images(n, res, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand([n, 1, 4, 4], generator=g, dtype=torch.float64) * 2 - 1
    return F.interpolate(coarse, size=(res, res), mode='bicubic', align_corners=False)

def test_resample_follows_inverse_matrix_on_smooth_image():
    # output(u) = input(G_inv u) in centred pixel coordinates, checked on a smooth analytic image.
    res = 32
    c = torch.arange(res, dtype=torch.float64) - (res - 1) / 2
    fn = lambda x, y: torch.sin(0.25 * x + 0.15 * y) + 0.5 * torch.cos(0.1 * x - 0.2 * y)
    gy, gx = torch.meshgrid(c, c, indexing='ij')
    x = fn(gx, gy)[None, None]
    ref = torch.zeros([1], dtype=torch.float64)
    G_inv = augment.rotate2d(torch.tensor([0.5], dtype=torch.float64), ref) @ augment.scale2d(0.8, 1.1, ref) \
        @ augment.translate2d(1.3, -0.6, ref)
    y = augment.resample(x, G_inv, AugmentPipe().geom_filter)[0, 0]
    src = G_inv[0] @ torch.stack([gx.reshape(-1), gy.reshape(-1), torch.ones(res * res, dtype=torch.float64)])
    expected = fn(src[0], src[1]).reshape(res, res)
    centre = slice(8, 24)  # Sources inside the image: no reflected border.
    assert (y[centre, centre] - expected[centre, centre]).abs().max() < 1e-2

@pytest.mark.parametrize('quarter_turns', [1, 2, 3])
def test_resample_rot90_matches_exact_rot90_on_smooth_image(quarter_turns):
    # Also checks the sym6 lag compensation: without it the result is 0.4 pixel off along one axis.
    x = smooth_images(2, 32)
    ref = torch.zeros([2], dtype=torch.float64)
    G_inv = augment.rotate2d(torch.full([2], quarter_turns * math.pi / 2, dtype=torch.float64), ref)
    y = augment.resample(x, G_inv, AugmentPipe().geom_filter)
    exact = augment.blit(x, G_inv)
    assert torch.equal(exact, torch.rot90(x, quarter_turns, [2, 3]))  # out(x, y) = in(-y, x) for one turn.
    assert (y - exact).abs().max() < 1e-2

#----------------------------------------------------------------------------
# Differentiable w.r.t. the images, twice (R1 runs through the pipe).

def test_gradgradcheck_geometric_path():
    pipe = make(scale=1, rotate=1, aniso=1, xfrac=1)
    x = images(n=1, c=1, res=8, dtype=torch.float64).requires_grad_(True)
    assert not torch.equal(run(pipe, x.detach()), x.detach())
    assert torch.autograd.gradcheck(lambda t: run(pipe, t), (x,), fast_mode=True)
    assert torch.autograd.gradgradcheck(lambda t: run(pipe, t), (x,), fast_mode=True)

def r1_penalty(pipe, x, w):
    """||d D(pipe(x)) / dx||^2 for a small nonlinear D, as R1 computes it (create_graph=True)."""
    score = (torch.tanh(run(pipe, x)) * w).sum()
    grad, = torch.autograd.grad(score, x, create_graph=True)
    return grad.square().sum()

def test_double_backward_full_pipe_matches_finite_differences():
    pipe = make(**AUGPIPE_SPECS['bgcfnc'])
    x = images(n=2, c=3, res=16, dtype=torch.float64)
    g = torch.Generator().manual_seed(5)
    w = torch.randn(x.shape, generator=g, dtype=torch.float64)
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    x0 = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(r1_penalty(pipe, x0, w), x0)
    eps = 1e-6
    plus = r1_penalty(pipe, (x + eps * v).requires_grad_(True), w)
    minus = r1_penalty(pipe, (x - eps * v).requires_grad_(True), w)
    numeric = float((plus - minus).detach()) / (2 * eps)
    assert abs(numeric) > 1e-3
    assert abs(float((grad * v).sum()) - numeric) < 1e-5 * abs(numeric)

#----------------------------------------------------------------------------
# Colour transformations checked through the invariants that define them (luma axis v = (1, 1, 1) / sqrt(3)).

def chroma(x):
    return x - x.mean(dim=1, keepdim=True)

def test_brightness_adds_one_offset_per_image():
    x = images()
    d = run(make(brightness=1), x) - x
    assert (d - d.mean(dim=(1, 2, 3), keepdim=True)).abs().max() < 1e-6
    assert d.abs().max() > 1e-3

def test_contrast_scales_each_image():
    x = images()
    r = run(make(contrast=1), x) / x
    assert (r - r.mean(dim=(1, 2, 3), keepdim=True)).abs().max() < 1e-4
    assert (r.mean(dim=(1, 2, 3)) - 1).abs().max() > 1e-3

def test_lumaflip_is_householder_on_luma():
    x = images(n=8)
    y = run(make(lumaflip=1), x)
    flipped = x - 2 * x.mean(dim=1, keepdim=True)
    same = [torch.allclose(y[i], x[i], atol=1e-6) for i in range(8)]
    flip = [torch.allclose(y[i], flipped[i], atol=1e-6) for i in range(8)]
    assert all(a or b for a, b in zip(same, flip)) and any(same) and any(flip)

def test_hue_keeps_luma_and_chroma_length():
    x = images()
    y = run(make(hue=1), x)
    assert (y.mean(dim=1) - x.mean(dim=1)).abs().max() < 1e-5
    assert (chroma(y).norm(dim=1) - chroma(x).norm(dim=1)).abs().max() < 1e-5
    assert (y - x).abs().max() > 1e-2

def test_saturation_scales_chroma_keeps_luma():
    x = images()
    y = run(make(saturation=1), x)
    assert (y.mean(dim=1) - x.mean(dim=1)).abs().max() < 1e-5
    r = chroma(y).norm(dim=1) / chroma(x).norm(dim=1)
    assert (r - r.mean(dim=(1, 2), keepdim=True)).abs().max() < 1e-3
    assert (r.mean(dim=(1, 2)) - 1).abs().max() > 1e-2

def test_colour_on_grey_equals_mean_of_rgb_replica():
    grey = images(n=6, c=1)
    pipe = make(**AUGPIPE_SPECS['color'])
    rgb = run(pipe, grey.repeat(1, 3, 1, 1))
    assert torch.allclose(run(pipe, grey), rgb.mean(dim=1, keepdim=True), atol=1e-5)

def test_colour_on_other_channel_counts_treats_each_channel_as_grey():
    x = images(n=4, c=4)
    pipe = make(**AUGPIPE_SPECS['color'])
    y = run(pipe, x)
    for k in range(4):
        assert torch.allclose(y[:, k:k + 1], run(pipe, x[:, k:k + 1]), atol=1e-6)

#----------------------------------------------------------------------------
# Image-space filtering: the band bank, the separable filter, and the effect on constant images.

def test_band_filters_split_the_spectrum():
    bank = augment.band_filters()
    K = bank.shape[1]
    delta = np.zeros(K)
    delta[K // 2] = 1
    assert np.abs(bank.sum(axis=0) - delta).max() < 1e-15
    assert np.abs(bank - bank[:, ::-1]).max() < 1e-15  # Zero phase.
    n = np.arange(K) - K // 2
    response = lambda w: (bank * np.cos(w * n)).sum(axis=1)
    assert np.allclose(response(0), [1, 0, 0, 0], atol=1e-12)
    assert np.allclose(response(math.pi), [0, 0, 0, 1], atol=1e-12)
    for band, w in enumerate([math.pi / 32, 3 * math.pi / 16, 3 * math.pi / 8, 3 * math.pi / 4]):
        assert np.argmax(response(w)) == band

def test_filter_separable_matches_numpy_reference():
    x = images(n=2, c=2, res=16, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    half = torch.rand([2, 6], generator=g, dtype=torch.float64)
    taps = torch.cat([half, torch.rand([2, 1], generator=g, dtype=torch.float64), half.flip(1)], dim=1)
    y = augment.filter_separable(x, taps).numpy()
    for i in range(2):
        t = taps[i].numpy()
        for ch in range(2):
            img = np.pad(x[i, ch].numpy(), 6, mode='reflect')
            img = np.apply_along_axis(lambda r: np.convolve(r, t, mode='valid'), 1, img)
            img = np.apply_along_axis(lambda r: np.convolve(r, t, mode='valid'), 0, img)
            assert np.abs(img - y[i, ch]).max() < 1e-12

def test_imgfilter_keeps_constant_images_constant():
    x = torch.full([4, 3, 16, 16], 0.5)
    y = run(make(imgfilter=1), x)
    assert (y - y.mean(dim=(1, 2, 3), keepdim=True)).abs().max() < 1e-5
    assert (y.mean(dim=(1, 2, 3)) - 0.5).abs().max() > 1e-3

#----------------------------------------------------------------------------
# Noise and cutout.

def test_noise_is_zero_mean_and_small():
    x = images(res=32)
    d = run(make(noise=1), x) - x
    assert d.abs().max() > 0
    assert d.mean(dim=(1, 2, 3)).abs().max() < 0.05
    assert d.std(dim=(1, 2, 3)).max() < 0.5

def test_cutout_zeroes_one_square():
    x = images(n=8, res=16) + 3  # No zeros in the input.
    y = run(make(cutout=1), x)
    assert torch.all((y == x) | (y == 0))
    for i in range(8):
        rows, cols = (y[i] == 0).all(dim=0).nonzero(as_tuple=True)
        assert torch.equal(y[i] == 0, (y[i] == 0).all(dim=0, keepdim=True).expand(3, -1, -1))
        if rows.numel():
            box = y[i, :, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            assert torch.all(box == 0)
            assert rows.max() - rows.min() + 1 <= 8 and cols.max() - cols.min() + 1 <= 8
    assert (y == 0).any()

#----------------------------------------------------------------------------
# The adaptive p controller: direction, step size, clamp, interval, fixed mode, state round trip.

def controller(p=0.5, **kwargs):
    pipe = AugmentPipe(**AUGPIPE_SPECS['bgc'])
    return pipe, AdaController(pipe, batch_size=32, p=p, **kwargs)

def feed(ctrl, value, steps):
    for _ in range(steps):
        ctrl.accumulate(torch.full([32, 1], value))
        ctrl.step()

def test_step_size_formula():
    _, ctrl = controller(target=0.6, ada_kimg=500, interval=4)
    assert ctrl.step_size == 32 * 4 / (500 * 1000)

def test_p_rises_when_rt_above_target():
    _, ctrl = controller()
    feed(ctrl, 2.0, 3)
    assert ctrl.p == 0.5  # No update before `interval` steps.
    feed(ctrl, 2.0, 1)
    assert ctrl.last_rt == 1.0
    assert ctrl.p == pytest.approx(0.5 + 32 * 4 / 500000, abs=1e-7)

def test_p_falls_when_rt_below_target_and_clamps_at_zero():
    _, ctrl = controller()
    feed(ctrl, -1.0, 4)
    assert ctrl.p == pytest.approx(0.5 - 32 * 4 / 500000, abs=1e-7)
    _, ctrl = controller(p=0.0001)
    feed(ctrl, -1.0, 8)
    assert ctrl.p == 0

def test_rt_is_mean_sign_over_the_interval():
    _, ctrl = controller(target=0.6, interval=2)
    ctrl.accumulate(torch.tensor([1.0, 2.0, -3.0, 0.5]))  # Mean sign 0.5.
    ctrl.step()
    ctrl.accumulate(torch.tensor([4.0, 1.0, 1.0, 1.0]))   # Mean sign 1.0.
    ctrl.step()
    assert ctrl.last_rt == 0.75
    assert ctrl.p == pytest.approx(0.5 + 32 * 2 / 500000, abs=1e-7)

def test_fixed_p_never_moves():
    pipe, ctrl = controller(p=0.3, target=None)
    assert float(pipe.p) == pytest.approx(0.3)
    feed(ctrl, 1.0, 16)
    assert float(pipe.p) == pytest.approx(0.3)

def test_p_none_keeps_the_pipe_p():
    pipe = AugmentPipe()
    pipe.p.fill_(0.25)
    AdaController(pipe, batch_size=8, p=None)
    assert float(pipe.p) == 0.25

def test_state_round_trip_continues_identically():
    _, a = controller()
    feed(a, 1.0, 6)  # Mid-interval: 2 steps accumulated.
    state = pickle.loads(pickle.dumps(a.state_dict()))
    _, b = controller(p=0.9)
    b.load_state_dict(state)
    assert b.state_dict() == a.state_dict()
    for ctrl in [a, b]:
        feed(ctrl, -1.0, 1)
        feed(ctrl, 1.0, 5)
    assert a.p == b.p and a.state_dict() == b.state_dict()

#----------------------------------------------------------------------------
# Pickling through torch_utils.persistence keeps the flags and p.

def test_pickle_round_trip():
    pipe = make(p=0.4, **AUGPIPE_SPECS['bgcfnc'])
    clone = pickle.loads(pickle.dumps(pipe))
    assert float(clone.p) == pytest.approx(0.4)
    x = images()
    assert torch.equal(run(clone, x), run(pipe, x))

#----------------------------------------------------------------------------
