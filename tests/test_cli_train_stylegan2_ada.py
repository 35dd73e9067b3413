"""train.py against StyleGAN2-ADA's train.py: its --cfg presets field by field, its per-GPU batch rule, its run names,
BOOL options, and the parameter counts --dry-run prints."""

import json
import os

import pytest

import dnnlib
import train
from cli_helpers import assert_one_line_error, make_images, run_inprocess

# StyleGAN2-ADA's published presets: the `cfg_specs` table of its train.py (stylegan2-ada-pytorch, Karras et al.
# 2020, the values of its Appendix D / Table 3). This table is the reference; train.CFG_SPECS must equal it.
PUBLISHED_CFG_SPECS = {
    #             ref_gpus kimg    mb  mbstd fmaps lrate   gamma ema  ramp  map
    'auto':      (-1,      25000,  -1, -1,   -1,   -1,     -1,   -1,  0.05, 2),
    'stylegan2': (8,       25000,  32, 4,    1,    0.002,  10,   10,  None, 8),
    'paper256':  (8,       25000,  64, 8,    0.5,  0.0025, 1,    20,  None, 8),
    'paper512':  (8,       25000,  64, 8,    1,    0.0025, 0.5,  20,  None, 8),
    'paper1024': (8,       25000,  32, 4,    1,    0.002,  2,    10,  None, 8),
    'cifar':     (2,       100000, 64, 32,   1,    0.0025, 0.01, 500, 0.05, 2),
}
FIELDS = ['ref_gpus', 'kimg', 'mb', 'mbstd', 'fmaps', 'lrate', 'gamma', 'ema', 'ramp', 'map']

GENOTYPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'nas', 'genotypes')

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp('d') / 'faces', 4, 8)

def dry_run(capsys, tmp_path, data, *args):
    res = run_inprocess(capsys, 'train.py', f'--outdir={tmp_path}', f'--data={data}', '--device=cpu', '-n', *args)
    assert res.returncode == 0, res.stderr
    c = json.loads(res.stdout.split('Training options:')[1].split('\n\n')[0])
    assert not os.listdir(tmp_path) # a dry run writes nothing
    return c, res.stdout

#----------------------------------------------------------------------------

@pytest.mark.parametrize('cfg', list(PUBLISHED_CFG_SPECS))
def test_cfg_presets_equal_the_published_table(cfg):
    assert set(train.CFG_SPECS) - {*PUBLISHED_CFG_SPECS} == set()
    assert train.CFG_SPECS[cfg] == dict(zip(FIELDS, PUBLISHED_CFG_SPECS[cfg]))

@pytest.mark.parametrize('cfg, gpus, batch, expected', [
    ('paper256', 1, None, (64, 8)),     # mb // ref_gpus = 64 // 8: one GPU accumulates 8 rounds of 8
    ('paper512', 1, None, (64, 8)),
    ('paper1024', 1, None, (32, 4)),
    ('stylegan2', 1, None, (32, 4)),
    ('stylegan2', 2, None, (32, 4)),
    ('stylegan2', 1, 12, (12, 12)),    # an explicit --batch is split over --gpus
    ('stylegan2', 2, 12, (12, 6)),
    ('auto', 1, None, (32, 32)),        # auto: ref_gpus = --gpus
    ('auto', 2, None, (64, 32)),
])
def test_batch_per_gpu_follows_stylegan2_ada(capsys, tmp_path, data, cfg, gpus, batch, expected):
    args = [f'--cfg={cfg}', f'--gpus={gpus}'] + ([f'--batch={batch}'] if batch is not None else [])
    c, _out = dry_run(capsys, tmp_path, data, *args)
    assert (c['batch_size'], c['batch_gpu']) == expected

def test_cifar_preset(capsys, tmp_path, data):
    c, _out = dry_run(capsys, tmp_path, data, '--cfg=cifar')
    assert (c['batch_size'], c['batch_gpu'], c['total_kimg'], c['ema_kimg'], c['ema_rampup']) == (64, 32, 100000, 500, 0.05)
    assert c['D_kwargs']['architecture'] == 'orig' and c['G_kwargs']['mapping_kwargs']['num_layers'] == 2
    assert c['loss_kwargs'] == dict(class_name='training.loss.StyleGAN2Loss', r1_gamma=0.01, pl_weight=0,
                                    style_mixing_prob=0)

#----------------------------------------------------------------------------
# Run names: StyleGAN2-ADA's desc rules (setup_training_loop_kwargs), then ganas's own parts.

@pytest.mark.parametrize('args, name', [
    ([], 'faces-auto1'),
    (['--gpus=2'], 'faces-auto2'),
    (['--cfg=paper256', '--mirror=1', '--cond=0'], 'faces-mirror-paper256'),
    (['--subset=2', '--mirror', '--cfg=stylegan2', '--gamma=10', '--kimg=1000', '--batch=16'],
     'faces-subset2-mirror-stylegan2-gamma10-kimg1000-batch16'),
    (['--aug=ada', '--target=0.7', '--augpipe=bg'], 'faces-auto1-ada-target0.7-bg'),
    (['--aug=fixed', '--p=0.2'], 'faces-auto1-fixed-p0.2'),
    (['--cfg=stylegan2', '--aug=noaug', '--resume=noresume', '--freezed=3'], 'faces-stylegan2-noaug-noresume-freezed3'),
    ([f'--genotype={GENOTYPES}/stylegan2_default.json', '--kimg=5'], 'faces-auto1-kimg5-genotype'),
])
def test_run_names_follow_stylegan2_ada(capsys, tmp_path, data, args, name):
    c, _out = dry_run(capsys, tmp_path, data, *args)
    assert os.path.basename(c['run_dir']) == f'00000-{name}'

def test_run_name_of_a_transfer_learning_source():
    given = dnnlib.EasyDict(cond=False, subset=None, mirror=True, gpus=4, gamma=None, kimg=None, batch=None, aug=None,
                            p=None, target=None, augpipe=None, resume='ffhq1024', freezed=None)
    assert train.run_desc(given, 'metfaces', 'paper1024', None) == 'metfaces-mirror-paper1024-resumeffhq1024'
    given.resume = '/nets/x.pkl'
    assert train.run_desc(given, 'metfaces', 'paper1024', None) == 'metfaces-mirror-paper1024-resumecustom'
    given.resume = 'latest' # a bare --resume continues under the same name
    assert train.run_desc(given, 'metfaces', 'paper1024', None) == 'metfaces-mirror-paper1024'

#----------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [('1', True), ('true', True), ('yes', True), ('0', False), ('false', False),
                                             ('no', False), (None, True)])
def test_bool_options_take_stylegan2_ada_values_and_stay_flags(capsys, tmp_path, data, value, expected):
    args = [f'--{name}' + (f'={value}' if value is not None else '') for name in ['mirror', 'fp32', 'nhwc', 'nobench',
                                                                                   'allow-tf32']]
    c, _out = dry_run(capsys, tmp_path, data, '--cfg=stylegan2', *args)
    assert c['training_set_kwargs']['xflip'] is expected
    assert (c['G_kwargs']['synthesis_kwargs']['num_fp16_res'] == 0) is expected
    assert c['G_kwargs']['synthesis_kwargs']['fp16_channels_last'] is expected
    assert c['cudnn_benchmark'] is not expected and c['allow_tf32'] is expected

def test_bad_bool_and_option_mismatches_end_in_one_line(capsys, tmp_path, data):
    base = ['train.py', f'--outdir={tmp_path}', f'--data={data}', '--device=cpu', '-n']
    assert_one_line_error(run_inprocess(capsys, *base, '--mirror=maybe'), '--mirror', 'maybe')
    assert_one_line_error(run_inprocess(capsys, *base, '--aug=noaug', '--target=0.5'), '--target', '--aug=ada')
    assert_one_line_error(run_inprocess(capsys, *base, '--aug=noaug', '--augpipe=bg'), '--augpipe', 'noaug')
    assert_one_line_error(run_inprocess(capsys, *base, '--cond=1'), '--cond', 'no labels')

def test_dry_run_prints_parameter_counts(capsys, tmp_path, data):
    c, out = dry_run(capsys, tmp_path, data, '--cfg=stylegan2', '--cbase=256', '--cmax=32', '--detector=inception')
    common = dict(c_dim=0, img_resolution=8, img_channels=3)
    G = dnnlib.util.construct_class_by_name(**c['G_kwargs'], **common)
    D = dnnlib.util.construct_class_by_name(**c['D_kwargs'], **common)
    num_G, num_D = (sum(p.numel() for p in net.parameters()) for net in [G, D])
    assert f'G parameters:        {num_G}\n' in out and f'D parameters:        {num_D}\n' in out
    assert num_G > 0 and num_D > 0 and c['detector'] == 'inception'
