"""search.py killed with SIGKILL at three seeded points and continued with a bare `--resume` finds the same genotype
and alphas, bit for bit, as a search that was never stopped."""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import PIL.Image
import torch

from torch_utils import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITERS = 6
TINY = ['--g-channels=4', '--d-channels=4', '--batch=2', '--T=1', '--S=1', '--R=1', f'--iters={ITERS}', '--snap=1',
        '--workers=0', '--device=cpu', '--seed=3']

#----------------------------------------------------------------------------

def command(*args):
    return [sys.executable, os.path.join(ROOT, 'search.py'), *args]

def env():
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')

def make_images(path, count=8, size=8):
    os.makedirs(path)
    rnd = np.random.RandomState(0)
    for i in range(count):
        image = rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)
        PIL.Image.fromarray(image).save(os.path.join(path, f'{i:02d}.png'))
    return str(path)

def run_dir(outdir, number):
    found = glob.glob(os.path.join(outdir, f'{number:05d}-*'))
    return found[0] if found else None

def run_and_kill(args, outdir, number, k, delay, log_path):
    """Start search.py, wait until its run directory NNNNN has written k search states, wait `delay` s more, then
    SIGKILL it. States are counted by iteration, as --keep deletes the older files."""
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(command(*args), stdout=log, stderr=subprocess.STDOUT, env=env(), cwd=ROOT)
        deadline = time.time() + 300
        first = None
        while True:
            assert proc.poll() is None, f'search {number} ended before its state {k}; see {log_path}'
            assert time.time() < deadline, f'search {number} wrote no state {k} in time'
            d = run_dir(outdir, number)
            states = sorted(glob.glob(os.path.join(d, 'search-state-*.pt'))) if d is not None else []
            if states:
                newest = int(states[-1][-9:-3])
                first = newest if first is None else first
                if newest - first + 1 >= k:
                    break
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

def tensors_of(value, prefix=''):
    """{path: tensor} of every tensor in a nested state dict."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else []
    found = dict()
    for key, item in items:
        found.update(tensors_of(item, f'{prefix}.{key}'))
    return found

#----------------------------------------------------------------------------

def test_sigkill_three_times_then_bare_resume_finds_the_same_architecture(tmp_path):
    data = make_images(tmp_path / 'data')
    full_log = open(tmp_path / 'full.txt', 'w') # the uninterrupted run goes on beside the killed ones
    full = subprocess.Popen(command(f'--outdir={tmp_path / "full"}', f'--data={data}', *TINY), stdout=full_log,
                            stderr=subprocess.STDOUT, env=env(), cwd=ROOT)

    outdir = str(tmp_path / 'killed')
    args = [f'--outdir={outdir}', f'--data={data}', *TINY]
    rnd = random.Random(4) # kills after states 1, 2 and 1 of each run: the last run still has work
    for number in range(3):
        k, delay = rnd.randint(1, 2), rnd.uniform(0, 1.0)
        run_and_kill(args + (['--resume'] if number > 0 else []), outdir, number, k, delay,
                     str(tmp_path / f'log{number}.txt'))
        if number > 0:
            with open(tmp_path / f'log{number}.txt') as f:
                assert f'Resuming from "{run_dir(outdir, number - 1)}' in f.read() # the newest run, not an older one

    # Cut the newest state of the last run short: the last resume warns and takes the state before it.
    newest = sorted(glob.glob(os.path.join(run_dir(outdir, 2), 'search-state-*.pt')))[-1]
    os.truncate(newest, os.path.getsize(newest) // 2)
    last = subprocess.run(command(*args, '--resume'), capture_output=True, text=True, env=env(), cwd=ROOT)
    assert last.returncode == 0, last.stderr
    resumed = last.stdout.split('Resuming from "')[1].split('"')[0]
    assert resumed != newest and int(resumed[-9:-3]) < int(newest[-9:-3])
    assert 'warning: search checkpoint' in last.stdout and 'unusable' in last.stdout

    assert full.wait() == 0, (tmp_path / 'full.txt').read_text()
    full_log.close()
    a, b = run_dir(str(tmp_path / 'full'), 0), run_dir(outdir, 3)
    with open(os.path.join(a, 'found.json')) as fa, open(os.path.join(b, 'found.json')) as fb:
        assert json.load(fa) == json.load(fb) # ops and provenance, alphas included
    expected = checkpoint.load_state(os.path.join(a, f'search-state-{ITERS:06d}.pt'))
    actual = checkpoint.load_state(os.path.join(b, f'search-state-{ITERS:06d}.pt'))
    ta, tb = tensors_of(expected['algorithm']), tensors_of(actual['algorithm'])
    assert ta.keys() == tb.keys() and any('alpha' in key for key in ta)
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key
    assert expected['history'] == actual['history'] # arch weights after every iteration

#----------------------------------------------------------------------------
