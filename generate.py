"""Generate images from a trained network (a snapshot that train.py wrote, a safe .safetensors file, or a URL)."""

import math
import os

import click
import numpy as np
import torch

import dnnlib
from dnnlib.util import UserError, cli_main, parse_int_list
from torch_utils import checkpoint
from training.image_grid import save_image, save_image_grid

#----------------------------------------------------------------------------
# Load the generator to sample from: G_ema of a training snapshot, in float32 on the chosen device.

def load_generator(network, device, allow_pickle=False):
    try:
        data = checkpoint.load_network(network, allow_pickle=allow_pickle)
    except UserError as err:
        raise UserError(f'--network: {err}') from err
    G = data.get('G_ema', data.get('G')) if isinstance(data, dict) else None
    if not isinstance(G, torch.nn.Module):
        raise UserError(f'--network: {network} holds no generator (expected G_ema or G)')
    return G.eval().requires_grad_(False).float().to(device)

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

@click.command()
@click.option('--network', 'network',    help='Network snapshot (.pkl, .safetensors, or URL)', metavar='PATH', required=True)
@click.option('--seeds',                 help='Random seeds, e.g. 0-63,100', metavar='LIST', type=parse_int_list, default='0-7', show_default=True)
@click.option('--trunc', 'truncation_psi', help='Truncation psi', metavar='FLOAT', type=float, default=1, show_default=True)
@click.option('--class', 'class_idx',    help='Class label (conditional networks)', metavar='INT', type=click.IntRange(min=0))
@click.option('--noise-mode',            help='Noise mode', type=click.Choice(['const', 'random', 'none']), default='const', show_default=True)
@click.option('--outdir',                help='Where to save the output images', metavar='DIR', required=True)
@click.option('--grid',                  help='Write one grid.png instead of one file per seed', is_flag=True)
@click.option('--batch',                 help='Images generated at a time', metavar='INT', type=click.IntRange(min=1), default=16, show_default=True)
@click.option('--device',                help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
@click.option('--allow-pickle',          help='Unpickle a foreign network pickle (runs its code: trusted files only)', is_flag=True)
def main(network, seeds, truncation_psi, class_idx, noise_mode, outdir, grid, batch, device, allow_pickle):
    """Generate images using a trained network.

    \b
    Examples:
    python generate.py --network=runs/00000-fmnist32/network-snapshot-000100.pkl --seeds=0-63 --outdir=out --grid
    python generate.py --network=net.pkl --seeds=0,7,42 --trunc=0.7 --outdir=out
    """
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    G = load_generator(network, device, allow_pickle)
    os.makedirs(outdir, exist_ok=True)

    # Generate in batches, one latent per seed as StyleGAN2-ADA draws it.
    images = []
    for start in range(0, len(seeds), batch):
        batch_seeds = seeds[start:start + batch]
        z = torch.from_numpy(np.stack([np.random.RandomState(seed).randn(G.z_dim) for seed in batch_seeds])).float().to(device)
        c = class_labels(G, class_idx, len(batch_seeds), device)
        with torch.no_grad():
            img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
        images.append(img.float().cpu().numpy())
    images = np.concatenate(images)

    if grid:
        gw = math.ceil(math.sqrt(len(seeds)))
        path = os.path.join(outdir, 'grid.png')
        save_image_grid(images, path, grid_size=(gw, math.ceil(len(seeds) / gw)))
        print(f'Saved {len(seeds)} images as {path}')
        return
    for seed, img in zip(seeds, images):
        save_image(img, os.path.join(outdir, f'seed{seed:04d}.png'))
    print(f'Saved {len(seeds)} images to {outdir}')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
