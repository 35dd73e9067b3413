"""Shared by the benchmarks: a synthetic dataset zip, a CLI's options parsed exactly as the user's command line
would be (so a benchmark never drifts from the script it measures), and the device's name."""

import os
import zipfile

import numpy as np
import PIL.Image
import torch

import dnnlib

#----------------------------------------------------------------------------

def make_zip(path, resolution, count, seed=0):
    """`count` random RGB PNGs at `resolution`: the speed of a step does not depend on the content."""
    rnd = np.random.RandomState(seed)
    with zipfile.ZipFile(path, 'w') as zf:
        for i in range(count):
            img = PIL.Image.fromarray(rnd.randint(0, 256, [resolution, resolution, 3], dtype=np.uint8))
            with zf.open(f'{i:05d}.png', 'w') as f:
                img.save(f, format='png')
    return path

def cli_options(command, args):
    """The option values `command` (a click command) would receive for `args`, defaults filled in."""
    with command.make_context(command.name or 'bench', list(args)) as ctx:
        return dnnlib.EasyDict(ctx.params)

def device_name(device):
    if device == 'cuda':
        return torch.cuda.get_device_name()
    return f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'

#----------------------------------------------------------------------------
