"""Search loop: run-directory contents, per-iteration genotypes and stats, exact resume, resume checks."""

import json
import os

import numpy as np
import PIL.Image
import pytest
import torch

from dnnlib.util import UserError
from nas.genotype import Genotype
from nas.search import search_loop as sl
from nas.search.base import SearchData
from torch_utils import checkpoint
from training.dataset import ImageFolderDataset

#----------------------------------------------------------------------------
# Tiny config: 16 random 32x32 images, 8-channel supernet and D, batch 4, T = S = R = 1.

def make_images(path, count=16, size=32):
    os.makedirs(path, exist_ok=True)
    rnd = np.random.RandomState(0)
    for i in range(count):
        PIL.Image.fromarray(rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)).save(os.path.join(path, f'{i:02d}.png'))
    return str(path)

def config(data, run_dir, **overrides):
    c = dict(
        run_dir=str(run_dir),
        training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=data),
        data_loader_kwargs=dict(num_workers=0),
        G_kwargs=dict(class_name='nas.space.supernet_conventional.SupernetGenerator', g_channels=8),
        D_kwargs=dict(class_name='training.networks_conventional.Discriminator', d_channels=8),
        algorithm_kwargs=dict(class_name='nas.search.alphagan.AlphaGAN', T=1, S=1, R=1),
        num_iters=2, batch_size=4, random_seed=3, device='cpu', image_snapshot_iters=1, state_snapshot_iters=1,
        max_grid_images=4, provenance=dict(method='alphagan', data='tiny'), progress=False)
    c.update(overrides)
    os.makedirs(c['run_dir'], exist_ok=True)
    return c

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp('data') / 'tiny')

#----------------------------------------------------------------------------

def test_two_iterations_write_the_run_directory(data, tmp_path):
    genotype = sl.search_loop(**config(data, tmp_path / 'run', keep_states=1))
    names = set(os.listdir(tmp_path / 'run'))
    for name in ['stats.jsonl', 'genotype-000001.json', 'genotype-000002.json', 'found.json', 'alphas.png',
                 'architecture.png', 'duality_gap.png', 'fakes_init.png', 'fakes000001.png', 'fakes000002.png',
                 'search-state-000002.pt']:
        assert name in names, name
    assert 'search-state-000001.pt' not in names # keep_states=1 pruned it
    assert any(name.startswith('events.out.tfevents') for name in names)
    assert not any(name.endswith('.tmp') or name.startswith('.') for name in names) # atomic writes left nothing
    with open(tmp_path / 'run' / 'stats.jsonl') as f:
        stats = [json.loads(line) for line in f]
    assert [s['iteration'] for s in stats] == [1, 2]
    for key in ['Search/duality_gap', 'Loss/D/loss', 'Loss/G/loss', 'Search/entropy_alpha', 'Timing/sec_per_iter']:
        assert all(np.isfinite(s[key]) for s in stats), key
    # Entropy of 18 near-uniform edges: 9 with 6 ops, 9 with 3 ops.
    assert stats[0]['Search/entropy_alpha'] == pytest.approx((np.log(6) + np.log(3)) / 2, abs=1e-3)
    found = Genotype.from_json(tmp_path / 'run' / 'found.json')
    found_cost = {name: found.provenance['extra'].pop(name) for name in ['params', 'flops']} # found.json adds them
    assert found_cost['params'] > 0 and found_cost['flops'] > 0
    assert found.to_dict() == genotype.to_dict() == Genotype.from_json(tmp_path / 'run' / 'genotype-000002.json').to_dict()
    assert found.provenance['iteration'] == 2 and found.provenance['method'] == 'alphagan' and found.provenance['seed'] == 3
    state = checkpoint.load_state(tmp_path / 'run' / 'search-state-000002.pt')
    assert state['iteration'] == 2 and len(state['history']) == 2 and state['data']['num_batches'] == dict(train=2, val=6)
    assert PIL.Image.open(tmp_path / 'run' / 'fakes000002.png').size == (64, 64) # 2x2 grid of 32x32

def test_resume_equals_uninterrupted(data, tmp_path):
    kw = dict(image_snapshot_iters=None, state_snapshot_iters=2)
    sl.search_loop(**config(data, tmp_path / 'full', num_iters=4, **kw))
    sl.search_loop(**config(data, tmp_path / 'first', num_iters=2, **kw))
    resume = str(tmp_path / 'first' / 'search-state-000002.pt')
    sl.search_loop(**config(data, tmp_path / 'second', num_iters=4, resume=resume, **kw))
    for it in [3, 4]:
        name = f'genotype-{it:06d}.json'
        with open(tmp_path / 'full' / name) as f1, open(tmp_path / 'second' / name) as f2:
            assert f1.read() == f2.read() # alphas in provenance included: bitwise equal floats
    full = checkpoint.load_state(tmp_path / 'full' / 'search-state-000004.pt')
    resumed = checkpoint.load_state(tmp_path / 'second' / 'search-state-000004.pt')
    for key, value in full['algorithm']['G'].items():
        assert torch.equal(value, resumed['algorithm']['G'][key]), key
    for key, value in full['algorithm']['D'].items():
        assert torch.equal(value, resumed['algorithm']['D'][key]), key
    assert full['history'] == resumed['history'] and full['gaps'] == resumed['gaps']
    with open(tmp_path / 'second' / 'stats.jsonl') as f:
        assert [json.loads(line)['iteration'] for line in f] == [3, 4]

def test_resume_refuses_changed_options(data, tmp_path):
    sl.search_loop(**config(data, tmp_path / 'a', num_iters=1, image_snapshot_iters=None))
    resume = str(tmp_path / 'a' / 'search-state-000001.pt')
    with pytest.raises(UserError, match='different batch_size'):
        sl.search_loop(**config(data, tmp_path / 'b', batch_size=2, resume=resume))

def test_search_data_splits_and_resumes(data):
    dataset = ImageFolderDataset(data)
    d = SearchData(dataset, batch_size=3, device='cpu', seed=1)
    assert sorted(d.indices['train'].tolist() + d.indices['val'].tolist()) == list(range(16))
    assert len(d.indices['train']) == len(d.indices['val']) == 8
    img, c = d.train()
    assert img.dtype == torch.float32 and img.shape == (3, 3, 32, 32) and img.min() >= -1 and img.max() <= 1
    assert c.shape == (3, 0)
    expected = [d.val()[0] for _ in range(3)] + [d.train()[0]]
    # A fresh SearchData from the state after the first train batch continues with the same batches.
    d2 = SearchData(dataset, batch_size=3, device='cpu', seed=1, state=dict(num_batches=dict(train=1, val=0)))
    got = [d2.val()[0] for _ in range(3)] + [d2.train()[0]]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))
    assert d2.state_dict() == d.state_dict() == dict(num_batches=dict(train=2, val=3))
    # Train and validation images come from disjoint halves.
    raw = np.stack([dataset[i][0] for i in range(16)]).astype(np.float32) / 127.5 - 1
    val_rows = {raw[i].tobytes() for i in d.indices['val']}
    assert all(x.numpy().tobytes() in val_rows for x in expected[0])

#----------------------------------------------------------------------------
