"""Shared by the CLI tests: run a root script in a subprocess, write tiny image folders and zips, check one-line
errors, a stand-in detector."""

import contextlib
import glob
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import PIL.Image
import pytest
import torch

from dnnlib.util import cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------

def command(script, *args):
    return [sys.executable, os.path.join(ROOT, script), *args]

def cli_env():
    """The environment of a CLI under test: the repository importable, one CPU thread."""
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')

def run(script, *args):
    """`python <script> <args>` from the repository root, one CPU thread; returns the CompletedProcess."""
    return subprocess.run(command(script, *args), capture_output=True, text=True, env=cli_env(), cwd=ROOT)

def run_inprocess(capsys, script, *args):
    """`script`'s main through dnnlib.util.cli_main in this process (no interpreter start-up: fast for dry runs and
    bad input); returns a CompletedProcess with its exit code and captured output."""
    sys.path.insert(0, ROOT)
    try:
        module = importlib.import_module(os.path.splitext(script)[0])
    finally:
        sys.path.remove(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(module.main, list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess([script, *args], exit_info.value.code, out, err)

def start(script, *args, log):
    """`python <script> <args>` in the background, stdout and stderr to the open file `log`; returns the Popen."""
    return subprocess.Popen(command(script, *args), stdout=log, stderr=subprocess.STDOUT, env=cli_env(), cwd=ROOT)

def run_torchrun(script, nproc, *args):
    """`torchrun --standalone --nproc_per_node=<nproc> <script> <args>` like run()."""
    return subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
                           os.path.join(ROOT, script), *args], capture_output=True, text=True, env=cli_env(), cwd=ROOT)

def run_dir(outdir, number):
    """The run directory NNNNN-* under `outdir`, or None."""
    found = glob.glob(os.path.join(outdir, f'{number:05d}-*'))
    return found[0] if found else None

def run_and_kill(script, args, outdir, number, ready, delay, log_path):
    """Start `script`, wait until ready(its run directory NNNNN) holds, wait `delay` s more (so the kill may land in
    the middle of writing the next checkpoint), then SIGKILL it."""
    with open(log_path, 'w') as log:
        proc = start(script, *args, log=log)
        deadline = time.time() + 300
        while True:
            assert proc.poll() is None, f'run {number} ended before it was ready to be killed; see {log_path}'
            assert time.time() < deadline, f'run {number} was not ready to be killed in time; see {log_path}'
            d = run_dir(outdir, number)
            if d is not None and ready(d):
                break
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

def make_images(path, count, size, num_classes=None):
    """`count` random RGB PNGs of `size` x `size` in the folder `path`, image i of class i % num_classes in its
    dataset.json (None = no labels); returns the folder as a string."""
    os.makedirs(path, exist_ok=True)
    rnd = np.random.RandomState(0)
    for i in range(count):
        PIL.Image.fromarray(rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)).save(os.path.join(path, f'{i:02d}.png'))
    if num_classes is not None:
        with open(os.path.join(path, 'dataset.json'), 'w') as f:
            json.dump({'labels': [[f'{i:02d}.png', i % num_classes] for i in range(count)]}, f)
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
# Pipelines at toy size (nas.demo, nas.benchmark): a zip of random images and a stand-in for Inception, 4x4
# average-pooled pixels (48 features) in the detector's 'plain' convention.

def make_zip(path, count, size, seed=0):
    rnd = np.random.RandomState(seed)
    with zipfile.ZipFile(path, 'w') as z:
        for i in range(count):
            buf = io.BytesIO()
            PIL.Image.fromarray(rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)).save(buf, format='png')
            z.writestr(f'img{i:08d}.png', buf.getvalue())
    return str(path)

class PoolDetector(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)

@contextlib.contextmanager
def pipeline_env(root):
    """The stand-in detector saved in `root`, with the stats cache in `root` for this and every subprocess."""
    detector = str(root / 'pool.pt')
    torch.jit.script(PoolDetector()).save(detector)
    saved = os.environ.get('GANAS_CACHE')
    os.environ['GANAS_CACHE'] = str(root / 'cache')
    try:
        yield detector
    finally:
        if saved is None:
            del os.environ['GANAS_CACHE']
        else:
            os.environ['GANAS_CACHE'] = saved

#----------------------------------------------------------------------------
