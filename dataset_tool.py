"""Convert an image folder, zip, CIFAR-10 tarball, STL-10 binary or MNIST idx file into a dataset for training."""

import time

import click

from dnnlib.util import cli_main, format_time
from training import data_sources

#----------------------------------------------------------------------------

@click.command()
@click.option('--source',     help='Image folder or zip, cifar-10-python.tar.gz, STL-10 *_X.bin, or idx images (.gz or raw)', metavar='PATH', type=str, required=True)
@click.option('--dest',       help='Output .zip or directory', metavar='PATH', type=str, required=True)
@click.option('--max-images', help='Convert at most this many images', metavar='INT', type=click.IntRange(min=1))
@click.option('--resolution', help='Resize to RES x RES with LANCZOS', metavar='RES', type=click.IntRange(min=1))
@click.option('--transform',  help='Crop for non-square images', type=click.Choice(data_sources.TRANSFORMS))
@click.option('--channels',   help='1 = grayscale, 3 = RGB (gray is replicated)  [default: as the source]', type=click.Choice(['1', '3']))
@click.option('--split',      help='CIFAR-10 split  [default: train]', type=click.Choice(sorted(data_sources.CIFAR10_SPLITS)))
@click.option('--overwrite',  help='Replace an existing --dest', is_flag=True)
def main(source, dest, max_images, resolution, transform, channels, split, overwrite):
    """Convert a dataset source into a zip or folder of PNGs with labels in dataset.json.

    Examples:

    \b
    python dataset_tool.py --source=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\
        --dest=datasets/fmnist32.zip --resolution=32 --channels=3
    python dataset_tool.py --source=cifar-10-python.tar.gz --dest=datasets/cifar10.zip
    python dataset_tool.py --source=stl10_binary/unlabeled_X.bin --dest=datasets/stl10-48.zip --resolution=48
    """
    start = time.time()
    src = data_sources.open_source(source, split=split)
    num_images = data_sources.convert_dataset(src, dest, max_images=max_images, resolution=resolution, transform=transform,
        channels=None if channels is None else int(channels), overwrite=overwrite)
    print(f'Wrote {num_images} images to {dest} in {format_time(time.time() - start)}.')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
