"""Class-conditional search (search.py --cond): the conditional supernets, derived generators and discriminators of
every backbone depend on the label, every search method feeds labels to G and D, and a conditional search re-trains
with train.py --cond and samples with generate.py --class."""

import json
import os

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from cli_helpers import assert_one_line_error, make_images, run_inprocess
from nas import backbones
from nas import cost
from nas.genotype import Genotype
from nas.search import search_loop as sl
from nas.search.autogan import staged_D
from nas.search.reward import RewardEvaluator
from nas.space import autogan_space
from nas.space import cell_generator
from test_cli_search_autogan import TinyDetector
from test_nas_search_recorded import RUNS, SG2_SYNTHESIS
from training import networks_conventional
from training import networks_stylegan2

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')

C_DIM = 3
Z_DIM = W_DIM = 8

def one_hot(classes):
    return torch.eye(C_DIM)[classes]

#----------------------------------------------------------------------------
# Every searched and derived generator at 16 px, built with c_dim labels: (G, its parameter increase over c_dim=0).
# Cell generators add the z embedding, c_dim * z_dim; StyleGAN2's mapping network its label embedding (c_dim * w_dim
# weights + w_dim biases) and fc0's w_dim more inputs (w_dim * w_dim weights), StyleGAN2-ADA's layout.

CELL_INCREASE = C_DIM * Z_DIM
SG2_INCREASE = C_DIM * W_DIM + W_DIM + W_DIM * W_DIM

def sampled_genotype(backbone, mode=None):
    channels = dict(g_channels=4)
    if backbone == 'stylegan2':
        channels = dict(channel_base=64, channel_max=8, num_mapping_layers=2)
    return backbones.get(backbone).sample_genotype(np.random.default_rng(1), resolution=16, channels=channels,
                                                   mode=mode).to_dict()

def build_G(name, c_dim):
    torch.manual_seed(0)
    common = dict(z_dim=Z_DIM, c_dim=c_dim, img_resolution=16, img_channels=3)
    backbone, kind, mode = (name.split('/') + [None])[:3]
    sg2 = dict(common, w_dim=W_DIM, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SG2_SYNTHESIS)
    if name == 'conventional/supernet':
        return dnnlib.util.construct_class_by_name(class_name='nas.space.supernet_conventional.SupernetGenerator',
                                                   g_channels=4, **common)
    if name == 'autogan/supernet':
        G = autogan_space.SharedGenerator(g_channels=4, **common)
        G.set_arch(autogan_space.random_sample(np.random.default_rng(1)))
        return G
    if backbone == 'stylegan2' and kind == 'supernet':
        return dnnlib.util.construct_class_by_name(class_name='nas.space.supernet_stylegan2.SupernetGenerator',
                                                   mode=mode, **sg2)
    if backbone == 'stylegan2':
        return dnnlib.util.construct_class_by_name(class_name=backbones.get('stylegan2').generator_class,
                                                   genotype=sampled_genotype('stylegan2', mode), **sg2)
    return dnnlib.util.construct_class_by_name(class_name=backbones.get(backbone).generator_class, g_channels=4,
                                               genotype=sampled_genotype(backbone), **common)

MODES = backbones.get('stylegan2').modes
GENERATORS = ['conventional/supernet', 'conventional/derived', 'autogan/supernet', 'autogan/derived'] + \
    [f'stylegan2/{kind}/{mode}' for kind in ('supernet', 'derived') for mode in MODES]

def num_params(module):
    return sum(p.numel() for p in module.parameters())

@pytest.mark.parametrize('name', GENERATORS)
def test_conditional_generator_depends_on_the_class(name):
    G = build_G(name, C_DIM).eval()
    increase = SG2_INCREASE if name.startswith('stylegan2') else CELL_INCREASE
    assert num_params(G) - num_params(build_G(name, 0)) == increase
    z = torch.randn([2, Z_DIM], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        images = [G(z, one_hot([k, k]), noise_mode='const') for k in range(C_DIM)]
    for k in range(1, C_DIM):
        assert (images[k] - images[0]).abs().amax(dim=[1, 2, 3]).min() > 1e-4 # every sample, every other class

@pytest.mark.parametrize('name', ['conventional/derived', 'autogan/supernet', 'autogan/derived'])
def test_conditional_cell_generator_draws_the_unconditional_weights_first(name):
    # The embedding is built after the weights: an unconditional net of the same seed is the conditional one without
    # it (a supernet's alphas, drawn after the weights, differ).
    cond, plain = build_G(name, C_DIM).state_dict(), build_G(name, 0).state_dict()
    assert set(cond) - set(plain) == {'embed.weight'}
    assert all(torch.equal(value, cond[key]) for key, value in plain.items())

#----------------------------------------------------------------------------
# Discriminators: projection (Miyato & Koyama 2018) on the conventional D, its searchable twin and AutoGAN's growing
# D at every stage (c_dim * d_channels parameters more); StyleGAN2's cmap conditioning.

def conventional_D(class_name, c_dim):
    torch.manual_seed(0)
    return dnnlib.util.construct_class_by_name(class_name=class_name, c_dim=c_dim, img_resolution=16, img_channels=3,
                                               d_channels=4)

@pytest.mark.parametrize('class_name', ['training.networks_conventional.Discriminator',
                                        'nas.space.supernet_discriminator.SupernetDiscriminator'])
def test_projection_discriminator_depends_on_the_class(class_name):
    D = conventional_D(class_name, C_DIM).eval()
    assert num_params(D) - num_params(conventional_D(class_name, 0)) == C_DIM * 4
    img = torch.randn([2, 3, 16, 16], generator=torch.Generator().manual_seed(0))
    logits = [D(img, one_hot([k, k])) for k in range(C_DIM)]
    assert all((logits[k] - logits[0]).abs().min() > 1e-6 for k in range(1, C_DIM))

def test_autogan_growing_discriminator_depends_on_the_class():
    D = conventional_D('training.networks_conventional.Discriminator', C_DIM).eval()
    for stage in range(3): # AutoGAN's growing D reads 4, 8 and 16 px images
        img = torch.randn([2, 3, 4 << stage, 4 << stage], generator=torch.Generator().manual_seed(0))
        logits = [staged_D(D, img, one_hot([k, k]), stage) for k in range(C_DIM)]
        assert all((logits[k] - logits[0]).abs().min() > 1e-6 for k in range(1, C_DIM))

def test_stylegan2_discriminator_depends_on_the_class():
    torch.manual_seed(0)
    D = networks_stylegan2.Discriminator(c_dim=C_DIM, img_resolution=16, img_channels=3, channel_base=64,
                                         channel_max=8, num_fp16_res=0, conv_clamp=None)
    img = torch.randn([2, 3, 16, 16], generator=torch.Generator().manual_seed(0))
    logits = [D(img, one_hot([k, k])) for k in range(C_DIM)]
    assert all((logits[k] - logits[0]).abs().min() > 1e-6 for k in range(1, C_DIM))

#----------------------------------------------------------------------------
# Every method's steps, on a labelled data set: the labels reaching G and D are one-hot rows of the data's classes
# (not zeros, not one class), whichever network computes them. A spy on the one place each network reads c.

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('data')
    detector = str(tmp / 'tiny.pt')
    torch.jit.save(torch.jit.script(TinyDetector()), detector)
    return dict(labelled=make_images(tmp / 'labelled', 8, 16, num_classes=C_DIM),
                plain=make_images(tmp / 'plain', 8, 16), detector=detector)

@pytest.fixture
def seen(monkeypatch):
    """{'G': [c], 'D': [c]}: the labels every generator and discriminator forward pass gets."""
    seen = dict(G=[], D=[])
    def spy(cls, name, role):
        original = getattr(cls, name)
        def wrapper(self, *args, **kwargs):
            seen[role(self)].append(args[1].detach().clone()) # c: the second argument of all three
            return original(self, *args, **kwargs)
        monkeypatch.setattr(cls, name, wrapper)
    spy(cell_generator.CellGenerator, '_run', lambda self: 'G')
    spy(networks_conventional.Discriminator, 'head', lambda self: 'D')
    spy(networks_stylegan2.MappingNetwork, 'forward', lambda self: 'G' if self.z_dim > 0 else 'D')
    return seen

def assert_class_labels(labels):
    assert labels
    for c in labels:
        assert c.shape[1] == C_DIM and set(c.unique().tolist()) <= {0, 1}
        assert torch.equal(c.sum(dim=1), torch.ones(c.shape[0]))
    assert len(set(torch.cat(labels).argmax(dim=1).tolist())) > 1

def class_reward(G):
    """Stand-in reward of a conditional child: its output on one-hot labels of every class."""
    z = torch.randn([C_DIM, G.z_dim], generator=torch.Generator().manual_seed(0))
    return float(G(z, torch.eye(C_DIM)).mean())

@pytest.mark.parametrize('name', list(RUNS))
def test_every_method_feeds_labels_to_G_and_D(name, data, tmp_path, seen):
    c = dict(run_dir=str(tmp_path), training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset',
             path=data['labelled'], use_labels=True), data_loader_kwargs=dict(num_workers=0), num_iters=2, batch_size=4,
             random_seed=3, device='cpu', image_snapshot_iters=None, state_snapshot_iters=2, max_grid_images=4,
             provenance=dict(method=name.split('/')[0], data='tiny'), progress=False)
    c.update(RUNS[name])
    c['algorithm_kwargs'] = dict(c['algorithm_kwargs'])
    if 'reward' in c['algorithm_kwargs']:
        c['algorithm_kwargs']['reward'] = f'{__name__}.class_reward'
    sl.search_loop(**c)
    assert_class_labels(seen['G'])
    assert_class_labels(seen['D'])

def test_metric_reward_samples_the_data_labels(data, tmp_path, monkeypatch, seen):
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache'))
    dataset_kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=data['labelled'], use_labels=True)
    evaluator_kwargs = dict(dataset_kwargs=dataset_kwargs, detector=data['detector'], batch_size=8)
    reward = RewardEvaluator(torch.device('cpu'), 'fid', 16, evaluator_kwargs)
    assert reward(build_G('autogan/derived', C_DIM)) > 0
    assert_class_labels(seen['G'])

#----------------------------------------------------------------------------
# search.py --cond end to end: found.json says cond, train.py --cond=1 re-trains the conditional derived G, and
# generate.py --class samples it from the pickle and its safe twin alike.

TINY = ['--g-channels=8', '--d-channels=8', '--batch=4', '--T=1', '--S=1', '--R=1', '--workers=0', '--device=cpu']

def test_conditional_search_retrain_generate(data, tmp_path, capsys):
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "search"}', f'--data={data["labelled"]}',
                        '--iters=1', '--cond=1', *TINY)
    assert res.returncode == 0, res.stderr
    run_dir = os.path.join(tmp_path, 'search', os.listdir(tmp_path / 'search')[0])
    assert run_dir.endswith('-cond')
    with open(os.path.join(run_dir, 'found.json')) as f:
        found = json.load(f)
    extra = found['provenance']['extra']
    assert dict(cond=extra.pop('cond'), c_dim=extra.pop('c_dim')) == dict(cond=True, c_dim=C_DIM)
    assert extra == cost.genotype_cost(Genotype.from_dict(found), c_dim=C_DIM) # the conditional G's cost

    res = run_inprocess(capsys, 'train.py', f'--outdir={tmp_path / "train"}', f'--data={data["labelled"]}',
                        f'--genotype={os.path.join(run_dir, "found.json")}', '--cond=1', '--kimg=0.008',
                        '--g-channels=8', '--d-channels=8', '--batch=4', '--tick=0.004', '--snap=1', '--metrics=none',
                        '--workers=0', '--grid-images=4', '--device=cpu')
    assert res.returncode == 0, res.stderr
    train_dir = os.path.join(tmp_path, 'train', os.listdir(tmp_path / 'train')[0])
    snapshot = os.path.join(train_dir, 'network-snapshot-000000')
    images = dict()
    for network, class_idx in [('pkl', 0), ('pkl', 1), ('safetensors', 1)]:
        out = tmp_path / f'out-{network}-{class_idx}'
        res = run_inprocess(capsys, 'generate.py', f'--network={snapshot}.{network}', '--seeds=0-1',
                            f'--class={class_idx}', f'--outdir={out}', '--device=cpu')
        assert res.returncode == 0, res.stderr
        images[network, class_idx] = [np.asarray(PIL.Image.open(out / f'seed000{s}.png')) for s in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(images['pkl', 1], images['safetensors', 1]))
    assert not any(np.array_equal(a, b) for a, b in zip(images['pkl', 0], images['pkl', 1]))

@pytest.mark.parametrize('args', [['--method=alphagan'], ['--method=alphagan', '--mode=micro'], ['--method=autogan'],
                                  ['--method=random', '--backbone=autogan'], ['--method=random', '--mode=macro_dynw']])
def test_every_method_configures_a_conditional_search(data, tmp_path, capsys, args):
    reward = ['--reward=fid', f'--detector={data["detector"]}'] if 'alphagan' not in args[0] else []
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path}', f'--data={data["labelled"]}', '--cond=1',
                        '--dry-run', *args, *reward)
    assert res.returncode == 0, res.stderr
    c = json.loads(res.stdout.split('Search options:')[1].split('\n\n')[0])
    assert c['training_set_kwargs']['use_labels'] is True
    assert c['provenance']['extra'] == dict(cond=True, c_dim=C_DIM)

def test_selection_retrains_conditional_candidates(data, tmp_path, capsys):
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path}', f'--data={data["labelled"]}', '--cond=1',
                        '--dry-run', '--select-top=1', '--select-kimg=0.5', '--select-args=--batch=8',
                        f'--detector={data["detector"]}')
    assert res.returncode == 0, res.stderr
    c = json.loads(res.stdout.split('Search options:')[1].split('\n\n')[0])
    assert c['select_kwargs']['train_args'] == ['--cond=1', '--batch=8']
    assert c['select_kwargs']['evaluator_kwargs']['dataset_kwargs']['use_labels'] is True # the metric's labels

def test_cond_without_labels_is_a_one_line_error(data, tmp_path, capsys):
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "runs"}', f'--data={data["plain"]}', '--cond=1',
                        '--dry-run')
    assert_one_line_error(res, f'--cond: {data["plain"]} has no labels')
    assert not os.path.exists(tmp_path / 'runs')

def test_retrain_cond_checks_the_searched_classes(data, tmp_path, capsys):
    genotype = sampled_genotype('conventional')
    genotype['provenance'] = dict(extra=dict(cond=True, c_dim=C_DIM + 1))
    with open(tmp_path / 'found.json', 'w') as f:
        json.dump(genotype, f)
    res = run_inprocess(capsys, 'train.py', f'--outdir={tmp_path / "runs"}', f'--data={data["labelled"]}', '--cond=1',
                        f'--genotype={tmp_path / "found.json"}', '--dry-run')
    assert_one_line_error(res, f'--cond: {tmp_path / "found.json"} was searched on {C_DIM + 1} classes',
                          f'has {C_DIM}')

#----------------------------------------------------------------------------
