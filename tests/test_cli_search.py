"""search.py end to end: dry runs of every method (config, space size, network sizes), a 2-iteration alphaGAN search
retrained by train.py and sampled by generate.py, CLI resume, bad option combinations. AutoGAN and random search runs
are in test_cli_search_autogan.py."""

import json
import os

import numpy as np
import PIL.Image
import pytest

from cli_helpers import assert_one_line_error, make_images, run, run_inprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--g-channels=8', '--d-channels=8', '--batch=4', '--T=1', '--S=1', '--R=1', '--workers=0', '--device=cpu']

#----------------------------------------------------------------------------

def dry_run(capsys, *args):
    res = run_inprocess(capsys, 'search.py', '--dry-run', *args)
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
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--search-d') # Table 3 "Search D"
    assert c['D_kwargs'] == dict(class_name='nas.space.supernet_discriminator.SupernetDiscriminator', d_channels=128)
    assert c['algorithm_kwargs']['search_D'] is True

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

def test_dry_run_autogan_has_the_papers_defaults(data, tmp_path, capsys):
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=autogan')
    assert not os.listdir(tmp_path)
    assert printed(out, 'Search space size:') == 36 * 72 * 144 # AutoGAN Sec. 3.1: 2*3*3*2 choices, 2^s skip patterns
    # One LSTMCell(100, 100), an embedding row and a Linear(100, n) head per token choice, per cell.
    tokens = [[2, 3, 3, 2], [2, 3, 3, 2, 2], [2, 3, 3, 2, 4]]
    expected = [4 * 100 * (100 + 100) + 2 * 4 * 100 + sum(t) * 100 + sum(100 * n + n for n in t) for t in tokens]
    line = [l for l in out.splitlines() if l.startswith('Controller parameters:')][0]
    assert [int(v) for v in line.split(':')[1].split('(')[0].split(',')] == expected
    # Paper Sec. 4: 90 iterations, 15 shared-GAN epochs (12 images, 11 in the train split: 1 batch of 64 an epoch).
    assert '90 iterations of 15 D steps and 30 controller steps; cells added after iterations [25, 55]' in out
    alg = c['algorithm_kwargs']
    assert alg['class_name'] == 'nas.search.autogan.AutoGAN' and c['num_iters'] == alg['num_iters'] == 90
    assert (alg['grow_iters'], alg['shared_epochs'], alg['shared_steps'], alg['ctrl_steps']) == ([25, 55], 15, None, 30)
    assert (alg['g_batch'], c['batch_size'], alg['n_critic']) == (128, 64, 5)
    assert (alg['lr'], alg['betas'], alg['ctrl_lr'], alg['ctrl_betas']) == (2e-4, [0.0, 0.9], 3.5e-4, [0.0, 0.9])
    assert (alg['entropy_weight'], alg['reset_threshold'], alg['reset_stat']) == (1e-4, 1e-3, 'var')
    assert alg['dynamic_reset'] is True
    assert (alg['num_candidates'], alg['beam_size']) == (10, 5) # authors' code: top 5 of 10 at each stage's end
    assert (alg['reward'], alg['reward_samples'], alg['evaluator_kwargs']['detector']) == ('fid', 5000, None)
    assert c['G_kwargs'] == dict(class_name='nas.space.autogan_space.SharedGenerator', z_dim=128, g_channels=128)
    assert c['D_kwargs'] == dict(class_name='training.networks_conventional.Discriminator', d_channels=64)
    assert c['val_fraction'] * 12 == 1 # everything but one image trains the shared GAN
    # Every value overridable; an Inception detector with logits makes IS the default reward (the paper's).
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=autogan', '--iters=9',
                     '--shared-steps=7', '--ctrl-steps=3', '--g-batch=32', '--batch=16', '--lr=1e-4', '--ctrl-lr=1e-3',
                     '--entropy-weight=1e-3', '--n-critic=2', '--reset-stat=std', '--reward-samples=20',
                     '--detector=inception', '--g-channels=16', '--d-channels=8', '--num-candidates=4', '--beam-size=2',
                     '--no-dynamic-reset')
    alg = c['algorithm_kwargs']
    assert alg['grow_iters'] == [2, 6] # 25 and 55 of 90, scaled to 9
    assert (alg['shared_steps'], alg['ctrl_steps'], alg['g_batch'], c['batch_size'], alg['lr'], alg['ctrl_lr']) == \
        (7, 3, 32, 16, 1e-4, 1e-3)
    assert (alg['entropy_weight'], alg['n_critic'], alg['reset_stat'], alg['reward'], alg['reward_samples']) == \
        (1e-3, 2, 'std', 'is', 20)
    assert alg['dynamic_reset'] is False
    assert (alg['num_candidates'], alg['beam_size'], alg['evaluator_kwargs']['batch_size']) == (4, 2, 20)
    assert c['G_kwargs']['g_channels'] == 16 and c['D_kwargs']['d_channels'] == 8
    assert '9 iterations of 7 D steps and 3 controller steps' in out
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=autogan', '--single-level')
    assert (c['algorithm_kwargs']['single_level'], c['algorithm_kwargs']['grow_iters']) == (True, [])
    assert 'one controller for every cell (single level)' in out

def test_dry_run_random_weight_sharing(data, tmp_path, capsys):
    # AutoGAN Sec. 4.3.5: random search with weight sharing beside the early-stopping one, on a backbone's shared G.
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=random', '--weight-sharing')
    assert c['algorithm_kwargs']['class_name'] == 'nas.search.random_search.SharedRandomSearch'
    assert c['G_kwargs']['class_name'] == 'nas.space.supernet_conventional.SupernetGenerator'
    assert 'scored with weights shared by every architecture' in out and '-random-ws-batch' in out

def test_dry_run_random_in_every_space(data, tmp_path, capsys):
    from nas.search.random_search import sample_genotype
    from nas.space.autogan_space import Generator
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=random')
    assert printed(out, 'Search space size:') == (6 ** 3 * 3 ** 2) ** 3 * 3 ** 3 # conventional by default
    alg = c['algorithm_kwargs']
    assert alg['class_name'] == 'nas.search.random_search.RandomSearch' and alg['space'] == 'conventional'
    assert (alg['num_samples'], alg['train_steps'], alg['n_critic'], alg['g_batch'], c['batch_size']) == (10, 500, 5, 128, 64)
    assert (alg['lr'], alg['betas'], alg['reward']) == (2e-4, [0.0, 0.9], 'fid')
    assert alg['child_kwargs'] == dict(z_dim=128, g_channels=256)
    assert 'Candidates:             10, 500 D steps each (budget 5000 D steps)' in out
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=random', '--backbone=autogan',
                     '--iters=3', '--train-steps=20', '--g-channels=8', '--seed=4')
    assert printed(out, 'Search space size:') == 36 * 72 * 144
    rng = np.random.default_rng(4) # the candidates, drawn as RandomSearch draws them
    counts = [sum(p.numel() for p in Generator(sample_genotype('autogan', rng).to_dict(), g_channels=8).parameters())
              for _ in range(3)]
    line = [l for l in out.splitlines() if l.startswith('G parameters:')][0]
    assert line.split(':')[1].split('(')[0].split() == [str(min(counts)), 'to', str(max(counts))]
    c, out = dry_run(capsys, f'--outdir={tmp_path}', f'--data={data["d16"]}', '--method=random', '--mode=micro',
                     '--width-frac=0.0625')
    assert printed(out, 'Search space size:') == 9 and c['algorithm_kwargs']['mode'] == 'micro'
    assert c['algorithm_kwargs']['child_kwargs']['synthesis_kwargs']['channel_base'] == 32768 // 16

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
    (['--backbone=stylegan2', '--search-d', '--data={d16}'], ['--search-d: the stylegan2 backbone has no searchable discriminator', '--backbone=conventional']),
    (['--method=autogan', '--preset=alphaGAN_l'], ['--preset: only for --method=alphagan, not --method=autogan']),
    (['--method=autogan', '--single-level', '--grow-iters=1'], ['--grow-iters: a --single-level search adds no cells']),
    (['--method=autogan', '--mode=micro'], ['--mode: only for --backbone=stylegan2', 'autogan space']),
    (['--method=autogan', '--backbone=conventional'], ['--backbone=conventional: --method=autogan searches --backbone=autogan']),
    (['--backbone=autogan'], ['--backbone=autogan: --method=alphagan searches --backbone=conventional or stylegan2']),
    (['--method=autogan', '--reward=is'], ['--reward=is: the detector offline has no logits', '--reward=fid']),
    (['--method=random', '--reward=is', '--detector=vgg16'], ['--reward=is: the detector vgg16 has no logits']),
    (['--method=autogan', '--detector=missing.pt'], ['--detector: missing.pt: no such file']),
    (['--method=autogan', '--grow-iters=50,20'], ['--grow-iters: 50,20: at most two increasing iterations in 1..89']),
    (['--method=autogan', '--iters=4', '--grow-iters=1,2,3'], ['--grow-iters: 1,2,3']),
    (['--method=autogan', '--train-steps=5'], ['--train-steps: only for --method=random']),
    (['--method=random', '--T=2'], ['--T: only for --method=alphagan, not --method=random']),
    (['--method=random', '--up-ops=no_deconv'], ['--up-ops: only for --method=alphagan']),
    (['--ctrl-steps=3'], ['--ctrl-steps: only for --method=autogan, not --method=alphagan']),
    (['--reward=fid'], ['--reward: only for --method=autogan or random']),
    (['--method=random', '--backbone=stylegan2', '--g-channels=8', '--data={d16}'], ['--g-channels: only for --backbone=conventional or autogan']),
    (['--method=autogan', '--data={d36}'], ['--data: resolution 36', 'autogan generator']),
    (['--method=autogan', '--reward-samples=5'], ['--reward-samples']),
    (['--data={d36}'], ['--data: resolution 36', 'not a multiple of 8']),
    (['--backbone=stylegan2', '--data={d48}'], ['--data: resolution 48', 'not a power of two']),
    (['--data=nowhere.zip'], ['--data:']),
    (['--resume=nowhere.pt'], ['--resume: nowhere.pt: no such file']),
    (['--resume={empty}'], ['holds no search-state']),
], ids=['mode', 'g_channels', 'up_ops', 'width_frac', 'search_d', 'autogan_preset', 'single_level_grow', 'autogan_mode', 'autogan_backbone',
        'alphagan_backbone', 'is_offline', 'is_vgg16', 'no_detector', 'grow_order', 'grow_count', 'autogan_train_steps',
        'random_T', 'random_up_ops', 'alphagan_ctrl', 'alphagan_reward', 'random_g_channels', 'autogan_res36',
        'reward_samples', 'res36', 'res48', 'no_data', 'no_resume', 'empty_resume_dir'])
def test_bad_inputs(data, tmp_path, capsys, args, fragments):
    args = [a.format(**data) for a in args]
    if not any(a.startswith('--data=') for a in args):
        args.append(f'--data={data["d32"]}')
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "runs"}', '--dry-run', *args)
    assert_one_line_error(res, *fragments)
    assert not os.path.exists(tmp_path / 'runs')

def test_help_lists_the_ablation_switches():
    res = run('search.py', '--help')
    assert res.returncode == 0
    for option in ['--bar-update', '--search-d', '--gumbel', '--warmup', '--up-ops', '--preset', '--resume', '--dry-run',
                   '--method', '--ctrl-steps', '--entropy-weight', '--reward', '--detector', '--train-steps']:
        assert option in res.stdout

#----------------------------------------------------------------------------
