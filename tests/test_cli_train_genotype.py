"""train.py --genotype: conventional and AutoGAN re-training configs, a conventional run and generate.py on its pickle
(the AutoGAN run is in test_cli_search_autogan.py), StyleGAN2 genotypes, bad genotype files and option combinations."""

import json
import os
import pickle

import PIL.Image
import pytest

from cli_helpers import assert_one_line_error, make_images, run, run_inprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENOTYPES = os.path.join(ROOT, 'nas', 'genotypes')
TINY = ['--g-channels=8', '--d-channels=8', '--batch=4', '--tick=0.008', '--snap=1', '--metrics=none', '--workers=0',
        '--grid-images=4', '--device=cpu']

#----------------------------------------------------------------------------

def dry_run_options(res):
    assert res.returncode == 0, res.stderr
    text = res.stdout.split('Training options:')[1].split('\n\n')[0]
    return json.loads(text)

def read_json(path):
    with open(path) as f:
        return json.load(f)

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('data')
    return dict(tmp=tmp, d32=make_images(tmp / 'd32', 8, 32), d48=make_images(tmp / 'd48', 4, 48),
                d16=make_images(tmp / 'd16', 4, 16), d36=make_images(tmp / 'd36', 4, 36))

#----------------------------------------------------------------------------

def test_conventional_defaults_are_the_papers(data, tmp_path, capsys):
    genotype = os.path.join(GENOTYPES, 'alphagan_s_cifar10.json')
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d32"]}', f'--genotype={genotype}', '--dry-run'))
    assert c['G_kwargs']['class_name'] == 'nas.backbones.conventional.Generator'
    assert c['G_kwargs']['genotype'] == read_json(genotype) and c['G_kwargs']['g_channels'] == 256
    assert c['D_kwargs'] == dict(class_name='training.networks_conventional.Discriminator', d_channels=128)
    assert c['loss_kwargs'] == dict(class_name='training.loss.HingeLoss')
    # Supp. A.1.1: D batch 64, G batch 128, Adam(2e-4, (0, 0.9)), 50k G iterations; AutoGAN: n_critic 5, linear decay.
    assert (c['batch_size'], c['G_batch_size'], c['n_critic']) == (64, 128, 5)
    assert c['total_kimg'] * 1000 == 50000 * 5 * 64
    assert c['G_opt_kwargs']['lr'] == c['D_opt_kwargs']['lr'] == 2e-4 and c['G_opt_kwargs']['betas'] == [0.0, 0.9]
    assert c['lr_schedule'] == 'linear' and c['augment_kwargs'] is None
    assert (0.5 ** (64 / (c['ema_kimg'] * 1000))) ** 5 == pytest.approx(0.999, abs=1e-5) # the official code's G EMA
    assert c['G_reg_interval'] is None and c['D_reg_interval'] is None
    assert not os.listdir(tmp_path) # a dry run writes nothing
    # STL-10 at 48x48 (supp. A.1.2): beta1 0.5, 80k G iterations.
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d48"]}', f'--genotype={genotype}', '--dry-run',
                            '--ema-kimg=0', '--lr-decay=none', '--aug=ada'))
    assert c['G_opt_kwargs']['betas'] == [0.5, 0.9] and c['total_kimg'] * 1000 == 80000 * 5 * 64
    assert c['ema_kimg'] == 0 and c['lr_schedule'] is None and c['ada_target'] == 0.6

def test_autogan_defaults_are_the_papers(data, tmp_path, capsys):
    genotype = os.path.join(GENOTYPES, 'autogan_cifar10.json')
    res = run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d32"]}', f'--genotype={genotype}', '--dry-run')
    c = dry_run_options(res)
    assert '00000-d32-autogan-genotype' in res.stdout
    assert c['G_kwargs'] == dict(class_name='nas.space.autogan_space.Generator', genotype=read_json(genotype), z_dim=128,
                                 g_channels=256)
    assert c['D_kwargs'] == dict(class_name='training.networks_conventional.Discriminator', d_channels=128)
    assert c['loss_kwargs'] == dict(class_name='training.loss.HingeLoss') and c['augment_kwargs'] is None
    # AutoGAN Sec. 4 and the authors' code: D batch 64, G batch 128, n_critic 5, Adam(2e-4, (0, 0.9)), 50k G
    # iterations at a constant learning rate, G weights EMA 0.999 per G step (the loop's EMA runs every D step).
    assert (c['batch_size'], c['G_batch_size'], c['n_critic']) == (64, 128, 5)
    assert c['total_kimg'] * 1000 == 50000 * 5 * 64 and c['lr_schedule'] is None
    assert c['G_opt_kwargs']['lr'] == c['D_opt_kwargs']['lr'] == 2e-4 and c['G_opt_kwargs']['betas'] == [0.0, 0.9]
    assert (0.5 ** (64 / (c['ema_kimg'] * 1000))) ** 5 == pytest.approx(0.999, abs=1e-5)
    assert not os.listdir(tmp_path)
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d32"]}', f'--genotype={genotype}',
                            '--dry-run', '--lr-decay=linear', '--ema-kimg=0', '--g-channels=64', '--kimg=10'))
    assert (c['lr_schedule'], c['ema_kimg'], c['G_kwargs']['g_channels'], c['total_kimg']) == ('linear', 0, 64, 10)
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d32"]}', f'--genotype={genotype}',
                            '--dry-run', '--cfg=conv_cifar')) # alphaGAN's recipe for an AutoGAN generator
    assert c['G_kwargs']['class_name'] == 'nas.space.autogan_space.Generator'
    assert c['lr_schedule'] == 'linear' and c['ema_kimg'] == 222

def test_learning_rates_and_n_critic_override_every_preset(data, tmp_path, capsys):
    genotype = os.path.join(GENOTYPES, 'alphagan_s_cifar10.json')
    for extra in [[f'--genotype={genotype}'], ['--cfg=cifar']]:
        base = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d32"]}', '--dry-run', *extra))
        c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d32"]}', '--dry-run', *extra,
                                          '--glr=0.0001', '--dlr=0.0004', '--n-critic=2'))
        assert (c['G_opt_kwargs']['lr'], c['D_opt_kwargs']['lr'], c['n_critic']) == (1e-4, 4e-4, 2)
        assert base['G_opt_kwargs']['lr'] != 1e-4 and base['D_opt_kwargs']['lr'] != 4e-4 and base.get('n_critic', 1) != 2
        assert {k: v for k, v in c.items() if k not in ('G_opt_kwargs', 'D_opt_kwargs', 'n_critic', 'run_dir')} == \
               {k: v for k, v in base.items() if k not in ('G_opt_kwargs', 'D_opt_kwargs', 'n_critic', 'run_dir')}
    assert not os.listdir(tmp_path)

def test_conventional_retrain_then_generate(data, tmp_path):
    genotype = os.path.join(GENOTYPES, 'alphagan_l_cifar10.json')
    res = run('train.py', f'--outdir={tmp_path / "runs"}', f'--data={data["d32"]}', f'--genotype={genotype}',
              '--kimg=0.024', *TINY)
    assert res.returncode == 0, res.stderr
    run_dir = os.path.join(tmp_path, 'runs', os.listdir(tmp_path / 'runs')[0])
    assert os.path.basename(run_dir) == '00000-d32-conv_cifar-kimg0.024-batch4-genotype'
    with open(os.path.join(run_dir, 'stats.jsonl')) as f:
        stats = [json.loads(line) for line in f]
    assert {'Loss/G/loss', 'Loss/D/loss'} <= set().union(*stats)
    pkl = os.path.join(run_dir, 'network-snapshot-000000.pkl')
    with open(pkl, 'rb') as f:
        snapshot = pickle.load(f)
    G = snapshot['G_ema']
    assert type(G).__name__ == 'Generator' and G.init_kwargs['genotype'] == read_json(genotype)
    assert G.cells['cell1'].up0.__class__.__name__ != G.cells['cell1'].up1.__class__.__name__ # deconv vs bilinear
    os.remove(os.path.splitext(pkl)[0] + '.safetensors') # sample from the pickle itself
    res = run('generate.py', f'--network={pkl}', '--seeds=0-2', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    images = sorted(os.listdir(tmp_path / 'out'))
    assert images == ['seed0000.png', 'seed0001.png', 'seed0002.png']
    assert PIL.Image.open(tmp_path / 'out' / images[0]).size == (32, 32)

def test_stylegan2_genotype_goes_into_the_stylegan2_config(data, tmp_path, capsys):
    genotype = os.path.join(GENOTYPES, 'stylegan2_default.json') # micro: transfers to any resolution
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d16"]}', f'--genotype={genotype}',
                            '--cfg=stylegan2', '--dry-run'))
    assert c['G_kwargs']['class_name'] == 'nas.backbones.stylegan2.Generator'
    assert c['G_kwargs']['genotype'] == read_json(genotype)
    assert c['loss_kwargs']['class_name'] == 'training.loss.StyleGAN2Loss'
    # alphaGAN supp. A.1.2: a searched genotype re-trains without path-length regularisation; --pl-weight sets one.
    assert c['loss_kwargs']['pl_weight'] == 0
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d16"]}', f'--genotype={genotype}',
                            '--cfg=stylegan2', '--dry-run', '--pl-weight=2'))
    assert c['loss_kwargs']['pl_weight'] == 2
    c = dry_run_options(run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data["d16"]}',
                            '--cfg=stylegan2', '--dry-run')) # StyleGAN2 itself keeps its regulariser (weight 2)
    assert 'pl_weight' not in c['loss_kwargs']

@pytest.mark.parametrize('args, fragments', [
    (['--genotype=missing.json'], ['--genotype: missing.json: no such file']),
    (['--genotype={bad}'], ['--genotype:', 'ops.cell1.n0', "unknown op 'conv_9x9'"]),
    (['--genotype={conv}', '--cfg=stylegan2'], ['--cfg=stylegan2: conventional genotypes take conv_cifar or conv_stl or autogan']),
    (['--genotype={autogan}', '--cfg=auto'], ['--cfg=auto: autogan genotypes take']),
    (['--genotype={autogan}', '--map=2'], ['--map: not used by a conventional genotype']),
    (['--genotype={autogan}', '--data={d36}'], ['--data: resolution 36', 'as the autogan genotype']),
    (['--genotype={conv}', '--gamma=1'], ['--gamma: not used by a conventional genotype']),
    (['--genotype={conv}', '--pl-weight=2'], ['--pl-weight: not used by a conventional genotype']),
    (['--cfg=autogan'], ['--cfg=autogan: only for a conventional or autogan --genotype']),
    (['--g-channels=8'], ['--g-channels: only for a conventional or autogan --genotype']),
    (['--genotype={conv}', '--data={d36}'], ['--data: resolution 36', 'not a multiple of 8']),
], ids=['missing', 'bad_op', 'cfg_stylegan2', 'autogan_cfg_auto', 'autogan_map', 'autogan_resolution', 'gamma', 'pl_weight',
        'autogan_cfg_alone', 'g_channels_alone', 'resolution'])
def test_bad_inputs(data, tmp_path, capsys, args, fragments):
    bad = read_json(os.path.join(GENOTYPES, 'alphagan_s_cifar10.json'))
    bad['ops']['cell1']['n0'] = 'conv_9x9'
    with open(tmp_path / 'bad.json', 'w') as f:
        json.dump(bad, f)
    names = dict(bad=tmp_path / 'bad.json', conv=os.path.join(GENOTYPES, 'alphagan_s_cifar10.json'), d36=data['d36'],
                 autogan=os.path.join(GENOTYPES, 'autogan_cifar10.json'))
    args = [a.format(**names) for a in args]
    if not any(a.startswith('--data=') for a in args):
        args.append(f'--data={data["d32"]}')
    res = run_inprocess(capsys, 'train.py', f'--outdir={tmp_path / "runs"}', '--dry-run', *args)
    assert_one_line_error(res, *fragments)
    assert not os.path.exists(tmp_path / 'runs')

#----------------------------------------------------------------------------
