"""Shared by the benchmarks: a synthetic dataset zip, a CLI's options parsed exactly as the user's command line
would be (so a benchmark never drifts from the script it measures), a side-by-side child process, and the device's
name."""

import json
import os
import subprocess
import sys
import zipfile

import click
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

def run_child(script, args, root, what):
    """Runs bench/`script` with `args` in its own process from `root` (ours or a peer's code base) and returns the JSON
    of its last output line; a failure ends the benchmark with `what` and the child's error."""
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    if proc.returncode != 0:
        raise click.ClickException(f'{what} failed:\n{proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])

def device_name(device):
    if device == 'cuda':
        return torch.cuda.get_device_name()
    return f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'

#----------------------------------------------------------------------------
