"""search.py end to end: dry run (config, space size), a 2-iteration search retrained by train.py and sampled by
generate.py, CLI resume, bad option combinations."""

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from dnnlib.util import cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--g-channels=8', '--d-channels=8', '--batch=4', '--T=1', '--S=1', '--R=1', '--workers=0', '--device=cpu']

#----------------------------------------------------------------------------

def run(script, *args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], capture_output=True, text=True, env=env, cwd=ROOT)

def make_images(path, count, size):
    os.makedirs(path, exist_ok=True)
    rnd = np.random.RandomState(0)
    for i in range(count):
        PIL.Image.fromarray(rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)).save(os.path.join(path, f'{i:02d}.png'))
    return str(path)

def run_inprocess(capsys, *args):
    """search.py's main through dnnlib.util.cli_main, in this process (fast for dry runs and bad input)."""
    sys.path.insert(0, ROOT)
    try:
        import search
    finally:
        sys.path.remove(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(search.main, list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, exit_info.value.code, out, err)

def assert_one_line_error(res, *fragments):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('Error: '), res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]

def dry_run(capsys, *args):
    res = run_inprocess(capsys, '--dry-run', *args)
    assert res.returncode == 0, res.stderr
    c = json.loads(res.stdout.split('Search options:')[1].split('\n\n')[0])
    return c, res.stdout

def printed(stdout, label):
    return int([line for line in stdout.splitlines() if line.startswith(label)][0].split()[-3 if 'size' in label else -4])

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('data')
    os.makedirs(tmp / 'empty')
    return dict(empty=str(tmp / 'empty'), d32=make_images(tmp / 'd32', 12, 32), d16=make_images(tmp / 'd16', 4, 16), d36=make_images(tmp / 'd36', 4, 36),
                d48=make_images(tmp / 'd48', 4, 48))

#----------------------------------------------------------------------------

def test_dry_run_conventional(data, tmp_path, capsys):
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}')
    assert not os.listdir(tmp_path)
    # Paper Sec. 4.2: (6^3 * 3^2)^3 * 3^3 architectures; 9 normal edges x 6 ops + 9 up edges x 3 ops alphas.
    assert printed(out, 'Search space size:') == (6 ** 3 * 3 ** 2) ** 3 * 3 ** 3
    assert printed(out, 'Architecture params:') == 9 * 6 + 9 * 3
    alg = c['algorithm_kwargs']
    assert (alg['T'], alg['S'], alg['R']) == (20, 20, 20) and c['batch_size'] == 64 and c['num_iters'] == 100
    assert (alg['lr'], alg['betas'], alg['arch_lr'], alg['arch_betas'], alg['arch_wd']) == (2e-4, [0.0, 0.999], 3e-4, [0.5, 0.999], 1e-3)
    assert c['G_kwargs']['g_channels'] == 256 and c['D_kwargs']['d_channels'] == 128 and c['val_fraction'] == 0.5
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--preset=alphaGAN_l', '--up-ops=no_deconv',
                     '--warmup', '--iters=10', '--bar-update=both', '--gumbel', '--gumbel-tau=0.5', '--T=7')
    assert printed(out, 'Search space size:') == 6 ** 9 * 2 ** 9 # Table 6: no deconv on the 9 up edges
    alg = c['algorithm_kwargs']
    assert (alg['T'], alg['S'], alg['R'], alg['warmup_iters'], alg['bar_update']) == (7, 20, 390, 5, 'both')
    assert c['G_kwargs']['gumbel'] is True and c['G_kwargs']['gumbel_tau'] == 0.5

def test_dry_run_stylegan2(data, tmp_path, capsys):
    if not os.path.isfile(os.path.join(ROOT, 'nas', 'space', 'supernet_stylegan2.py')):
        pytest.skip('no StyleGAN2 supernet yet')
    # The README's command: --mode alone selects the StyleGAN2 backbone.
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d16"]}', '--mode=micro')
    assert printed(out, 'Search space size:') == 9 # paper Table 8: micro = 3 x 3
    assert c['G_kwargs']['class_name'] == 'nas.space.supernet_stylegan2.SupernetGenerator'
    assert c['G_kwargs']['synthesis_kwargs']['channel_base'] == 32768 // 8 # 1/8 of config-f (supp. A.1.2)
    alg = c['algorithm_kwargs']
    assert (alg['T'], alg['S'], alg['R']) == (20, 20, 5) and c['batch_size'] == 2 and c['num_iters'] == 500

def test_search_then_retrain_then_generate(data, tmp_path):
    res = run('search.py', f'--outdir={tmp_path / "search"}', f'--data={data["d32"]}', '--iters=2', *TINY)
    assert res.returncode == 0, res.stderr
    run_dir = os.path.join(tmp_path, 'search', os.listdir(tmp_path / 'search')[0])
    assert os.path.basename(run_dir) == '00000-d32-conventional-alphagan-alphaGAN_s-batch4'
    names = set(os.listdir(run_dir))
    for name in ['log.txt', 'search_options.json', 'stats.jsonl', 'found.json', 'genotype-000002.json', 'alphas.png',
                 'architecture.png', 'search-state-000002.pt']:
        assert name in names
    with open(os.path.join(run_dir, 'log.txt')) as f:
        assert 'Found architecture' in f.read()
    found = os.path.join(run_dir, 'found.json')

    # Resume from iteration 1 through the CLI: the same second genotype.
    res = run('search.py', f'--outdir={tmp_path / "search"}', f'--data={data["d32"]}', '--iters=2', *TINY,
              f'--resume={os.path.join(run_dir, "search-state-000001.pt")}')
    assert res.returncode == 0, res.stderr
    # A run directory resumes from its newest state (iteration 2 of 2: nothing left but found.json).
    res = run('search.py', f'--outdir={tmp_path / "search"}', f'--data={data["d32"]}', '--iters=2', *TINY,
              f'--resume={run_dir}')
    assert 'search-state-000002.pt' in res.stdout
    assert res.returncode == 0, res.stderr
    with open(os.path.join(tmp_path, 'search', '00001-d32-conventional-alphagan-alphaGAN_s-batch4', 'found.json')) as f1, open(found) as f2:
        assert f1.read() == f2.read()

    # Re-train the found genotype a few steps, then sample from the pickle.
    res = run('train.py', f'--outdir={tmp_path / "train"}', f'--data={data["d32"]}', f'--genotype={found}', '--kimg=0.008',
              '--g-channels=8', '--d-channels=8', '--batch=4', '--tick=0.004', '--snap=1', '--metrics=none',
              '--workers=0', '--grid-images=4', '--device=cpu')
    assert res.returncode == 0, res.stderr
    train_dir = os.path.join(tmp_path, 'train', os.listdir(tmp_path / 'train')[0])
    pkl = os.path.join(train_dir, 'network-snapshot-000000.pkl')
    res = run('generate.py', f'--network={pkl}', '--seeds=0-3', '--grid', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert PIL.Image.open(tmp_path / 'out' / 'grid.png').size == (64, 64)

@pytest.mark.parametrize('args, fragments', [
    (['--backbone=conventional', '--mode=micro'], ['--mode: only for --backbone=stylegan2']),
    (['--backbone=stylegan2', '--g-channels=8', '--data={d16}'], ['--g-channels: only for --backbone=conventional']),
    (['--backbone=stylegan2', '--up-ops=no_deconv', '--data={d16}'], ['--up-ops: only for --backbone=conventional']),
    (['--width-frac=0.5'], ['--width-frac: only for --backbone=stylegan2']),
    (['--method=autogan'], ['--method=autogan: not available yet']),
    (['--search-d'], ['--search-d: ganas has no searchable discriminator']),
    (['--data={d36}'], ['--data: resolution 36', 'not 8 * bottom width']),
    (['--backbone=stylegan2', '--data={d48}'], ['--data: resolution 48', 'not a power of two']),
    (['--data=nowhere.zip'], ['--data:']),
    (['--resume=nowhere.pt'], ['--resume: nowhere.pt: no such file']),
    (['--resume={empty}'], ['holds no search-state']),
], ids=['mode', 'g_channels', 'up_ops', 'width_frac', 'autogan', 'search_d', 'res36', 'res48', 'no_data', 'no_resume',
        'empty_resume_dir'])
def test_bad_inputs(data, tmp_path, capsys, args, fragments):
    args = [a.format(**data) for a in args]
    if not any(a.startswith('--data=') for a in args):
        args.append(f'--data={data["d32"]}')
    res = run_inprocess(capsys, f'--outdir={tmp_path / "runs"}', '--dry-run', *args)
    assert_one_line_error(res, *fragments)
    assert not os.path.exists(tmp_path / 'runs')

def test_help_lists_the_ablation_switches():
    res = run('search.py', '--help')
    assert res.returncode == 0
    for option in ['--bar-update', '--search-d', '--gumbel', '--warmup', '--up-ops', '--preset', '--resume', '--dry-run']:
        assert option in res.stdout

#----------------------------------------------------------------------------
