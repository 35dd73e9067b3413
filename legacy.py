"""Convert a network pickle of StyleGAN2 or StyleGAN2-ADA, TensorFlow or PyTorch, into a ganas snapshot, as
StyleGAN2-ADA's legacy.py does, without TensorFlow and without running anything the pickle holds."""

import os

import click

from dnnlib.util import UserError, bool_option, cli_main
from torch_utils import checkpoint
from training import stylegan2_ada_import

#----------------------------------------------------------------------------

@click.command()
@click.option('--source',   help='Input pickle: TensorFlow StyleGAN2 or StyleGAN2-ADA, or StyleGAN2-ADA PyTorch (path or URL)', metavar='PATH', required=True)
@click.option('--dest',     help='Output pickle (.pkl); its .safetensors twin is written beside it', metavar='PATH', required=True)
@bool_option('--force-fp16', help='Force the networks to use FP16 (the 4 highest resolutions, clamped to +-256)')
def main(source, dest, force_fp16):
    """Convert a legacy network pickle into a ganas snapshot that every tool loads.

    It reads the main network configurations of StyleGAN2 and StyleGAN2-ADA's TensorFlow code (G, D and Gs) and
    StyleGAN2-ADA's PyTorch snapshots, as data. Not StyleGAN2 configs A-D or StyleGAN1 networks.

    Example:

    \b
    python legacy.py --source=~/downloads/stylegan2-cat-config-f.pkl --dest=stylegan2-cat-config-f.pkl
    """
    if not dest.endswith('.pkl'):
        raise UserError(f'--dest: {dest}: expected a .pkl name (its .safetensors twin is written beside it)')
    print(f'Loading "{source}"...')
    data = stylegan2_ada_import.load_network(source)
    if force_fp16:
        data = stylegan2_ada_import.force_fp16(data)
    modules = {key: value for key, value in data.items() if key in ['G', 'D', 'G_ema', 'augment_pipe'] and value is not None}
    extra = {key: dict(value) for key, value in data.items() if key == 'training_set_kwargs' and value is not None}
    print(f'Saving "{dest}"...')
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    checkpoint.save_pickle(dest, dict(modules, **extra))
    checkpoint.save_safe(os.path.splitext(dest)[0] + '.safetensors', modules, extra)
    print('Done.')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
