"""Sampling a trained generator as StyleGAN2-ADA's generate.py and style_mixing.py do: G_ema of a snapshot, one
latent per seed, class labels, and style mixing of the ws of two latents (Karras et al. 2019, Sec. 3.1)."""

import numpy as np
import torch

from dnnlib.util import UserError
from training import stylegan2_ada_import

#----------------------------------------------------------------------------
# G_ema of a snapshot (a .pkl or .safetensors that train.py wrote, or a URL), in float32 on `device`.

def load_generator(network, device, allow_pickle=False):
    try:
        data = stylegan2_ada_import.load_network(network, allow_pickle=allow_pickle)
    except UserError as err:
        raise UserError(f'--network: {err}') from err
    G = data.get('G_ema', data.get('G')) if isinstance(data, dict) else None
    if not isinstance(G, torch.nn.Module):
        raise UserError(f'--network: {network} holds no generator (expected G_ema or G)')
    return G.eval().requires_grad_(False).float().to(device)

def require_styles(G, what):
    """Style mixing and projection work in W: they need a StyleGAN2 generator (mapping + synthesis)."""
    if not all(hasattr(G, name) for name in ['mapping', 'synthesis', 'num_ws', 'w_dim']):
        name = f'{type(G).__module__}.{type(G).__name__}'
        raise UserError(f'--network: {what} needs a StyleGAN2 generator (mapping and synthesis networks); '
                        f'this one ({name}) has no W space')

#----------------------------------------------------------------------------
# Inputs: z of a seed is RandomState(seed).randn(z_dim), as in StyleGAN2-ADA, so seeds name the same latents there.

def seed_latents(seeds, z_dim, device):
    return torch.from_numpy(np.stack([np.random.RandomState(seed).randn(z_dim) for seed in seeds])).float().to(device)

def class_labels(G, class_idx, batch_size, device):
    c = torch.zeros([batch_size, G.c_dim], device=device)
    if G.c_dim == 0:
        if class_idx is not None:
            print('warning: --class is ignored, the network is not conditional')
        return c
    if class_idx is None:
        raise UserError(f'--class: the network is conditional ({G.c_dim} classes); choose one with --class')
    if not 0 <= class_idx < G.c_dim:
        raise UserError(f'--class: {class_idx} is out of range [0, {G.c_dim})')
    c[:, class_idx] = 1
    return c

#----------------------------------------------------------------------------
# Style mixing: image (row, col) takes the ws of the row seed, except the ws slots in `styles`, which come from
# the column seed. Slots are in the synthesis network's w order (0 = the 4x4 conv; 0-6 = up to 32x32).

def style_mixing_images(G, row_seeds, col_seeds, styles, truncation_psi=1, noise_mode='const', class_idx=None,
                        device='cpu'):
    """Returns (row_images [R, C, H, W], col_images [K, C, H, W], mixed [R, K, C, H, W]) in [-1, 1]."""
    require_styles(G, 'style mixing')
    bad = [s for s in styles if not 0 <= s < G.num_ws]
    if bad:
        raise UserError(f'--styles: {bad[0]} is out of range; this network has {G.num_ws} ws (0-{G.num_ws - 1})')
    seeds = list(row_seeds) + list(col_seeds)
    z = seed_latents(seeds, G.z_dim, device)
    c = class_labels(G, class_idx, len(seeds), device)
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=truncation_psi)
        row_ws, col_ws = ws[:len(row_seeds)], ws[len(row_seeds):]
        mixed_ws = row_ws.unsqueeze(1).repeat(1, len(col_seeds), 1, 1) # [R, K, num_ws, w_dim]
        mixed_ws[:, :, styles] = col_ws[:, styles].unsqueeze(0)
        images = G.synthesis(torch.cat([ws, mixed_ws.flatten(0, 1)]), noise_mode=noise_mode)
    rows, cols, mixed = images.split([len(row_seeds), len(col_seeds), len(row_seeds) * len(col_seeds)])
    return rows, cols, mixed.unflatten(0, [len(row_seeds), len(col_seeds)])

#----------------------------------------------------------------------------
