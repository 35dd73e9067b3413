"""Style-mixing grid of a trained StyleGAN2 generator (searched or not), as StyleGAN2-ADA's style_mixing.py draws it."""

import os

import click
import numpy as np
import torch

from dnnlib.util import cli_main, INT_LIST
import nas.backbones # every backbone's networks, also under the names older snapshots use
from training.image_grid import save_image, save_image_grid
from training.sampling import load_generator, style_mixing_images

#----------------------------------------------------------------------------

@click.command()
@click.option('--network', 'network',    help='Network snapshot (.pkl, .safetensors, or URL)', metavar='PATH', required=True)
@click.option('--rows', 'row_seeds',     help='Seeds of the rows (the images styles are taken into)', metavar='LIST', type=INT_LIST, required=True)
@click.option('--cols', 'col_seeds',     help='Seeds of the columns (the images styles come from)', metavar='LIST', type=INT_LIST, required=True)
@click.option('--styles',                help='ws slots taken from the column seed  [default: 0-6, capped at the network\'s ws]', metavar='LIST', type=INT_LIST)
@click.option('--trunc', 'truncation_psi', help='Truncation psi', metavar='FLOAT', type=float, default=1, show_default=True)
@click.option('--class', 'class_idx',    help='Class label (conditional networks)', metavar='INT', type=click.IntRange(min=0))
@click.option('--noise-mode',            help='Noise mode', type=click.Choice(['const', 'random', 'none']), default='const', show_default=True)
@click.option('--outdir',                help='Where to save grid.png and the single images', metavar='DIR', required=True)
@click.option('--device',                help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
@click.option('--allow-pickle',          help='Unpickle a foreign network pickle (runs its code: trusted files only)', is_flag=True)
def main(network, row_seeds, col_seeds, styles, truncation_psi, class_idx, noise_mode, outdir, device, allow_pickle):
    """Style mixing: image (row, col) is the row seed's image with the ws slots in --styles taken from the col seed.

    Slots follow the synthesis network's w order: 0 is the 4x4 conv, 0-6 reach 32x32 (coarse and middle styles
    as in StyleGAN), the last is the final toRGB. grid.png has the column images on top and the row images on the left.

    \b
    Examples:
    python style_mixing.py --network=net.pkl --rows=85,100,75,458,1500 --cols=55,821,1789,293 --outdir=out
    python style_mixing.py --network=net.pkl --rows=0-3 --cols=10-13 --styles=8-13 --outdir=out
    """
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    G = load_generator(network, device, allow_pickle)
    if styles is None:
        styles = list(range(min(7, getattr(G, 'num_ws', 7))))
    rows, cols, mixed = style_mixing_images(G, row_seeds, col_seeds, styles, truncation_psi=truncation_psi,
                                            noise_mode=noise_mode, class_idx=class_idx, device=device)
    rows, cols, mixed = rows.cpu().numpy(), cols.cpu().numpy(), mixed.cpu().numpy()

    # One image per cell, then the grid: a blank corner, column images across the top, each row below.
    os.makedirs(outdir, exist_ok=True)
    for i, row_seed in enumerate(row_seeds):
        for j, col_seed in enumerate(col_seeds):
            save_image(mixed[i, j], os.path.join(outdir, f'{row_seed}-{col_seed}.png'))
    corner = np.full_like(cols[:1], -1)
    cells = [corner, cols] + [np.concatenate([rows[i:i + 1], mixed[i]]) for i in range(len(row_seeds))]
    path = os.path.join(outdir, 'grid.png')
    save_image_grid(np.concatenate(cells), path, grid_size=(len(col_seeds) + 1, len(row_seeds) + 1))
    print(f'Saved {len(row_seeds)} x {len(col_seeds)} mixed images and {path} (styles {styles})')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
