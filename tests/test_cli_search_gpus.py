"""search.py --gpus: a data-parallel alphaGAN search in two CPU processes writes one run directory, resuming it from
its first state gives the same architecture, alphas and weights as the uninterrupted run, and so does the same search
started by torchrun."""

import json
import os
import shlex

import torch

from cli_helpers import assert_one_line_error, make_images, run, run_torchrun

TINY = ['--g-channels=4', '--d-channels=4', '--batch=4', '--T=1', '--S=1', '--R=1', '--workers=0', '--device=cpu',
        '--gpus=2', '--iters=2']

#----------------------------------------------------------------------------

def test_two_process_search_and_exact_resume(tmp_path):
    data = make_images(tmp_path / 'd32', 8, 32)
    res = run('search.py', f'--outdir={tmp_path / "runs"}', f'--data={data}', *TINY)
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / 'runs' / '00000-d32-conventional-alphagan-alphaGAN_s-batch4'
    names = set(os.listdir(run_dir))
    assert {'found.json', 'genotype-000002.json', 'search-state-000002.pt', 'stats.jsonl', 'report.html'} <= names
    assert shlex.split((run_dir / 'command.txt').read_text())[2:] == [f'--outdir={tmp_path / "runs"}', f'--data={data}', *TINY]
    with open(run_dir / 'stats.jsonl') as f:
        assert len(f.read().splitlines()) == 2 # one writer
    with open(run_dir / 'log.txt') as f:
        assert f.read().count('Searching for 2 iterations') == 1

    res = run('search.py', f'--outdir={tmp_path / "runs"}', f'--data={data}', *TINY,
              f'--resume={run_dir / "search-state-000001.pt"}')
    assert res.returncode == 0, res.stderr
    resumed = tmp_path / 'runs' / '00001-d32-conventional-alphagan-alphaGAN_s-batch4'
    assert (resumed / 'found.json').read_text() == (run_dir / 'found.json').read_text()
    a = torch.load(run_dir / 'search-state-000002.pt', weights_only=True)
    b = torch.load(resumed / 'search-state-000002.pt', weights_only=True)
    assert len(a['rng_ranks']) == 2 and a['rng_ranks'][0]['torch'].shape == b['rng_ranks'][0]['torch'].shape
    for key, value in a['algorithm']['G'].items():
        assert torch.equal(value, b['algorithm']['G'][key]), key
    for key, value in a['algorithm']['D'].items():
        assert torch.equal(value, b['algorithm']['D'][key]), key

    torchrun_args = [arg for arg in TINY if arg != '--gpus=2']
    res = run_torchrun('search.py', 2, f'--outdir={tmp_path / "runs"}', f'--data={data}', *torchrun_args)
    assert res.returncode == 0, res.stderr
    started = tmp_path / 'runs' / '00002-d32-conventional-alphagan-alphaGAN_s-batch4'
    assert sorted(os.listdir(tmp_path / 'runs')) == [run_dir.name, resumed.name, started.name]
    assert (started / 'found.json').read_text() == (run_dir / 'found.json').read_text()
    assert json.loads((started / 'search_options.json').read_text())['num_gpus'] == 2
    assert shlex.split((started / 'command.txt').read_text())[:2] == ['torchrun', '--nproc_per_node=2']
    with open(started / 'stats.jsonl') as f:
        assert len(f.read().splitlines()) == 2
    c = torch.load(started / 'search-state-000002.pt', weights_only=True)
    for net in ['G', 'D']:
        for key, value in a['algorithm'][net].items():
            assert torch.equal(value, c['algorithm'][net][key]), key

def test_torchrun_refuses_another_gpus_count_in_one_line(tmp_path):
    data = make_images(tmp_path / 'd32', 4, 32)
    res = run_torchrun('search.py', 2, f'--outdir={tmp_path / "runs"}', f'--data={data}', '--device=cpu', '--gpus=3')
    assert res.returncode != 0
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith('Error:')]
    assert lines == ['Error: --gpus: 3, but torchrun started 2 processes'] # process 0 alone says it
    assert not os.path.exists(tmp_path / 'runs')

def test_gpus_refused_where_it_cannot_work(tmp_path):
    data = make_images(tmp_path / 'd32', 4, 32)
    res = run('search.py', f'--outdir={tmp_path / "runs"}', f'--data={data}', '--batch=3', '--gpus=2', '--device=cpu',
              '--dry-run')
    assert_one_line_error(res, '--batch: 3 is not divisible by --gpus=2')
    res = run('search.py', f'--outdir={tmp_path / "runs"}', f'--data={data}', '--method=random', '--gpus=2',
              '--device=cpu', '--dry-run')
    assert_one_line_error(res, '--gpus: only for --method=alphagan')
    assert not os.path.exists(tmp_path / 'runs')

#----------------------------------------------------------------------------
