"""Reliability wiring of nas.search.search_loop and search.py: alphas forced onto deconv (alphaGAN's failure case)
fire a collapse event through the loop, --on-collapse=stop ends the search in one line keeping its last state, NaN
weights stop it, out of memory names --batch, a full disk is caught before a state is written."""

import collections
import glob
import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from nas.search import search_loop as sl
from nas.search.alphagan import AlphaGAN
from nas.space.supernet_conventional import SupernetGenerator
from torch_utils import checkpoint
from torch_utils import health

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--g-channels=4', '--d-channels=4', '--batch=2', '--T=1', '--S=1', '--R=1', '--workers=0', '--device=cpu']

#----------------------------------------------------------------------------
# Tiny search: 8 random 8x8 images, 4-channel conventional supernet and D, batch 2, T = S = R = 1.

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp('data') / 'tiny'
    path.mkdir()
    rnd = np.random.RandomState(0)
    for i in range(8):
        PIL.Image.fromarray(rnd.randint(0, 256, [8, 8, 3], dtype=np.uint8)).save(path / f'{i:02d}.png')
    return str(path)

def config(data, run_dir, algorithm='nas.search.alphagan.AlphaGAN', **overrides):
    os.makedirs(run_dir)
    c = dict(
        run_dir=str(run_dir),
        training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=data),
        data_loader_kwargs=dict(num_workers=0),
        G_kwargs=dict(class_name='nas.space.supernet_conventional.SupernetGenerator', g_channels=4),
        D_kwargs=dict(class_name='training.networks_conventional.Discriminator', d_channels=4),
        algorithm_kwargs=dict(class_name=algorithm, T=1, S=1, R=1),
        num_iters=3, batch_size=2, random_seed=3, device='cpu', image_snapshot_iters=None, state_snapshot_iters=1,
        max_grid_images=4, provenance=dict(method='alphagan', data='tiny'), progress=False)
    c.update(overrides)
    return c

def read_stats(run_dir):
    with open(os.path.join(run_dir, 'stats.jsonl')) as f:
        return [json.loads(line) for line in f]

def states(run_dir):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, 'search-state-*.pt')))

#----------------------------------------------------------------------------
# alphaGAN with its alphas pushed onto deconv from the second iteration on, and one that poisons G with NaN there.

def force_deconv(G):
    with torch.no_grad():
        for alpha, rows in zip(G.arch_parameters(), G.layout.values()):
            names = G.candidates[rows[0][2]]
            if 'deconv' in names:
                alpha[:, names.index('deconv')] = 20

class DeconvAlphaGAN(AlphaGAN):
    def step(self, iteration, data):
        stats = super().step(iteration, data)
        if iteration >= 1:
            force_deconv(self.G)
        return stats

class NaNAlphaGAN(AlphaGAN):
    def step(self, iteration, data):
        stats = super().step(iteration, data)
        if iteration >= 1:
            with torch.no_grad():
                next(iter(self.G.weight_parameters())).fill_(float('nan'))
        return stats

#----------------------------------------------------------------------------

def test_deconv_alphas_fire_a_collapse_warning_through_the_loop(data, tmp_path, capsys):
    c = config(data, tmp_path / 'run', algorithm='test_reliability_search.DeconvAlphaGAN', state_snapshot_iters=10)
    sl.search_loop(**c)
    out = capsys.readouterr().out
    assert out.count('collapse warning at step 2: deconv is chosen on 9 of 9 edges (100%)') == 1 # once per run
    stats = read_stats(c['run_dir'])
    assert [('collapse' in line) for line in stats] == [False, True, False]
    (event,) = stats[1]['collapse']
    assert event['check'] == 'op_share.deconv' and event['value'] == 1.0 and event['action'] == 'warn'
    assert os.path.isfile(os.path.join(c['run_dir'], 'found.json')) # 'warn' carries on
    state = checkpoint.load_state(os.path.join(c['run_dir'], 'search-state-000003.pt'))
    assert state['health']['fired'] == ['op_share.deconv'] # a resumed search does not warn again

def test_arch_weights_checks_skip_undecided_edges_and_w_selectors():
    monitor = health.CollapseMonitor(log=lambda line: None)
    uniform = {f'cell{i}.up0': dict(deconv=1 / 3, nearest=1 / 3, bilinear=1 / 3) for i in range(3)}
    assert monitor.check_probs(1, uniform) == [] # argmax of a tie would pick deconv on every edge
    w_only = {f'w.{i}': {'0': 1.0, '1': 0.0} for i in range(4)}
    assert monitor.check_probs(1, w_only) == [] # W selectors are not ops: no entropy collapse either
    one = dict(uniform, **{'cell0.up0': dict(deconv=0.9, nearest=0.05, bilinear=0.05)})
    assert monitor.check_probs(2, one) == [] # one decided edge is no share (AutoGAN's first stage)
    decided = {edge: dict(deconv=0.9, nearest=0.05, bilinear=0.05) for edge in uniform}
    (event,) = monitor.check_probs(3, decided)
    assert event['check'] == 'op_share.deconv' and 'deconv is chosen on 3 of 3 edges' in event['message']

STOP_SCRIPT = '''
import sys
from nas.search import alphagan
sys.path.insert(0, sys.argv.pop(1))
from test_reliability_search import force_deconv
step = alphagan.AlphaGAN.step
def forced(self, iteration, data):
    stats = step(self, iteration, data)
    if iteration >= 1:
        force_deconv(self.G)
    return stats
alphagan.AlphaGAN.step = forced
import search
from dnnlib.util import cli_main
cli_main(search.main, args=sys.argv[1:])
'''

def test_on_collapse_stop_ends_the_search_in_one_line_keeping_the_last_state(data, tmp_path):
    args = [f'--outdir={tmp_path}', f'--data={data}', '--iters=3', '--on-collapse=stop', *TINY]
    res = subprocess.run([sys.executable, '-c', STOP_SCRIPT, os.path.dirname(__file__), *args], capture_output=True,
                         text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert res.returncode == 2 and 'Traceback' not in res.stderr, res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith('Error: collapse warning at step 2: deconv is chosen on 9 of 9 edges (100%)')
    assert line.endswith('; stopped by --on-collapse=stop, the last checkpoint is kept')
    (run_dir,) = glob.glob(os.path.join(tmp_path, '00000-*'))
    assert states(run_dir) == ['search-state-000001.pt'] and not os.path.exists(os.path.join(run_dir, 'found.json'))
    assert checkpoint.find_resume_checkpoint(run_dir, kind='search').endswith('search-state-000001.pt')
    assert read_stats(run_dir)[-1]['collapse'][0]['action'] == 'stop'

#----------------------------------------------------------------------------

def test_nan_weights_stop_the_search_keeping_the_last_state(data, tmp_path):
    c = config(data, tmp_path / 'run', algorithm='test_reliability_search.NaNAlphaGAN')
    with pytest.raises(health.NonFiniteError, match=r'^G\.\S+ is not finite at iteration 2 '):
        sl.search_loop(**c)
    assert states(c['run_dir']) == ['search-state-000001.pt']
    assert not os.path.exists(os.path.join(c['run_dir'], 'genotype-000002.json'))
    assert checkpoint.load_state(os.path.join(c['run_dir'], 'search-state-000001.pt'))['iteration'] == 1

def test_oom_in_a_search_step_names_batch(data, tmp_path, monkeypatch):
    forward = SupernetGenerator.forward
    def oom(self, *args, **kwargs):
        if torch.is_grad_enabled():
            raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB')
        return forward(self, *args, **kwargs)
    monkeypatch.setattr(SupernetGenerator, 'forward', oom)
    with pytest.raises(dnnlib.util.UserError, match=r'^out of GPU memory in search iteration 1; lower --batch \('):
        sl.search_loop(**config(data, tmp_path / 'run'))

def test_full_disk_stops_before_writing_a_state(data, tmp_path, monkeypatch):
    usage = collections.namedtuple('usage', 'total used free')
    monkeypatch.setattr(checkpoint.shutil, 'disk_usage', lambda path: usage(10**9, 10**9 - 1000, 1000))
    c = config(data, tmp_path / 'run', num_iters=1)
    with pytest.raises(dnnlib.util.UserError, match=r'needs [\d.]+ (KiB|MiB) but only 1000 B is free .*\(--keep\)$'):
        sl.search_loop(**c)
    assert states(c['run_dir']) == []

#----------------------------------------------------------------------------
