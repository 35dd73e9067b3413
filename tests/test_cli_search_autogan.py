"""search.py --method=autogan|random end to end on tiny networks with a tiny TorchScript detector (no download, no
Inception): run directory and plots, the reward baseline, resume through the CLI, the kept best candidate, and
train.py --genotype / generate.py on the AutoGAN result."""

import json
import os
import pickle

import numpy as np
import PIL.Image
import pytest
import torch

from nas.genotype import Genotype
from torch_utils import checkpoint

from cli_helpers import make_images, run, run_inprocess

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')

TINY = ['--g-channels=4', '--d-channels=4', '--batch=4', '--g-batch=4', '--reward=fid', '--reward-samples=10',
        '--workers=0', '--device=cpu']

#----------------------------------------------------------------------------
# A detector in NVIDIA's calling convention: 8 random projections of a 4x4 average-pooled image.

class TinyDetector(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Parameter(torch.randn(48, 8, generator=torch.Generator().manual_seed(0)))

    def forward(self, img, return_features: bool = False, use_fp16: bool = False, no_output_bias: bool = False):
        features = torch.nn.functional.adaptive_avg_pool2d(img.to(torch.float32) / 255, [4, 4]).flatten(1) @ self.proj
        return features if return_features else torch.softmax(features, dim=1)

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('data')
    detector = str(tmp / 'tiny.pt')
    torch.jit.save(torch.jit.script(TinyDetector()), detector)
    return dict(d32=make_images(tmp / 'd32', 12, 32), detector=detector)

@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache')) # real FID statistics land here

def search(capsys, *args):
    """search.py in this process (no interpreter start-up); returns its stdout."""
    res = run_inprocess(capsys, 'search.py', *args)
    assert res.returncode == 0, res.stderr
    return res.stdout

def read_stats(run_dir):
    with open(os.path.join(run_dir, 'stats.jsonl')) as f:
        return [json.loads(line) for line in f]

#----------------------------------------------------------------------------

def test_autogan_search_resume_retrain_generate(data, tmp_path, capsys):
    args = [f'--outdir={tmp_path / "search"}', f'--data={data["d32"]}', '--method=autogan', '--iters=3', '--grow-iters=2',
            '--shared-steps=2', '--ctrl-steps=1', f'--detector={data["detector"]}', *TINY]
    search(capsys, *args)
    run_dir = tmp_path / 'search' / '00000-d32-autogan-autogan-batch4'
    names = set(os.listdir(run_dir))
    for name in ['log.txt', 'search_options.json', 'stats.jsonl', 'found.json', 'genotype-000001.json',
                 'genotype-000003.json', 'alphas.png', 'architecture.png', 'reward.png', 'fakes000003.png',
                 'search-state-000003.pt']:
        assert name in names
    stats = read_stats(run_dir)
    assert [s['Search/stage'] for s in stats] == [0, 0, 1]
    r = [s['Search/reward'] for s in stats]
    b = [s['Search/baseline'] for s in stats]
    assert all(v > 0 for v in r) # 1/FID
    # One reward per iteration (--ctrl-steps=1): the first sets the baseline, then a moving average with decay 0.9;
    # a new cell starts a new controller and baseline.
    assert b[0] == r[0] and b[1] == pytest.approx(0.9 * r[0] + 0.1 * r[1]) and b[2] == r[2]
    found = Genotype.from_json(run_dir / 'found.json')
    assert found.backbone == 'autogan' and found.channels == dict(g_channels=256)
    assert found.provenance['method'] == 'autogan' and found.provenance['data'] == 'd32'
    assert found.provenance['extra']['searched_cells'] == 2 and found.provenance['iteration'] == 3
    state = checkpoint.load_state(str(run_dir / 'search-state-000003.pt'))
    assert state['curves']['Search/reward'] == [[i + 1, v] for i, v in enumerate(r)] # what reward.png draws

    # Resume after iteration 1 through the CLI: the same numbers, the same result, the curves carried over.
    search(capsys, *args, f'--resume={run_dir / "search-state-000001.pt"}')
    resumed = tmp_path / 'search' / '00001-d32-autogan-autogan-batch4'
    assert [s['Search/reward'] for s in read_stats(resumed)] == r[1:]
    assert Genotype.from_json(resumed / 'found.json').ops == found.ops
    assert checkpoint.load_state(str(resumed / 'search-state-000003.pt'))['curves'] == state['curves']

    # Re-train the found genotype a few steps (AutoGAN preset, tiny widths), then sample from the pickle.
    res = run('train.py', f'--outdir={tmp_path / "train"}', f'--data={data["d32"]}', f'--genotype={run_dir / "found.json"}',
              '--kimg=0.008', '--g-channels=8', '--d-channels=8', '--batch=4', '--tick=0.004', '--snap=1',
              '--metrics=none', '--workers=0', '--grid-images=4', '--device=cpu')
    assert res.returncode == 0, res.stderr
    train_dir = tmp_path / 'train' / '00000-d32-autogan-kimg0.008-batch4-genotype'
    pkl = train_dir / 'network-snapshot-000000.pkl'
    with open(pkl, 'rb') as f:
        G = pickle.load(f)['G_ema']
    assert type(G).__module__ == 'nas.space.autogan_space' and G.genotype['ops'] == found.ops
    res = run('generate.py', f'--network={pkl}', '--seeds=0-3', '--grid', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert PIL.Image.open(tmp_path / 'out' / 'grid.png').size == (64, 64)

def test_random_search_keeps_the_best_candidate(data, tmp_path, capsys):
    search(capsys, f'--outdir={tmp_path}', f'--data={data["d32"]}', '--method=random', '--iters=2', '--train-steps=2',
           f'--detector={data["detector"]}', *TINY)
    run_dir = tmp_path / '00000-d32-conventional-random-batch4'
    names = set(os.listdir(run_dir))
    for name in ['stats.jsonl', 'found.json', 'genotype-000002.json', 'architecture.png', 'reward.png',
                 'fakes000002.png', 'search-state-000002.pt']:
        assert name in names
    assert 'alphas.png' not in names # nothing is learned about the ops
    stats = read_stats(run_dir)
    rewards = [s['Search/reward'] for s in stats]
    assert [s['Search/best_reward'] for s in stats] == [rewards[0], max(rewards)]
    best = int(np.argmax(rewards))
    found = Genotype.from_json(run_dir / 'found.json')
    assert found.backbone == 'conventional' and found.provenance['method'] == 'random'
    assert {k: v for k, v in found.provenance['extra'].items() if k not in ['params', 'flops']} == \
        dict(candidate=best, reward=max(rewards))
    assert found.ops == Genotype.from_json(run_dir / f'genotype-{best + 1:06d}.json').ops

#----------------------------------------------------------------------------
# The same seed gives the same search whether the real FID statistics are measured (the first run, empty cache) or
# read from the cache (the second): the measuring pass once drew from the global RNG, so AutoGAN's next controller
# and shared-GAN latents differed and two --seed=0 searches found different cells.

@pytest.mark.parametrize('method', [['--method=autogan', '--grow-iters=1', '--shared-steps=2', '--ctrl-steps=2',
                                     '--num-candidates=2'],
                                    ['--method=random', '--weight-sharing', '--backbone=autogan', '--train-steps=2']])
def test_same_seed_same_search_with_and_without_cached_statistics(data, tmp_path, capsys, method):
    runs = []
    for outdir in ['first', 'second']:
        search(capsys, f'--outdir={tmp_path / outdir}', f'--data={data["d32"]}', '--iters=2', '--seed=0',
               f'--detector={data["detector"]}', *method, *TINY)
        run_dir = next((tmp_path / outdir).iterdir())
        stats = [{k: v for k, v in s.items() if not k.startswith('Timing/') and k != 'timestamp'}
                 for s in read_stats(run_dir)]
        runs.append((stats, Genotype.from_json(run_dir / 'found.json')))
    (stats1, found1), (stats2, found2) = runs
    assert len(os.listdir(tmp_path / 'cache' / 'metrics')) >= 1 # the second run read the first's statistics
    assert [s['Search/reward'] for s in stats1] == [s['Search/reward'] for s in stats2]
    assert stats1 == stats2
    assert found1.ops == found2.ops

#----------------------------------------------------------------------------
