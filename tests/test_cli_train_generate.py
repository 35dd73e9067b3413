"""train.py and generate.py end to end on a tiny dataset: outputs, safe loading, resume, bad input."""

import json
import os
import pickle
import shutil

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from cli_helpers import assert_one_line_error, make_images, run, run_inprocess
from test_training_stylegan2_ada_import import write_stylegan2_ada_pickle
from torch_utils import checkpoint

TINY = ['--cfg=stylegan2', '--cbase=128', '--cmax=32', '--map=2', '--batch=4', '--tick=0.008', '--snap=1',
        '--metrics=none', '--workers=0', '--grid-images=8', '--device=cpu']

#----------------------------------------------------------------------------

def read_stats(run_dir):
    with open(os.path.join(run_dir, 'stats.jsonl')) as f:
        return [json.loads(line) for line in f]

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One tiny training run (16 images of 16x16, 4 steps), shared by the tests below."""
    tmp = tmp_path_factory.mktemp('train')
    data = make_images(tmp / 'data', 16, 16)
    res = run('train.py', f'--outdir={tmp / "runs"}', f'--data={data}', '--kimg=0.016', *TINY)
    assert res.returncode == 0, res.stderr
    run_dir = os.path.join(tmp, 'runs', os.listdir(tmp / 'runs')[0])
    return dict(tmp=tmp, data=data, run_dir=run_dir, pkl=os.path.join(run_dir, 'network-snapshot-000000.pkl'))

#----------------------------------------------------------------------------

def test_training_writes_stylegan2_ada_outputs(trained):
    run_dir = trained['run_dir']
    assert os.path.basename(run_dir) == '00000-data-stylegan2-kimg0.016-batch4'
    names = set(os.listdir(run_dir))
    for name in ['log.txt', 'stats.jsonl', 'training_options.json', 'reals.png', 'fakes_init.png', 'fakes000000.png',
                 'network-snapshot-000000.pkl', 'network-snapshot-000000.safetensors', 'training-state-000000.pt']:
        assert name in names
    assert any(name.startswith('events.out.tfevents') for name in names)
    with open(os.path.join(run_dir, 'log.txt')) as f:
        log = f.read()
    assert 'tick 0 ' in log and 'sec/kimg' in log and 'Exiting...' in log
    stats = read_stats(run_dir)
    assert stats[-1]['Progress/kimg']['mean'] == pytest.approx(0.016)
    assert {'Loss/G/loss', 'Loss/D/loss', 'Loss/r1_penalty', 'Loss/pl_penalty'} <= set(stats[-1])
    with open(os.path.join(run_dir, 'training_options.json')) as f:
        options = json.load(f)
    assert options['batch_size'] == 4 and options['G_kwargs']['synthesis_kwargs']['channel_base'] == 128
    assert PIL.Image.open(os.path.join(run_dir, 'fakes000000.png')).size == (PIL.Image.open(os.path.join(run_dir, 'reals.png')).size)

def test_generate_from_own_pickle_needs_no_flag(trained, tmp_path):
    # A pkl without its safe twin beside it: our own classes unpickle safely, no --allow-pickle needed.
    lone_pkl = tmp_path / 'lone.pkl'
    shutil.copyfile(trained['pkl'], lone_pkl)
    out = tmp_path / 'out'
    res = run('generate.py', f'--network={lone_pkl}', '--seeds=0-2,7', f'--outdir={out}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert sorted(os.listdir(out)) == ['seed0000.png', 'seed0001.png', 'seed0002.png', 'seed0007.png']
    img = PIL.Image.open(out / 'seed0007.png')
    assert img.size == (16, 16) and img.mode == 'RGB'
    res = run('generate.py', f'--network={trained["pkl"]}', '--seeds=0-2,7', f'--outdir={out}', '--grid', '--device=cpu')
    assert res.returncode == 0 and PIL.Image.open(out / 'grid.png').size == (32, 32)
    again = run('generate.py', f'--network={trained["pkl"]}', '--seeds=7', f'--outdir={tmp_path / "again"}', '--device=cpu')
    assert again.returncode == 0
    assert np.array_equal(np.asarray(PIL.Image.open(out / 'seed0007.png')), np.asarray(PIL.Image.open(tmp_path / 'again' / 'seed0007.png')))

def test_resume_continues_kimg_and_ada_p(trained):
    res = run('train.py', f'--outdir={trained["tmp"] / "resumed"}', f'--data={trained["data"]}', f'--resume={trained["pkl"]}',
              '--kimg=0.032', *TINY)
    assert res.returncode == 0, res.stderr
    resumed_dir = os.path.join(trained['tmp'], 'resumed', os.listdir(trained['tmp'] / 'resumed')[0])
    first, last = read_stats(trained['run_dir']), read_stats(resumed_dir)
    assert last[0]['Progress/kimg']['mean'] == pytest.approx(0.020) # one step of 4 images after 0.016
    assert last[-1]['Progress/kimg']['mean'] == pytest.approx(0.032)
    assert last[0]['Progress/augment']['mean'] >= first[-1]['Progress/augment']['mean'] - 1e-6
    assert 'fakes_init.png' not in os.listdir(resumed_dir)
    with open(os.path.join(resumed_dir, 'training_options.json')) as f:
        options = json.load(f)
    assert 'ada_kimg' not in options # an exact continuation keeps the run's own settings

def test_transfer_learning_from_a_stylegan2_ada_pickle_with_frozen_d_layers(trained, tmp_path):
    """--resume of StyleGAN2-ADA's own pickle (weights, no training state) with --freezed=2: starts at kimg 0 with
    StyleGAN2-ADA's transfer settings, and D's first two layers (b16.fromrgb, b16.conv0) keep the pickle's weights."""
    source = checkpoint.load_network(trained['pkl'])
    del source['progress'] # StyleGAN2-ADA's snapshots have none
    theirs = write_stylegan2_ada_pickle(tmp_path / 'theirs.pkl', source)
    res = run('train.py', f'--outdir={tmp_path / "runs"}', f'--data={trained["data"]}', f'--resume={theirs}',
              '--freezed=2', '--kimg=0.016', *TINY)
    assert res.returncode == 0, res.stderr
    run_dir = os.path.join(tmp_path, 'runs', os.listdir(tmp_path / 'runs')[0])
    with open(os.path.join(run_dir, 'training_options.json')) as f:
        options = json.load(f)
    assert options['ada_kimg'] == 100 and options['ema_rampup'] is None
    assert options['D_kwargs']['block_kwargs']['freeze_layers'] == 2
    assert read_stats(run_dir)[-1]['Progress/kimg']['mean'] == pytest.approx(0.016)
    tuned = checkpoint.load_network(os.path.join(run_dir, 'network-snapshot-000000.pkl'))['D'].state_dict()
    before = source['D'].state_dict()
    for name in ['b16.fromrgb.weight', 'b16.fromrgb.bias', 'b16.conv0.weight', 'b16.conv0.bias']:
        assert torch.equal(tuned[name], before[name]), name
    assert not torch.equal(tuned['b16.conv1.weight'], before['b16.conv1.weight'])

def test_subset_trains_on_a_fixed_random_subset(trained, tmp_path, capsys):
    res = run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}', '--subset=5', '--mirror',
                        '--seed=3', '--dry-run', *TINY)
    assert res.returncode == 0, res.stderr
    options = json.loads(res.stdout[res.stdout.index('{'):res.stdout.index('\n}\n') + 2])
    kwargs = options['training_set_kwargs']
    assert kwargs['max_size'] == 5 and kwargs['random_seed'] == 3 and options['run_dir'].endswith('-data-subset5-mirror-stylegan2-batch4')
    dataset = dnnlib.util.construct_class_by_name(**kwargs)
    assert len(dataset) == 10 # 5 images and their x-flips
    other = dnnlib.util.construct_class_by_name(**dict(kwargs, random_seed=4))
    assert sorted(dataset._raw_idx) != sorted(other._raw_idx) # the seed picks the subset
    assert_one_line_error(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}',
                                        '--subset=17', '--dry-run', *TINY), '--subset: 17 is more than the 16 images')

#----------------------------------------------------------------------------

def test_bad_network_files(trained, tmp_path):
    truncated = tmp_path / 'truncated.pkl'
    with open(trained['pkl'], 'rb') as f:
        truncated.write_bytes(f.read()[:100])
    assert_one_line_error(run('generate.py', f'--network={truncated}', f'--outdir={tmp_path}'), '--network', 'truncated')
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}', f'--resume={truncated}'), '--resume', 'truncated')
    not_network = tmp_path / 'dict.pkl'
    not_network.write_bytes(pickle.dumps({'answer': 42}))
    assert_one_line_error(run('generate.py', f'--network={not_network}', f'--outdir={tmp_path}'), 'no generator')
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}', f'--resume={not_network}'), 'not a training snapshot')
    assert_one_line_error(run('generate.py', f'--network={tmp_path / "missing.pkl"}', f'--outdir={tmp_path}'), 'missing.pkl')

def test_bad_training_options(trained, tmp_path):
    odd = make_images(tmp_path / 'odd', 4, 12)
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={odd}'), '--data', 'not a power of two')
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}', '--gpus=3', '--batch=4'), '--batch', 'divisible')
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}', '--gpus=64', '--batch=64'), '--gpus')
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={trained["data"]}', '--metrics=fid_bogus'), '--metrics', 'fid_bogus')
    assert_one_line_error(run('train.py', f'--outdir={tmp_path}', f'--data={tmp_path / "nowhere"}'), '--data', 'nowhere')
    assert not [name for name in os.listdir(tmp_path) if name[:5].isdigit()] # no run directory was created

#----------------------------------------------------------------------------

def test_bare_resume_matches_training_options_not_the_name(trained, tmp_path, capsys):
    """A bare --resume takes the newest run whose training_options.json trains the same thing, whatever its name:
    not a newer run of the same name with other options."""
    outdir = tmp_path / 'runs'
    renamed = outdir / '00003-renamed'
    shutil.copytree(trained['run_dir'], renamed)
    decoy = outdir / f'00009-{os.path.basename(trained["run_dir"])[6:]}'
    shutil.copytree(trained['run_dir'], decoy)
    options = json.loads((decoy / 'training_options.json').read_text())
    (decoy / 'training_options.json').write_text(json.dumps(dict(options, loss_kwargs=dict(options['loss_kwargs'], r1_gamma=5))))
    args = ['train.py', f'--outdir={outdir}', f'--data={trained["data"]}', '--kimg=0.016', *TINY, '-n']
    res = run_inprocess(capsys, *args, '--resume')
    assert res.returncode == 0, res.stderr
    assert f'"resume_pkl": "{renamed / "network-snapshot-000000.pkl"}"' in res.stdout
    assert_one_line_error(run_inprocess(capsys, *args, '--resume', '--gamma=3'), '--resume: no run directory in',
                          'with the same training options')
