"""train.py with several processes on the CPU (gloo): every process starts from process 0's weights, the processes
stay equal (the snapshot's consistency check), each keeps its own RNG state, torchrun gives the same run as --gpus,
and a resumed run continues bit for bit."""

import json
import os
import shlex

import torch
from safetensors.torch import load_file

from cli_helpers import assert_one_line_error, make_images, run, run_torchrun

TINY = ['--cfg=stylegan2', '--cbase=128', '--cmax=32', '--map=2', '--batch=4', '--tick=0.008', '--snap=1', '--kimg=0.016',
        '--metrics=none', '--workers=0', '--grid-images=8', '--device=cpu']

#----------------------------------------------------------------------------

def test_two_cpu_processes_by_gpus_and_by_torchrun(tmp_path):
    data = make_images(tmp_path / 'd32', 8, 32)
    res = run('train.py', f'--outdir={tmp_path / "runs"}', f'--data={data}', '--gpus=2', *TINY)
    assert res.returncode == 0, res.stderr
    res = run_torchrun('train.py', 2, f'--outdir={tmp_path / "runs"}', f'--data={data}', *TINY)
    assert res.returncode == 0, res.stderr
    spawned, started = [tmp_path / 'runs' / f'{i:05d}-d32-stylegan2-kimg0.016-batch4' for i in range(2)]
    assert sorted(os.listdir(tmp_path / 'runs')) == [spawned.name, started.name]
    assert json.loads((started / 'training_options.json').read_text())['num_gpus'] == 2
    assert shlex.split((started / 'command.txt').read_text())[:2] == ['torchrun', '--nproc_per_node=2']
    a = load_file(spawned / 'network-snapshot-000000.safetensors')
    b = load_file(started / 'network-snapshot-000000.safetensors')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = torch.load(spawned / 'training-state-000000.pt', weights_only=True)
    ranks = state['rng_ranks']
    assert len(ranks) == 2 and not torch.equal(ranks[0]['torch'], ranks[1]['torch'])
    assert torch.equal(state['rng']['torch'], ranks[0]['torch'])

def test_two_process_resume_is_bitwise_equal(tmp_path):
    # Every kimg a snapshot; PL and R1 regularisation and ADA on, so every per-process part of the state matters:
    # the data position, each process's RNG state and running path-length mean.
    data = make_images(tmp_path / 'd8', 16, 8)
    args = ['--cfg=stylegan2', '--cbase=128', '--cmax=16', '--map=1', '--batch=16', '--tick=1', '--snap=1', '--kimg=2',
            '--metrics=none', '--workers=0', '--grid-images=4', '--device=cpu', '--gpus=2', f'--data={data}']
    res = run('train.py', f'--outdir={tmp_path / "full"}', *args)
    assert res.returncode == 0, res.stderr
    full = tmp_path / 'full' / '00000-d8-stylegan2-kimg2-batch16'
    res = run('train.py', f'--outdir={tmp_path / "resumed"}', *args, f'--resume={full / "network-snapshot-000001.pkl"}')
    assert res.returncode == 0, res.stderr
    resumed = tmp_path / 'resumed' / '00000-d8-stylegan2-kimg2-batch16-resumecustom'
    state = torch.load(full / 'training-state-000001.pt', weights_only=True)
    assert len(state['pl_mean_ranks']) == 2 and state['pl_mean_ranks'][0] != state['pl_mean_ranks'][1]
    a = load_file(full / 'network-snapshot-000002.safetensors')
    b = load_file(resumed / 'network-snapshot-000002.safetensors')
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []

def test_more_cpu_processes_than_cores_refused(tmp_path):
    data = make_images(tmp_path / 'd32', 4, 32)
    n = os.cpu_count() + 1
    res = run('train.py', f'--outdir={tmp_path / "runs"}', f'--data={data}', f'--gpus={n}', f'--batch={4 * n}',
              '--device=cpu')
    assert_one_line_error(res, f'--gpus: {n} CPU processes', f'{os.cpu_count()} core(s)')
    assert not os.path.exists(tmp_path / 'runs')

#----------------------------------------------------------------------------
