"""train.py killed with SIGKILL at three seeded points and continued with a bare `--resume` ends with the same weights,
bit for bit, as a run that was never stopped; `--resume` errors."""

import glob
import os
import random

import safetensors.torch
import torch

from cli_helpers import ROOT, make_images, run, run_and_kill, run_dir, start
from torch_utils import checkpoint

GENOTYPE = os.path.join(ROOT, 'nas', 'genotypes', 'sngan_baseline.json')
KIMG = 6 # one checkpoint per 1-kimg tick: network-snapshot-000000 ... 000006
TINY = [f'--genotype={GENOTYPE}', '--g-channels=8', '--d-channels=8', '--batch=16', '--tick=1', '--snap=1',
        f'--kimg={KIMG}', '--metrics=none', '--workers=0', '--grid-images=4', '--device=cpu', '--seed=5']

#----------------------------------------------------------------------------

def states_written(k):
    """ready() of run_and_kill: the run directory holds k training states."""
    return lambda d: len(glob.glob(os.path.join(d, 'training-state-*.pt'))) >= k

def final_tensors(d):
    tensors = safetensors.torch.load_file(os.path.join(d, f'network-snapshot-{KIMG:06d}.safetensors'))
    state = checkpoint.load_state(os.path.join(d, f'training-state-{KIMG:06d}.pt'))
    for name, opt in state['optimizers'].items():
        for index, values in opt['state'].items():
            tensors.update({f'opt.{name}.{index}.{key}': value for key, value in values.items()})
    return tensors, state

#----------------------------------------------------------------------------

def test_sigkill_three_times_then_bare_resume_is_bitwise_equal(tmp_path):
    data = make_images(tmp_path / 'data', 16, 8)
    full_log = open(tmp_path / 'full.txt', 'w') # the uninterrupted run goes on beside the killed ones
    full = start('train.py', f'--outdir={tmp_path / "full"}', f'--data={data}', *TINY, log=full_log)

    # Three kills at seeded points: after the k-th checkpoint of each run plus a delay; each run resumes the last.
    outdir = str(tmp_path / 'killed')
    args = [f'--outdir={outdir}', f'--data={data}', *TINY]
    rnd = random.Random(2024)
    for number in range(3):
        k, delay = rnd.randint(1, 2), rnd.uniform(0, 0.5)
        run_and_kill('train.py', args + (['--resume'] if number > 0 else []), outdir, number, states_written(k), delay,
                     str(tmp_path / f'log{number}.txt'))

    # Cut the newest checkpoint of the last run short: the last resume warns and takes the one before it.
    newest = sorted(glob.glob(os.path.join(run_dir(outdir, 2), 'training-state-*.pt')))[-1]
    os.truncate(newest, os.path.getsize(newest) // 2)
    last = run('train.py', *args, '--resume')
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
    data = make_images(tmp_path / 'data', 16, 8)
    res = run('train.py', f'--outdir={tmp_path / "none"}', f'--data={data}', *TINY, '--resume')
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'Error: --resume: no run directory in {tmp_path / "none"} '
                                                   f'with the same training options holds a checkpoint')
    empty = tmp_path / 'empty'
    empty.mkdir()
    res = run('train.py', f'--outdir={tmp_path / "none"}', f'--data={data}', *TINY, f'--resume={empty}')
    assert res.returncode == 2 and res.stderr.strip() == (
        f'Error: --resume: {empty} holds no checkpoint to resume from '
        f'(network-snapshot-NNNNNN with its training-state-NNNNNN.pt)')

#----------------------------------------------------------------------------
