"""Tests for torch_utils.training_stats: moments against numpy, in one process and reduced across two."""

import json

import numpy as np
import pytest
import torch

from torch_utils import distributed, training_stats

#----------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def fresh_stats(monkeypatch):
    monkeypatch.setattr(training_stats, '_counters', dict())
    monkeypatch.setattr(training_stats, '_cumulative', dict())
    monkeypatch.setattr(training_stats, '_rank', 0)
    monkeypatch.setattr(training_stats, '_sync_device', None)

def test_values_match_numpy():
    rng = np.random.default_rng(0)
    collector = training_stats.Collector(regex='Loss/.*')
    a = rng.normal(3.0, 2.0, size=[17]).astype(np.float32)
    b = rng.normal(size=[4, 5])
    assert training_stats.report('Loss/G', torch.from_numpy(a)) is not None
    for row in b:
        training_stats.report('Loss/D', torch.from_numpy(row))
    training_stats.report('Loss/D', 1.5) # python scalar
    training_stats.report('Other', 1.0)
    collector.update()
    pooled_d = np.concatenate([b.ravel(), [1.5]])
    assert collector.names() == ['Loss/D', 'Loss/G']
    assert collector.num('Loss/G') == 17 and collector.num('Loss/D') == 21
    assert collector.mean('Loss/G') == pytest.approx(np.mean(a.astype(np.float64)), rel=1e-12)
    assert collector.std('Loss/G') == pytest.approx(np.std(a.astype(np.float64)), rel=1e-9)
    assert collector['Loss/D'] == pytest.approx(np.mean(pooled_d), rel=1e-12)
    assert collector.std('Loss/D') == pytest.approx(np.std(pooled_d), rel=1e-9)
    assert np.isnan(collector.mean('Other')) and collector.num('Other') == 0
    stats = collector.as_dict()
    assert list(stats) == ['Loss/D', 'Loss/G'] and stats['Loss/G'].num == 17
    json.dumps(stats) # one line of stats.jsonl

def test_intervals_and_keep_previous():
    keep = training_stats.Collector(keep_previous=True)
    drop = training_stats.Collector(keep_previous=False)
    training_stats.report('x', [1.0, 2.0, 3.0])
    training_stats.report('y', 10.0)
    keep.update()
    drop.update()
    assert keep.mean('x') == 2.0 and drop.mean('x') == 2.0
    training_stats.report('x', [5.0])
    training_stats.report('y', [])
    keep.update()
    drop.update()
    assert keep.num('x') == 1 and keep.mean('x') == 5.0 and keep.std('x') == 0.0 # only the new interval
    assert keep.mean('y') == 10.0 and np.isnan(drop.mean('y')) # no new reports for y
    late = training_stats.Collector()
    late.update()
    assert late.num('x') == 0 # a new collector starts counting from its creation

def test_report0_ignored_on_other_ranks(monkeypatch):
    collector = training_stats.Collector()
    monkeypatch.setattr(training_stats, '_rank', 1)
    assert training_stats.report0('a', 4.0) == 4.0
    collector.update()
    assert 'a' in collector.names() and collector.num('a') == 0

#----------------------------------------------------------------------------
# Two processes on CPU (gloo, file:// init): the reduced moments equal numpy's over the pooled values.

def _values(rank):
    return np.random.default_rng(100 + rank).normal(rank * 3.0, 1.0 + rank, size=[5 + 4 * rank])

def _worker(rank, world_size, out_dir):
    collector = training_stats.Collector()
    for v in _values(rank):
        training_stats.report('Loss/x', torch.tensor(v))
    training_stats.report0('Progress/kimg', 7.0)
    collector.update()
    result = dict(rank=distributed.get_rank(), world_size=distributed.get_world_size(), stats=collector.as_dict())
    with open(f'{out_dir}/rank{rank}.json', 'w') as f:
        json.dump(result, f)

def test_reduction_across_two_processes(tmp_path):
    distributed.launch(_worker, 2, 2, str(tmp_path), device='cpu')
    pooled = np.concatenate([_values(0), _values(1)])
    for rank in range(2):
        result = json.loads((tmp_path / f'rank{rank}.json').read_text())
        assert result['rank'] == rank and result['world_size'] == 2
        stats = result['stats']
        assert stats['Loss/x']['num'] == len(pooled)
        assert stats['Loss/x']['mean'] == pytest.approx(np.mean(pooled), rel=1e-12)
        assert stats['Loss/x']['std'] == pytest.approx(np.std(pooled), rel=1e-9)
        assert stats['Progress/kimg'] == dict(num=1, mean=7.0, std=0.0) # rank 0's report only

#----------------------------------------------------------------------------
