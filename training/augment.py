"""Adaptive discriminator augmentation (ADA) from "Training Generative Adversarial Networks with Limited Data"
(Karras et al., NeurIPS 2020): the augmentation pipeline of Appendix B and the adaptive p controller of Section 3."""

import math

import numpy as np
import torch

from torch_utils import misc
from torch_utils import persistence
from torch_utils.ops import grid_sample_gradfix
from torch_utils.ops import upfirdn2d

#----------------------------------------------------------------------------
# Filter coefficients. Symlet-6 low-pass decomposition filter (PyWavelets 'sym6' dec_lo): the 2x up/downsampling pair
# around the geometric warp, as in Appendix B. Orthonormal, so upsampling then downsampling is the identity.

SYM6 = [
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
]

# Half-band low-pass filter: autocorrelation of sym2, i.e. the maximally flat [-1, 0, 9, 16, 9, 0, -1] / 32.
# Zero phase, so the band filters built from it never shift the image.
HALFBAND = [-1 / 32, 0, 9 / 32, 16 / 32, 9 / 32, 0, -1 / 32]

# Expected power of natural images in the four bands [0, pi/8], [pi/8, pi/4], [pi/4, pi/2], [pi/2, pi]
# (Appendix B, image-space filtering): the gains are normalised so that this total stays 1.
BAND_POWER = [10 / 13, 1 / 13, 1 / 13, 1 / 13]

#----------------------------------------------------------------------------
# The presets of StyleGAN2-ADA's train.py --augpipe: probability multipliers per transformation. 'bgc' is the
# paper's default pipeline (Section 2.3, Figure 4).

AUGPIPE_SPECS = {
    'blit':   dict(xflip=1, rotate90=1, xint=1),
    'geom':   dict(scale=1, rotate=1, aniso=1, xfrac=1),
    'color':  dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    'filter': dict(imgfilter=1),
    'noise':  dict(noise=1),
    'cutout': dict(cutout=1),
    'bg':     dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1),
    'bgc':    dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                   brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    'bgcf':   dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                   brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, imgfilter=1),
    'bgcfn':  dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                   brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, imgfilter=1, noise=1),
    'bgcfnc': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                   brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1, imgfilter=1, noise=1, cutout=1),
}

#----------------------------------------------------------------------------
# Band-pass filters that split [0, pi] into the four bands of BAND_POWER and sum to a unit impulse.
# Cascading the half-band filter at 1x, 2x and 4x dilation gives low-pass filters with cutoffs pi/2, pi/4, pi/8.

def band_filters():
    """Returns a float64 array [4, K]: centred 1-D band-pass filters, lowest band first, summing to a delta."""
    a = np.asarray(HALFBAND, dtype=np.float64)
    def dilate(f, k):
        out = np.zeros((len(f) - 1) * k + 1)
        out[::k] = f
        return out
    lowpass = [a]                                           # Cutoff pi/2.
    lowpass.append(np.convolve(lowpass[-1], dilate(a, 2)))  # Cutoff pi/4.
    lowpass.append(np.convolve(lowpass[-1], dilate(a, 4)))  # Cutoff pi/8.
    size = len(lowpass[-1])
    def centred(f):
        pad = (size - len(f)) // 2
        return np.pad(f, [pad, pad])
    delta = centred(np.ones(1))
    l1, l2, l3 = [centred(f) for f in lowpass]
    return np.stack([l3, l2 - l3, l1 - l2, delta - l1])

#----------------------------------------------------------------------------
# Batched homogeneous matrices from per-image parameters: 3x3 for 2-D geometry, 4x4 for RGB colour.

def _matrix(*rows, ref):
    """Stack scalars or [N] tensors into [N, len(rows), len(rows[0])], with the dtype and device of `ref` [N]."""
    elems = [torch.as_tensor(e, dtype=ref.dtype, device=ref.device).broadcast_to(ref.shape)
             for row in rows for e in row]
    return torch.stack(elems, dim=-1).reshape(ref.shape[0], len(rows), len(rows[0]))

def translate2d(tx, ty, ref):
    return _matrix([1, 0, tx], [0, 1, ty], [0, 0, 1], ref=ref)

def scale2d(sx, sy, ref):
    return _matrix([sx, 0, 0], [0, sy, 0], [0, 0, 1], ref=ref)

def rotate2d(theta, ref):
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrix([c, -s, 0], [s, c, 0], [0, 0, 1], ref=ref)

def translate3d(tx, ty, tz, ref):
    return _matrix([1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1], ref=ref)

def scale3d(sx, sy, sz, ref):
    return _matrix([sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1], ref=ref)

def rotate3d(v, theta, ref):
    """Rotation by `theta` [N] about the unit axis `v` (3 floats), Rodrigues' formula."""
    vx, vy, vz = v
    c, s = torch.cos(theta), torch.sin(theta)
    d = 1 - c
    return _matrix([vx * vx * d + c, vx * vy * d - vz * s, vx * vz * d + vy * s, 0],
                   [vy * vx * d + vz * s, vy * vy * d + c, vy * vz * d - vx * s, 0],
                   [vz * vx * d - vy * s, vz * vy * d + vx * s, vz * vz * d + c, 0],
                   [0, 0, 0, 1], ref=ref)

#----------------------------------------------------------------------------
# Padding by whole-sample reflection ('reflect' in torch) of any width: F.pad needs pad < size, so pad in rounds.

def reflect_pad(x, pad):
    """Pad [N, C, H, W] by pad = [left, right, top, bottom] >= 0 with the mirror extension of the image."""
    left, right, top, bottom = pad
    while left > 0 or right > 0 or top > 0 or bottom > 0:
        h, w = x.shape[2], x.shape[3]
        step = [min(left, w - 1), min(right, w - 1), min(top, h - 1), min(bottom, h - 1)]
        if max(step) == 0:
            raise ValueError(f'reflect_pad: cannot reflect an image of size {h}x{w}')
        x = torch.nn.functional.pad(x, step, mode='reflect')
        left, right, top, bottom = left - step[0], right - step[1], top - step[2], bottom - step[3]
    return x

def reflect_index(i, size):
    """Fold integer indices into [0, size) the way reflect_pad extends an image."""
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - i, i)

#----------------------------------------------------------------------------
# Geometric warp of images by per-image inverse matrices G_inv (output pixel -> input pixel, centred pixel units,
# x right, y down). Integer lattice maps are gathered exactly; the rest are resampled as in Appendix B: reflect
# padding, 2x sym6 upsampling, bilinear grid_sample, 2x sym6 downsampling.

def _apply_to(images, mask, fn):
    """images with fn applied to the images where mask [N] is True; the others pass through untouched."""
    idx = mask.nonzero()[:, 0]
    if idx.numel() == 0:
        return images
    if idx.numel() == images.shape[0]:
        return fn(images, idx)
    return images.index_copy(0, idx, fn(images[idx], idx))

def _pixel_centres(size, ref):
    """Centred coordinates of the pixel centres along one axis of `size` pixels."""
    return torch.arange(size, dtype=ref.dtype, device=ref.device) - (size - 1) / 2

def _source_coords(G_inv, xs, ys):
    """Source coordinates [N, 2, len(ys) * len(xs)] of the output points on the grid xs x ys."""
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    points = torch.stack([gx.reshape(-1), gy.reshape(-1), torch.ones_like(gx).reshape(-1)])
    return G_inv[:, :2, :] @ points

def blit(images, G_inv):
    """Warp by matrices that map the pixel lattice onto itself: an exact gather with reflected borders."""
    N, C, H, W = images.shape
    src = _source_coords(G_inv, _pixel_centres(W, G_inv), _pixel_centres(H, G_inv))
    ix = reflect_index(torch.round(src[:, 0] + (W - 1) / 2).long(), W)
    iy = reflect_index(torch.round(src[:, 1] + (H - 1) / 2).long(), H)
    flat = (iy * W + ix).unsqueeze(1).expand(N, C, H * W)
    return images.reshape(N, C, H * W).gather(2, flat).reshape(N, C, H, W)

def resample(images, G_inv, geom_filter):
    """Warp by arbitrary matrices through the 2x-upsampled image (Appendix B)."""
    N, C, H, W = images.shape
    margin = geom_filter.shape[0] // 4  # Support of the downsampling filter, in output pixels.

    # sym6 is only nearly linear-phase: its centre of mass sits off the middle tap, so the 2x image lags by `lag`
    # pixels. Downsampling undoes that only if the warp commutes with translation; conjugating the warp by the lag
    # keeps rotations and flips centred too.
    taps = torch.arange(geom_filter.shape[0]).to(geom_filter)
    lag = float(((taps * geom_filter).sum() / geom_filter.sum() - (geom_filter.shape[0] - 1) / 2) / 2)
    ref = G_inv.new_zeros([N])
    G_inv = translate2d(lag, lag, ref) @ G_inv @ translate2d(-lag, -lag, ref)

    # Pad the input far enough for every sample of the output plus its margin, as the corners map. At most one image
    # size per side: past that a strongly zoomed-out image meets zeros, and memory stays bounded by 9x the batch.
    ex, ey = W / 2 + margin, H / 2 + margin
    corners = _source_coords(G_inv, torch.tensor([-ex, ex]).to(G_inv), torch.tensor([-ey, ey]).to(G_inv))
    lo = corners.amin(dim=(0, 2)).tolist()
    hi = corners.amax(dim=(0, 2)).tolist()
    extra = margin + 1  # Upsampling filter support plus the bilinear footprint.
    pad = [min(max(math.ceil(-lo[0] - W / 2), 0) + extra, W - 1), min(max(math.ceil(hi[0] - W / 2), 0) + extra, W - 1),
           min(max(math.ceil(-lo[1] - H / 2), 0) + extra, H - 1), min(max(math.ceil(hi[1] - H / 2), 0) + extra, H - 1)]
    x = reflect_pad(images, pad)
    x = upfirdn2d.upsample2d(x, geom_filter, up=2)
    Hp, Wp = H + pad[2] + pad[3], W + pad[0] + pad[1]
    misc.assert_shape(x, [N, C, Hp * 2, Wp * 2])

    # Sample the output and its margin at 2x; normalised coordinates are the same at 1x and 2x.
    Ho, Wo = (H + 2 * margin) * 2, (W + 2 * margin) * 2
    xs = (torch.arange(Wo).to(G_inv) + 0.5) / 2 - ex
    ys = (torch.arange(Ho).to(G_inv) + 0.5) / 2 - ey
    src = _source_coords(G_inv, xs, ys)
    gx = (src[:, 0] + W / 2 + pad[0]) * (2 / Wp) - 1
    gy = (src[:, 1] + H / 2 + pad[2]) * (2 / Hp) - 1
    grid = torch.stack([gx, gy], dim=-1).reshape(N, Ho, Wo, 2).to(images.dtype)
    x = grid_sample_gradfix.grid_sample(x, grid)

    # Downsample with the adjoint filter (flipped), then drop the margin.
    x = upfirdn2d.downsample2d(x, geom_filter, down=2, flip_filter=True)
    misc.assert_shape(x, [N, C, H + 2 * margin, W + 2 * margin])
    return x[:, :, margin:margin + H, margin:margin + W]

def warp(images, G_inv, geom_filter):
    """Apply per-image inverse matrices [N, 3, 3]; identity images come back bit-exact."""
    N, C, H, W = images.shape
    misc.assert_shape(G_inv, [N, 3, 3])
    eye = torch.eye(3, dtype=G_inv.dtype, device=G_inv.device)
    moved = (G_inv != eye).flatten(1).any(dim=1)
    src = _source_coords(G_inv, _pixel_centres(W, G_inv), _pixel_centres(H, G_inv))
    on_lattice = ((src[:, 0] + (W - 1) / 2) - torch.round(src[:, 0] + (W - 1) / 2)).abs().amax(dim=1) < 1e-3
    on_lattice &= ((src[:, 1] + (H - 1) / 2) - torch.round(src[:, 1] + (H - 1) / 2)).abs().amax(dim=1) < 1e-3
    images = _apply_to(images, moved & on_lattice, lambda x, idx: blit(x, G_inv[idx]))
    images = _apply_to(images, moved & ~on_lattice, lambda x, idx: resample(x, G_inv[idx], geom_filter))
    return images

#----------------------------------------------------------------------------
# The ADA augmentation pipeline (Appendix B). Each transformation runs on each image with probability
# p * multiplier, independently; the geometric ones compose one 3x3 matrix per image and the colour ones one 4x4.
# Images are expected in [-1, 1], the range D sees. Colour on images with C != 3 channels: each channel is taken as a
# grey image (y, y, y), transformed, and averaged back, so brightness, contrast and luma flip act and hue and
# saturation do nothing.

@persistence.persistent_class
class AugmentPipe(torch.nn.Module):
    def __init__(self,
        xflip           = 0,            # Probability multiplier for x-flip.
        rotate90        = 0,            # Probability multiplier for 90 degree rotations.
        xint            = 0,            # Probability multiplier for integer translation.
        xint_max        = 0.125,        # Range of integer translation, relative to image dimensions.
        scale           = 0,            # Probability multiplier for isotropic scaling.
        rotate          = 0,            # Probability multiplier for arbitrary rotation.
        aniso           = 0,            # Probability multiplier for anisotropic scaling.
        xfrac           = 0,            # Probability multiplier for fractional translation.
        scale_std       = 0.2,          # Log2 standard deviation of isotropic scaling.
        rotate_max      = 1,            # Range of arbitrary rotation, 1 = full circle.
        aniso_std       = 0.2,          # Log2 standard deviation of anisotropic scaling.
        xfrac_std       = 0.125,        # Standard deviation of fractional translation, relative to image dimensions.
        brightness      = 0,            # Probability multiplier for brightness.
        contrast        = 0,            # Probability multiplier for contrast.
        lumaflip        = 0,            # Probability multiplier for luma flip.
        hue             = 0,            # Probability multiplier for hue rotation.
        saturation      = 0,            # Probability multiplier for saturation.
        brightness_std  = 0.2,          # Standard deviation of brightness.
        contrast_std    = 0.5,          # Log2 standard deviation of contrast.
        hue_max         = 1,            # Range of hue rotation, 1 = full circle.
        saturation_std  = 1,            # Log2 standard deviation of saturation.
        imgfilter       = 0,            # Probability multiplier for image-space filtering.
        imgfilter_bands = [1, 1, 1, 1], # Probability multipliers for the four frequency bands.
        imgfilter_std   = 1,            # Log2 standard deviation of the band gains.
        noise           = 0,            # Probability multiplier for additive RGB noise.
        cutout          = 0,            # Probability multiplier for cutout.
        noise_std       = 0.1,          # Standard deviation of additive RGB noise.
        cutout_size     = 0.5,          # Size of the cutout rectangle, relative to image dimensions.
    ):
        super().__init__()
        if len(imgfilter_bands) != len(BAND_POWER):
            raise ValueError(f'AugmentPipe: imgfilter_bands needs {len(BAND_POWER)} entries, '
                             f'got {len(imgfilter_bands)}')
        self.register_buffer('p', torch.ones([]))  # Overall probability multiplier, set by the training loop or ADA.

        self.xflip, self.rotate90, self.xint = float(xflip), float(rotate90), float(xint)
        self.xint_max = float(xint_max)
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max = float(scale_std), float(rotate_max)
        self.aniso_std, self.xfrac_std = float(aniso_std), float(xfrac_std)
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = float(brightness_std), float(contrast_std)
        self.hue_max, self.saturation_std = float(hue_max), float(saturation_std)
        self.imgfilter, self.imgfilter_bands = float(imgfilter), [float(b) for b in imgfilter_bands]
        self.imgfilter_std = float(imgfilter_std)
        self.noise, self.cutout = float(noise), float(cutout)
        self.noise_std, self.cutout_size = float(noise_std), float(cutout_size)

        # Float64 so that float64 inputs (gradcheck) see exact taps; cast to the images' dtype on use.
        sym6 = upfirdn2d.setup_filter(torch.tensor(SYM6, dtype=torch.float64))
        self.register_buffer('geom_filter', sym6, persistent=False)
        self.register_buffer('band_filters', torch.as_tensor(band_filters(), dtype=torch.float64), persistent=False)

    def _gate(self, multiplier, ref):
        """Per-image decision [N] to apply a transformation with probability p * multiplier."""
        return torch.rand(ref.shape, device=ref.device) < self.p * multiplier

    def forward(self, images):
        misc.assert_shape(images, [None, None, None, None])
        N, C, H, W = images.shape
        device = images.device
        dtype = torch.promote_types(images.dtype, torch.float32)
        ref = torch.zeros([N], dtype=dtype, device=device)
        rand = lambda *shape: torch.rand([N, *shape], dtype=dtype, device=device)
        randn = lambda *shape: torch.randn([N, *shape], dtype=dtype, device=device)

        # Geometric transformations, composed as inverse matrices (output -> input) in the order of Appendix B.
        G_inv = torch.eye(3, dtype=dtype, device=device).repeat(N, 1, 1)
        if self.xflip > 0:
            i = torch.where(self._gate(self.xflip, ref), torch.floor(rand() * 2), 0)
            G_inv = G_inv @ scale2d(1 - 2 * i, 1, ref)
        if self.rotate90 > 0:
            i = torch.where(self._gate(self.rotate90, ref), torch.floor(rand() * 4), 0)
            G_inv = G_inv @ rotate2d(-math.pi / 2 * i, ref)
        if self.xint > 0:
            t = torch.where(self._gate(self.xint, ref)[:, None], (rand(2) * 2 - 1) * self.xint_max, 0)
            G_inv = G_inv @ translate2d(-torch.round(t[:, 0] * W), -torch.round(t[:, 1] * H), ref)
        if self.scale > 0:
            s = torch.where(self._gate(self.scale, ref), torch.exp2(randn() * self.scale_std), 1)
            G_inv = G_inv @ scale2d(1 / s, 1 / s, ref)
        p_rot = 1 - torch.sqrt((1 - self.p * self.rotate).clamp(min=0))  # Pre and post: P(any rotation) = p.
        if self.rotate > 0:
            theta = torch.where(rand() < p_rot, (rand() * 2 - 1) * math.pi * self.rotate_max, 0)
            G_inv = G_inv @ rotate2d(-theta, ref)
        if self.aniso > 0:
            s = torch.where(self._gate(self.aniso, ref), torch.exp2(randn() * self.aniso_std), 1)
            G_inv = G_inv @ scale2d(1 / s, s, ref)
        if self.rotate > 0:
            theta = torch.where(rand() < p_rot, (rand() * 2 - 1) * math.pi * self.rotate_max, 0)
            G_inv = G_inv @ rotate2d(-theta, ref)
        if self.xfrac > 0:
            t = torch.where(self._gate(self.xfrac, ref)[:, None], randn(2) * self.xfrac_std, 0)
            G_inv = G_inv @ translate2d(-t[:, 0] * W, -t[:, 1] * H, ref)
        images = warp(images, G_inv, self.geom_filter.to(images.dtype))

        # Colour transformations, composed as one 4x4 matrix acting on (r, g, b, 1).
        M = torch.eye(4, dtype=dtype, device=device).repeat(N, 1, 1)
        luma = np.ones(3) / np.sqrt(3)  # Luma axis v of Appendix B.
        vv = misc.constant(np.pad(np.outer(luma, luma), [0, 1]), dtype=dtype, device=device)
        if self.brightness > 0:
            b = torch.where(self._gate(self.brightness, ref), randn() * self.brightness_std, 0)
            M = translate3d(b, b, b, ref) @ M
        if self.contrast > 0:
            c = torch.where(self._gate(self.contrast, ref), torch.exp2(randn() * self.contrast_std), 1)
            M = scale3d(c, c, c, ref) @ M
        if self.lumaflip > 0:
            i = torch.where(self._gate(self.lumaflip, ref), torch.floor(rand() * 2), 0)
            M = (torch.eye(4, dtype=dtype, device=device) - 2 * vv * i[:, None, None]) @ M  # Householder reflection.
        if self.hue > 0:
            theta = torch.where(self._gate(self.hue, ref), (rand() * 2 - 1) * math.pi * self.hue_max, 0)
            M = rotate3d(luma.tolist(), theta, ref) @ M
        if self.saturation > 0:
            s = torch.where(self._gate(self.saturation, ref), torch.exp2(randn() * self.saturation_std), 1)
            rgb_eye = misc.constant(np.diag([1, 1, 1, 0]), dtype=dtype, device=device)
            M = (torch.eye(4, dtype=dtype, device=device) + (rgb_eye - vv) * (s[:, None, None] - 1)) @ M
        if max(self.brightness, self.contrast, self.lumaflip, self.hue, self.saturation) > 0:
            M = M.to(images.dtype)
            if C == 3:
                images = (M[:, :3, :3] @ images.reshape(N, C, H * W) + M[:, :3, 3:]).reshape(N, C, H, W)
            else:
                gain = M[:, :3, :3].sum(dim=2).mean(dim=1)
                bias = M[:, :3, 3].mean(dim=1)
                images = images * gain[:, None, None, None] + bias[:, None, None, None]

        # Image-space filtering: per-band gains, normalised to keep the expected power (Appendix B).
        if self.imgfilter > 0:
            gains, touched = [], torch.zeros([N], dtype=torch.bool, device=device)
            for band_multiplier in self.imgfilter_bands:
                gate = self._gate(self.imgfilter * band_multiplier, ref)
                gains.append(torch.where(gate, torch.exp2(randn() * self.imgfilter_std), 1))
                touched |= gate
            g = torch.stack(gains, dim=1)
            power = misc.constant(BAND_POWER, dtype=dtype, device=device)
            g = g / (g.square() * power).sum(dim=1, keepdim=True).sqrt()
            taps = (g @ self.band_filters.to(dtype)).to(images.dtype)
            images = _apply_to(images, touched, lambda x, idx: filter_separable(x, taps[idx]))

        # Additive RGB noise with per-image sigma ~ |N(0, noise_std^2)|.
        if self.noise > 0:
            sigma = torch.where(self._gate(self.noise, ref), (randn() * self.noise_std).abs(), 0)
            images = images + torch.randn_like(images) * sigma.to(images.dtype)[:, None, None, None]

        # Cutout: zero a square of cutout_size centred uniformly in the image.
        if self.cutout > 0:
            gate = self._gate(self.cutout, ref)
            centre = rand(2)
            half = self.cutout_size / 2
            cx = (torch.arange(W, dtype=dtype, device=device) + 0.5) / W
            cy = (torch.arange(H, dtype=dtype, device=device) + 0.5) / H
            out_x = (cx[None, :] - centre[:, :1]).abs() >= half
            out_y = (cy[None, :] - centre[:, 1:]).abs() >= half
            keep = out_x[:, None, :] | out_y[:, :, None] | ~gate[:, None, None]
            images = images * keep[:, None].to(images.dtype)

        return images

#----------------------------------------------------------------------------
# Separable per-image filtering with reflected borders: taps [N, K] applied along x, then along y.

def filter_separable(images, taps):
    N, C, H, W = images.shape
    K = taps.shape[1]
    misc.assert_shape(taps, [N, K])
    weight = taps.repeat_interleave(C, dim=0)  # One filter per (image, channel) group.
    x = images.reshape(1, N * C, H, W)
    x = reflect_pad(x, [K // 2, K // 2, 0, 0])
    x = torch.nn.functional.conv2d(x, weight.reshape(N * C, 1, 1, K), groups=N * C)
    x = reflect_pad(x, [0, 0, K // 2, K // 2])
    x = torch.nn.functional.conv2d(x, weight.reshape(N * C, 1, K, 1), groups=N * C)
    return x.reshape(N, C, H, W)

#----------------------------------------------------------------------------
# Adaptive p (Section 3): r_t = E[sign(D(real))] over `interval` steps; p moves by sign(r_t - target) times a step
# that would take p from 0 to 1 in ada_kimg thousand images, clamped at 0. target=None is fixed-p mode.

class AdaController:
    def __init__(self,
        augment_pipe,                   # AugmentPipe whose p this controls.
        batch_size,                     # Total batch size over all GPUs.
        target          = 0.6,          # Target r_t, None = fixed p (no updates).
        ada_kimg        = 500,          # Images (thousands) for p to go from 0 to 1 at full speed.
        interval        = 4,            # Steps between p updates.
        p               = 0,            # Initial p, None = keep the pipe's current p.
    ):
        self.augment_pipe = augment_pipe
        self.batch_size = int(batch_size)
        self.target = None if target is None else float(target)
        self.ada_kimg = float(ada_kimg)
        self.interval = int(interval)
        if p is not None:
            self.augment_pipe.p.copy_(torch.as_tensor(float(p)))
        device = self.augment_pipe.p.device
        self._signs = torch.zeros([2], dtype=torch.float64, device=device)  # Sum of signs, count of reals.
        self._steps = 0  # Steps since the last update.
        self.last_rt = None  # r_t used by the last update, for logging.

    @property
    def p(self):
        return float(self.augment_pipe.p)

    @property
    def step_size(self):
        """Change of p per update: batch_size * interval / (ada_kimg * 1000)."""
        return self.batch_size * self.interval / (self.ada_kimg * 1000)

    def accumulate(self, real_logits):
        """Record D's outputs on (augmented) reals; kept on the device so no sync happens here."""
        if self.target is None:
            return
        signs = real_logits.detach().sign().to(self._signs)
        self._signs += torch.stack([signs.sum(), torch.as_tensor(signs.numel()).to(self._signs)])

    def step(self):
        """Call once per training step; every `interval` steps p is updated from the accumulated signs."""
        if self.target is None:
            return
        self._steps += 1
        if self._steps < self.interval:
            return
        signs = self._signs.clone()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(signs)
        total, count = signs.tolist()
        self._signs.zero_()
        self._steps = 0
        if count == 0:
            return
        self.last_rt = total / count
        adjust = np.sign(self.last_rt - self.target) * self.step_size
        p = self.augment_pipe.p
        p.copy_((p + adjust).clamp(min=0))

    def state_dict(self):
        return dict(p=self.p, sign_sum=float(self._signs[0]), sign_count=float(self._signs[1]),
                    steps=self._steps, last_rt=self.last_rt)

    def load_state_dict(self, state):
        self.augment_pipe.p.copy_(torch.as_tensor(float(state['p'])))
        self._signs.copy_(torch.tensor([state['sign_sum'], state['sign_count']], dtype=torch.float64))
        self._steps = int(state['steps'])
        self.last_rt = state['last_rt']

#----------------------------------------------------------------------------
