"""Shared by the CLI tests: run a root script in a subprocess, write tiny image folders, check one-line errors."""

import os
import subprocess
import sys

import numpy as np
import PIL.Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------

def run(script, *args):
    """`python <script> <args>` from the repository root, one CPU thread; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)

def run_torchrun(script, nproc, *args):
    """`torchrun --standalone --nproc_per_node=<nproc> <script> <args>` like run()."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
                           os.path.join(ROOT, script), *args], capture_output=True, text=True, env=env, cwd=ROOT)

def make_images(path, count, size):
    """`count` random RGB PNGs of `size` x `size` in the folder `path`; returns it as a string."""
    os.makedirs(path, exist_ok=True)
    rnd = np.random.RandomState(0)
    for i in range(count):
        PIL.Image.fromarray(rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)).save(os.path.join(path, f'{i:02d}.png'))
    return str(path)

def assert_one_line_error(res, *fragments):
    """Exit code 2 and exactly one stderr line 'Error: ...' holding every fragment."""
    assert res.returncode == 2, res.stdout + res.stderr
    assert 'Traceback' not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('Error: '), res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]

#----------------------------------------------------------------------------
