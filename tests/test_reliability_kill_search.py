"""search.py killed with SIGKILL at three seeded points and continued with a bare `--resume` finds the same genotype
and alphas, bit for bit, as a search that was never stopped."""

import glob
import json
import os
import random

import torch

from cli_helpers import make_images, run, run_and_kill, run_dir, start
from recorded import tensors_of
from torch_utils import checkpoint

ITERS = 6
TINY = ['--g-channels=4', '--d-channels=4', '--batch=2', '--T=1', '--S=1', '--R=1', f'--iters={ITERS}', '--snap=1',
        '--workers=0', '--device=cpu', '--seed=3']

#----------------------------------------------------------------------------

def states_written(k):
    """ready() of run_and_kill: k search states written since the run started (counted by iteration, as --keep
    deletes the older files)."""
    first = None
    def ready(d):
        nonlocal first
        states = sorted(glob.glob(os.path.join(d, 'search-state-*.pt')))
        if not states:
            return False
        newest = int(states[-1][-9:-3])
        first = newest if first is None else first
        return newest - first + 1 >= k
    return ready

#----------------------------------------------------------------------------

def test_sigkill_three_times_then_bare_resume_finds_the_same_architecture(tmp_path):
    data = make_images(tmp_path / 'data', 8, 8)
    full_log = open(tmp_path / 'full.txt', 'w') # the uninterrupted run goes on beside the killed ones
    full = start('search.py', f'--outdir={tmp_path / "full"}', f'--data={data}', *TINY, log=full_log)

    outdir = str(tmp_path / 'killed')
    args = [f'--outdir={outdir}', f'--data={data}', *TINY]
    rnd = random.Random(4) # kills after states 1, 2 and 1 of each run: the last run still has work
    for number in range(3):
        k, delay = rnd.randint(1, 2), rnd.uniform(0, 1.0)
        run_and_kill('search.py', args + (['--resume'] if number > 0 else []), outdir, number, states_written(k), delay,
                     str(tmp_path / f'log{number}.txt'))
        if number > 0:
            with open(tmp_path / f'log{number}.txt') as f:
                assert f'Resuming from "{run_dir(outdir, number - 1)}' in f.read() # the newest run, not an older one

    # Cut the newest state of the last run short: the last resume warns and takes the state before it.
    newest = sorted(glob.glob(os.path.join(run_dir(outdir, 2), 'search-state-*.pt')))[-1]
    os.truncate(newest, os.path.getsize(newest) // 2)
    last = run('search.py', *args, '--resume')
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
