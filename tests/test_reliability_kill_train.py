"""train.py killed with SIGKILL at three seeded points and continued with a bare `--resume` ends with the same weights,
bit for bit, as a run that was never stopped; `--resume` errors."""

import glob
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import PIL.Image
import pytest
import safetensors.torch
import torch

from torch_utils import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENOTYPE = os.path.join(ROOT, 'nas', 'genotypes', 'sngan_baseline.json')
KIMG = 6 # one checkpoint per 1-kimg tick: network-snapshot-000000 ... 000006
TINY = [f'--genotype={GENOTYPE}', '--g-channels=8', '--d-channels=8', '--batch=16', '--tick=1', '--snap=1',
        f'--kimg={KIMG}', '--metrics=none', '--workers=0', '--grid-images=4', '--device=cpu', '--seed=5']

#----------------------------------------------------------------------------

def command(*args):
    return [sys.executable, os.path.join(ROOT, 'train.py'), *args]

def env():
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')

def make_images(path, count=16, size=8):
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
    """Start train.py, wait until its run directory NNNNN holds k training states, wait `delay` s more (so the
    kill may land in the middle of writing the next checkpoint), then SIGKILL it."""
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(command(*args), stdout=log, stderr=subprocess.STDOUT, env=env(), cwd=ROOT)
        deadline = time.time() + 300
        while True:
            assert proc.poll() is None, f'run {number} ended before its checkpoint {k}; see {log_path}'
            assert time.time() < deadline, f'run {number} wrote no checkpoint {k} in time'
            d = run_dir(outdir, number)
            if d is not None and len(glob.glob(os.path.join(d, 'training-state-*.pt'))) >= k:
                break
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

def final_tensors(d):
    tensors = safetensors.torch.load_file(os.path.join(d, f'network-snapshot-{KIMG:06d}.safetensors'))
    state = checkpoint.load_state(os.path.join(d, f'training-state-{KIMG:06d}.pt'))
    for name, opt in state['optimizers'].items():
        for index, values in opt['state'].items():
            tensors.update({f'opt.{name}.{index}.{key}': value for key, value in values.items()})
    return tensors, state

#----------------------------------------------------------------------------

def test_sigkill_three_times_then_bare_resume_is_bitwise_equal(tmp_path):
    data = make_images(tmp_path / 'data')
    full_log = open(tmp_path / 'full.txt', 'w') # the uninterrupted run goes on beside the killed ones
    full = subprocess.Popen(command(f'--outdir={tmp_path / "full"}', f'--data={data}', *TINY), stdout=full_log,
                            stderr=subprocess.STDOUT, env=env(), cwd=ROOT)

    # Three kills at seeded points: after the k-th checkpoint of each run plus a delay; each run resumes the last.
    outdir = str(tmp_path / 'killed')
    args = [f'--outdir={outdir}', f'--data={data}', *TINY]
    rnd = random.Random(2024)
    for number in range(3):
        k, delay = rnd.randint(1, 2), rnd.uniform(0, 0.5)
        run_and_kill(args + (['--resume'] if number > 0 else []), outdir, number, k, delay,
                     str(tmp_path / f'log{number}.txt'))

    # Cut the newest checkpoint of the last run short: the last resume warns and takes the one before it.
    newest = sorted(glob.glob(os.path.join(run_dir(outdir, 2), 'training-state-*.pt')))[-1]
    os.truncate(newest, os.path.getsize(newest) // 2)
    last = subprocess.run(command(*args, '--resume'), capture_output=True, text=True, env=env(), cwd=ROOT)
    assert last.returncode == 0, last.stderr
    resumed = last.stdout.split('Resuming from "')[1].split('"')[0]
    assert resumed != newest.replace('training-state', 'network-snapshot').replace('.pt', '.pkl')
    assert 'warning: training checkpoint' in last.stdout and 'unusable' in last.stdout
    for number in [1, 2]:
        with open(tmp_path / f'log{number}.txt') as f:
            assert os.path.basename(run_dir(outdir, number - 1)) in f.read() # each resume took the run before it

    assert full.wait() == 0, (tmp_path / 'full.txt').read_text()
    full_log.close()
    expected, expected_state = final_tensors(run_dir(str(tmp_path / 'full'), 0))
    actual, actual_state = final_tensors(run_dir(outdir, 3))
    assert expected.keys() == actual.keys() and any(key.startswith('G.') for key in expected)
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key
    assert actual_state['cur_nimg'] == expected_state['cur_nimg'] == KIMG * 1000
    assert actual_state['batch_idx'] == expected_state['batch_idx'] == KIMG * 1000 // 16

#----------------------------------------------------------------------------

def test_resume_errors_name_the_option(tmp_path):
    data = make_images(tmp_path / 'data')
    res = subprocess.run(command(f'--outdir={tmp_path / "none"}', f'--data={data}', *TINY, '--resume'),
                         capture_output=True, text=True, env=env(), cwd=ROOT)
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('Error: --resume: no run directory')
    assert 'data-conv_cifar-genotype-batch16' in lines[0]
    empty = tmp_path / 'empty'
    empty.mkdir()
    res = subprocess.run(command(f'--outdir={tmp_path / "none"}', f'--data={data}', *TINY, f'--resume={empty}'),
                         capture_output=True, text=True, env=env(), cwd=ROOT)
    assert res.returncode == 2 and res.stderr.strip() == (
        f'Error: --resume: {empty} holds no checkpoint to resume from '
        f'(network-snapshot-NNNNNN with its training-state-NNNNNN.pt)')

#----------------------------------------------------------------------------
