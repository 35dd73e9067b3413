"""Projection of an image into a StyleGAN2 generator's W space by optimising w and the noise maps (Karras et al.
2020, "Analyzing and Improving the Image Quality of StyleGAN", Sec. 5), with the schedule of StyleGAN2-ADA's
projector; searched generators whose ws slots read different mapping layers (dynamic W) get one w per layer read."""

import copy
import math
import sys

import numpy as np
import torch
import tqdm

import dnnlib

#----------------------------------------------------------------------------
# Which latents the projection optimises: one w per mapping layer that some ws slot reads. StyleGAN2 (every slot
# reads the last layer) has one; a dynamic-W genotype one per distinct W_i, so each slot starts from the average of
# the layer it was trained on.

def latent_layout(G):
    """Returns (layers, slot_latent): the 0-based mapping layers read, and the index into `layers` of each ws slot."""
    w_idx = G.mapping.w_idx if G.mapping.w_idx is not None else [G.mapping.num_layers - 1] * G.num_ws
    layers = sorted(set(w_idx))
    return layers, torch.tensor([layers.index(i) for i in w_idx])

@torch.no_grad()
def w_statistics(G, layers, c, num_samples, batch_size=200, seed=123):
    """Mean [L, w_dim] and spread [L] (root mean squared distance from the mean) of each mapping layer's output
    over `num_samples` latents; c: one label [1, c_dim] for all of them."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(num_samples, G.z_dim)).float().to(c.device)
    ws = torch.cat([G.mapping(z_batch, c.expand(len(z_batch), -1), return_all_layers=True)[:, layers, 0]
                    for z_batch in z.split(batch_size)]) # [N, L, w_dim]
    w_avg = ws.mean(dim=0)
    w_std = (ws - w_avg).square().sum(dim=2).mean(dim=0).sqrt()
    return w_avg, w_std

#----------------------------------------------------------------------------
# Noise regularisation (StyleGAN2 Sec. 5): squared autocorrelation at shift 1 in x and y, summed over a pyramid
# of 2x2-averaged copies down to 8x8, so that the noise maps cannot carry the image.

def noise_regularization(noise_maps):
    reg = 0.0
    for noise in noise_maps:
        x = noise[None, None, :, :] # [1, 1, H, W]
        while True:
            reg = reg + (x * torch.roll(x, shifts=1, dims=3)).mean().square()
            reg = reg + (x * torch.roll(x, shifts=1, dims=2)).mean().square()
            if x.shape[2] <= 8:
                break
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2)
    return reg

#----------------------------------------------------------------------------
# Image distances. Both take images scaled to [0, 255] and return features whose squared difference, summed, is the
# distance: LPIPS through NVIDIA's VGG16 TorchScript file (StyleGAN2-ADA's projector; images above 256 px are
# area-downsampled first), or the mean squared pixel difference in [-1, 1] (no download needed).

class LPIPSFeatures:
    def __init__(self, vgg16):
        self.vgg16 = vgg16 # TorchScript module called as vgg16(img, resize_images=False, return_lpips=True)

    def __call__(self, images):
        if images.shape[1] == 1:
            images = images.repeat([1, 3, 1, 1])
        if images.shape[2] > 256:
            images = torch.nn.functional.interpolate(images, size=(256, 256), mode='area')
        return self.vgg16(images, resize_images=False, return_lpips=True)

def pixel_features(images):
    x = images / 127.5 - 1
    return x.flatten(1) / math.sqrt(x[0].numel())

#----------------------------------------------------------------------------
# Optimise w (one per mapping layer read) and the const noise maps of a copy of G so that G.synthesis matches
# `target`. Defaults are StyleGAN2-ADA projector.py's.

def project(G,
    target,                             # Target image [C, H, W] in [0, 255] at G's resolution.
    features                = pixel_features, # Image features of [N, C, H, W] images in [0, 255], see above.
    c                       = None,     # Label [1, c_dim] for the w statistics of conditional networks, None = none.
    num_steps               = 1000,     # Optimisation steps.
    w_avg_samples           = 10000,    # Latents drawn for the w mean and spread.
    initial_learning_rate   = 0.1,      # Adam learning rate at the top of the ramp.
    initial_noise_factor    = 0.05,     # Noise added to w at step 0, as a fraction of the w spread.
    noise_ramp_length       = 0.75,     # Fraction of the steps over which that noise decays to zero.
    lr_rampdown_length      = 0.25,     # Fraction of the steps at the end with a cosine learning-rate ramp-down.
    lr_rampup_length        = 0.05,     # Fraction of the steps at the start with a linear ramp-up.
    regularize_noise_weight = 1e5,      # Weight of noise_regularization().
    seed                    = 303,      # Seed of the initial noise maps and of the noise added to w.
    progress                = False,    # Show a tqdm bar with the distance.
):
    """Returns dnnlib.EasyDict(ws [num_steps, num_ws, w_dim] after each step, noise {buffer name: map} of the last
    step, distances [num_steps]). G itself is left unchanged."""
    device = target.device
    G = copy.deepcopy(G).eval().requires_grad_(False).float()
    assert target.shape == (G.img_channels, G.img_resolution, G.img_resolution), 'target must be [C, H, W] at G\'s size'
    c = torch.zeros([1, G.c_dim], device=device) if c is None else c
    layers, slot_latent = latent_layout(G)
    slot_latent = slot_latent.to(device)
    w_avg, w_std = w_statistics(G, layers, c, w_avg_samples)
    generator = torch.Generator(device).manual_seed(seed)

    # The const noise maps of every synthesis layer become variables, started from fresh unit noise.
    noise_maps = {name: buf for name, buf in G.synthesis.named_buffers() if name.endswith('noise_const')}
    for buf in noise_maps.values():
        buf.copy_(torch.randn(buf.shape, generator=generator, device=device))
        buf.requires_grad = True
    w_opt = w_avg.clone().unsqueeze(0).requires_grad_(True) # [1, L, w_dim]
    optimizer = torch.optim.Adam([w_opt] + list(noise_maps.values()), betas=(0.9, 0.999), lr=initial_learning_rate)
    target_features = features(target.unsqueeze(0).to(torch.float32))

    ws_out = torch.zeros([num_steps, G.num_ws, G.w_dim], device=device)
    distances = []
    steps = tqdm.trange(num_steps, unit='step', disable=not progress, file=sys.stdout) # stderr holds only errors
    for step in steps:
        # Learning-rate and w-noise schedules.
        t = step / num_steps
        w_noise_scale = w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2 # [L]
        lr_ramp = min(1.0, (1.0 - t) / lr_rampdown_length)
        lr_ramp = (0.5 - 0.5 * math.cos(lr_ramp * math.pi)) * min(1.0, t / lr_rampup_length)
        for group in optimizer.param_groups:
            group['lr'] = initial_learning_rate * lr_ramp

        # Synthesise from noisy w, measure, step.
        w_noise = torch.randn(w_opt.shape, generator=generator, device=device) * w_noise_scale[None, :, None]
        ws = (w_opt + w_noise)[:, slot_latent]
        synth = (G.synthesis(ws, noise_mode='const') + 1) * (255 / 2)
        dist = (target_features - features(synth)).square().sum()
        loss = dist + noise_regularization(noise_maps.values()) * regularize_noise_weight
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        distances.append(dist.item())
        steps.set_postfix(dist=f'{dist.item():.4f}', loss=f'{loss.item():.4f}', refresh=False)
        ws_out[step] = w_opt.detach()[0, slot_latent]

        # Keep each noise map zero-mean with unit variance.
        with torch.no_grad():
            for buf in noise_maps.values():
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()
    noise = {name: buf.detach().clone() for name, buf in noise_maps.items()}
    return dnnlib.EasyDict(ws=ws_out, noise=noise, distances=distances)

#----------------------------------------------------------------------------
# projected_w.npz: 'w' [N, num_ws, w_dim] as StyleGAN2-ADA writes it, plus 'noise.<buffer name>' maps of the
# synthesis network, so that generate.py --projected-w reproduces proj.png exactly (StyleGAN2-ADA drops them).

def save_projected_w(path, ws, noise):
    arrays = {'w': ws.detach().cpu().numpy().astype(np.float32)}
    arrays.update({f'noise.{name}': buf.cpu().numpy().astype(np.float32) for name, buf in noise.items()})
    with dnnlib.util.atomic_write(path) as f:
        np.savez(f, **arrays)

def load_projected_w(path, G, device):
    """ws [N, num_ws, w_dim] of `path`; its noise maps, if any, are copied into G.synthesis."""
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as err: # a missing, truncated or foreign file can fail in many ways
        raise dnnlib.util.UserError(f'--projected-w: cannot read {path} as an .npz file ({type(err).__name__})') from None
    ws = arrays.pop('w', None)
    if ws is None or ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        got = 'no w array' if ws is None else f'w of shape {list(ws.shape)}'
        raise dnnlib.util.UserError(f'--projected-w: {path} has {got}; this network takes [N, {G.num_ws}, {G.w_dim}]')
    buffers = dict(G.synthesis.named_buffers())
    for key, value in arrays.items():
        name = key[len('noise.'):]
        if not key.startswith('noise.') or name not in buffers or buffers[name].shape != value.shape:
            raise dnnlib.util.UserError(f'--projected-w: {path}: {key} does not match this network\'s noise maps')
    set_noise_maps(G, {key[len('noise.'):]: torch.from_numpy(value) for key, value in arrays.items()})
    return torch.from_numpy(ws).to(device)

@torch.no_grad()
def set_noise_maps(G, noise):
    """Copy {buffer name: map} into G.synthesis, whose noise_mode='const' then uses them."""
    buffers = dict(G.synthesis.named_buffers())
    for name, value in noise.items():
        buffers[name].copy_(value)

#----------------------------------------------------------------------------
