"""Convert an image folder, zip, LSUN lmdb, CIFAR-10 tarball, STL-10 binary or MNIST idx file into a dataset for
training, with StyleGAN2-ADA's dataset_tool options."""

import time

import click

from dnnlib.util import UserError, cli_main, format_time
from training import data_sources

#----------------------------------------------------------------------------

# Without a command: convert --source into --dest; `extract_brecahad_crops` is StyleGAN2-ADA's one subcommand.
@click.group(invoke_without_command=True, subcommand_metavar='[extract_brecahad_crops OPTIONS]')
@click.pass_context
@click.option('--source',     help='Image folder or zip, LSUN *_lmdb/ (needs the lmdb package), cifar-10-python.tar.gz, STL-10 *_X.bin, or idx images (.gz or raw)  [required]', metavar='PATH', type=str)
@click.option('--dest',       help='Output .zip or directory  [required]', metavar='PATH', type=str)
@click.option('--max-images', '--max_images', help='Convert at most this many images', metavar='INT', type=click.IntRange(min=1))
@click.option('--resolution', help='Output RES x RES (same as --width=RES --height=RES; center-crop-wide: a RES x RES/2 band)', metavar='RES', type=click.IntRange(min=1))
@click.option('--width',      help='Output width  [default: the image\'s]', metavar='INT', type=click.IntRange(min=1))
@click.option('--height',     help='Output height (center-crop-wide: of the band)  [default: the image\'s]', metavar='INT', type=click.IntRange(min=1))
@click.option('--resize-filter', help='Filter for resizing', type=click.Choice(list(data_sources.RESIZE_FILTERS)), default='lanczos', show_default=True)
@click.option('--transform',  help='Crop for non-square images', type=click.Choice(data_sources.TRANSFORMS))
@click.option('--channels',   help='1 = grayscale, 3 = RGB (gray is replicated)  [default: as the source]', type=click.Choice(['1', '3']))
@click.option('--img-format', help='StyleGAN2-ADA\'s name for --channels: L = 1, RGB = 3, keep = as the source', type=click.Choice(['keep', 'L', 'RGB']))
@click.option('--split',      help='CIFAR-10 split  [default: train]', type=click.Choice(sorted(data_sources.CIFAR10_SPLITS)))
@click.option('--overwrite',  help='Replace an existing --dest', is_flag=True)
def main(ctx, source, dest, max_images, resolution, width, height, resize_filter, transform, channels, img_format, split,
         overwrite):
    """Convert a dataset source into a zip or folder of PNGs with labels in dataset.json.

    Examples:

    \b
    python dataset_tool.py --source=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\
        --dest=datasets/fmnist32.zip --resolution=32 --channels=3
    python dataset_tool.py --source=cifar-10-python.tar.gz --dest=datasets/cifar10.zip
    python dataset_tool.py --source=stl10_binary/unlabeled_X.bin --dest=datasets/stl10-48.zip --resolution=48
    python dataset_tool.py --source=/tmp/ffhq-unpacked --dest=ffhq256x256.zip --width=256 --height=256 --resize-filter=box
    python dataset_tool.py --source=lsun/raw/car_lmdb --dest=lsuncar.zip --transform=center-crop-wide --width=512 --height=384
    python dataset_tool.py extract_brecahad_crops --cropsize=512 --output_dir=brecahad-crops --brecahad_dir=brecahad/images
    """
    if ctx.invoked_subcommand is not None:
        if source is not None or dest is not None:
            raise UserError(f'{ctx.invoked_subcommand}: takes no --source or --dest')
        return
    for name, value in [('--source', source), ('--dest', dest)]:
        if value is None:
            raise click.UsageError(f"Missing option '{name}'.")
    if resolution is not None:
        if width is not None or height is not None:
            raise UserError('--resolution: give it or --width/--height, not both')
        width, height = resolution, (resolution // 2 if transform == 'center-crop-wide' else resolution)
    if img_format not in [None, 'keep']:
        if channels is not None:
            raise UserError('--img-format: give it or --channels, not both')
        channels = '1' if img_format == 'L' else '3'
    start = time.time()
    src = data_sources.open_source(source, split=split)
    num_images = data_sources.convert_dataset(src, dest, max_images=max_images, width=width, height=height,
        transform=transform, resize_filter=resize_filter, channels=None if channels is None else int(channels),
        overwrite=overwrite)
    print(f'Wrote {num_images} images to {dest} in {format_time(time.time() - start)}.')

#----------------------------------------------------------------------------

@main.command('extract_brecahad_crops')
@click.option('--cropsize',   help='Crop size: 256 side by side, 512 overlapping by half', type=click.Choice([str(size) for size in data_sources.BRECAHAD_CROP_OVERLAP]), default='256', show_default=True)
@click.option('--output_dir', '--output-dir', help='Output directory of PNG crops', metavar='DIR', type=str, required=True)
@click.option('--brecahad_dir', '--brecahad-dir', help='BreCaHAD\'s images/ directory of .tif files', metavar='DIR', type=str, required=True)
@click.option('--overwrite',  help='Replace an existing --output_dir', is_flag=True)
def extract_brecahad_crops(cropsize, output_dir, brecahad_dir, overwrite):
    """Cut BreCaHAD's images into the square crops StyleGAN2-ADA trained on, then convert the folder.

    \b
    python dataset_tool.py extract_brecahad_crops --cropsize=512 --output_dir=brecahad-crops --brecahad_dir=brecahad/images
    python dataset_tool.py --source=brecahad-crops --dest=brecahad.zip
    """
    num_crops = data_sources.extract_brecahad_crops(brecahad_dir, output_dir, int(cropsize), overwrite=overwrite)
    print(f'Extracted {num_crops} image crops to {output_dir}.')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
