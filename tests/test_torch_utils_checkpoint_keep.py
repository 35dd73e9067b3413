"""Tests for torch_utils.checkpoint's run-directory helpers: resume picks the newest valid checkpoint, --keep
pruning, free-disk check."""

import collections
import json
import os

import pytest
import torch

import dnnlib
from torch_utils import checkpoint
from training.layers import FullyConnectedLayer

#----------------------------------------------------------------------------
# Tiny run directories written with the real save functions.

def write_training_checkpoint(run_dir, kimg, pickle_too=True):
    torch.manual_seed(kimg)
    G = FullyConnectedLayer(4, 3)
    pkl, safe, state = checkpoint.checkpoint_files(str(run_dir), kimg, 'training')
    if pickle_too:
        checkpoint.save_pickle(pkl, dict(G=G))
    checkpoint.save_safe(safe, dict(G=G), dict(progress=dict(cur_nimg=kimg * 1000)))
    checkpoint.save_state(state, dict(cur_nimg=kimg * 1000, opt=torch.randn(5)))

def write_search_checkpoint(run_dir, iteration):
    checkpoint.save_state(os.path.join(run_dir, f'search-state-{iteration:06d}.pt'),
                          dict(iteration=iteration, alphas=torch.randn(3, 4)))

def truncate(path):
    size = os.path.getsize(path)
    with open(path, 'r+b') as f:
        f.truncate(size // 2)

def names(paths):
    return sorted(os.path.basename(p) for p in paths)

def indices(paths):
    """Checkpoint index -> number of its files among `paths`."""
    return collections.Counter(int(os.path.basename(p).split('-')[-1].split('.')[0]) for p in paths)

#----------------------------------------------------------------------------

def test_resume_picks_newest_training_checkpoint(tmp_path):
    for kimg in [0, 4, 8]:
        write_training_checkpoint(tmp_path, kimg)
    (tmp_path / 'fakes000008.png').write_bytes(b'not a checkpoint')
    logged = []
    path = checkpoint.find_resume_checkpoint(tmp_path, log=logged.append)
    assert path == str(tmp_path / 'network-snapshot-000008.pkl')
    assert logged == []

@pytest.mark.parametrize('victim', ['network-snapshot-000008.safetensors', 'training-state-000008.pt'])
def test_truncated_newest_training_checkpoint_falls_back(tmp_path, victim):
    for kimg in [0, 4, 8]:
        write_training_checkpoint(tmp_path, kimg)
    truncate(tmp_path / victim)
    logged = []
    path = checkpoint.find_resume_checkpoint(tmp_path, log=logged.append)
    assert path == str(tmp_path / 'network-snapshot-000004.pkl')
    assert len(logged) == 1 and '\n' not in logged[0]
    assert '000008' in logged[0] and 'previous' in logged[0]

def test_truncated_pickle_without_safe_twin_falls_back(tmp_path):
    for kimg in [4, 8]:
        write_training_checkpoint(tmp_path, kimg)
    os.remove(tmp_path / 'network-snapshot-000008.safetensors')
    truncate(tmp_path / 'network-snapshot-000008.pkl')
    logged = []
    assert checkpoint.find_resume_checkpoint(tmp_path, log=logged.append).endswith('network-snapshot-000004.pkl')
    assert len(logged) == 1

def test_snapshot_without_state_is_incomplete(tmp_path):
    # A run killed between writing the snapshot and its state: the pair is incomplete, so resume goes back.
    write_training_checkpoint(tmp_path, 4)
    write_training_checkpoint(tmp_path, 8)
    os.remove(tmp_path / 'training-state-000008.pt')
    logged = []
    assert checkpoint.find_resume_checkpoint(tmp_path, log=logged.append).endswith('network-snapshot-000004.pkl')
    assert 'training-state-000008.pt is missing' in logged[0]

def test_safe_only_snapshot_resumes_from_safetensors(tmp_path):
    write_training_checkpoint(tmp_path, 12, pickle_too=False)
    assert checkpoint.find_resume_checkpoint(tmp_path) == str(tmp_path / 'network-snapshot-000012.safetensors')

def test_search_checkpoints_fall_back(tmp_path):
    for iteration in [1, 2, 3]:
        write_search_checkpoint(tmp_path, iteration)
    truncate(tmp_path / 'search-state-000003.pt')
    logged = []
    assert checkpoint.find_resume_checkpoint(tmp_path, log=logged.append) == str(tmp_path / 'search-state-000002.pt')
    assert len(logged) == 1 and 'search checkpoint 000003' in logged[0]

def test_empty_or_all_corrupt_run_dir(tmp_path):
    assert checkpoint.find_resume_checkpoint(tmp_path) is None
    assert checkpoint.find_resume_checkpoint(tmp_path / 'missing') is None
    for iteration in [1, 2]:
        write_search_checkpoint(tmp_path, iteration)
        truncate(tmp_path / f'search-state-{iteration:06d}.pt')
    with pytest.raises(dnnlib.util.UserError, match='none of its 2 search checkpoints'):
        checkpoint.find_resume_checkpoint(tmp_path, log=lambda line: None)

#----------------------------------------------------------------------------

def test_keep_last_k_deletes_exactly_the_older_files(tmp_path):
    for kimg in [0, 4, 8, 12, 16]:
        write_training_checkpoint(tmp_path, kimg)
    (tmp_path / 'metric-fid50k_full.jsonl').write_text('')
    (tmp_path / 'genotype-000004.json').write_text('{}')
    before = set(os.listdir(tmp_path))
    deleted = checkpoint.prune_checkpoints(tmp_path, keep=2)
    expected = [f'{stem}-{kimg:06d}.{ext}' for kimg in [0, 4, 8]
                for stem, ext in [('network-snapshot', 'pkl'), ('network-snapshot', 'safetensors'), ('training-state', 'pt')]]
    assert names(deleted) == sorted(expected)
    assert set(os.listdir(tmp_path)) == before - set(expected)

def test_keep_best_by_metric(tmp_path):
    for kimg in [0, 4, 8, 12]:
        write_training_checkpoint(tmp_path, kimg)
    lines = [dict(results=dict(fid50k_full=fid), metric='fid50k_full', snapshot_pkl=f'network-snapshot-{kimg:06d}.pkl')
             for kimg, fid in [(0, 90.0), (4, 20.5), (8, 30.0), (12, 25.0)]]
    text = ''.join(json.dumps(line) + '\n' for line in lines) + '{"results": {"fid50k_fu' # a line cut by a crash
    (tmp_path / 'metric-fid50k_full.jsonl').write_text(text)
    deleted = checkpoint.prune_checkpoints(tmp_path, keep=1, best='fid50k_full')
    assert indices(deleted) == {0: 3, 8: 3}
    assert checkpoint.prune_checkpoints(tmp_path, keep=1, best='fid50k_full') == []

def test_keep_best_by_index_and_higher_is_better(tmp_path):
    for iteration in range(1, 6):
        write_search_checkpoint(tmp_path, iteration)
    deleted = checkpoint.prune_checkpoints(tmp_path, keep=2, best=1)
    assert names(deleted) == ['search-state-000002.pt', 'search-state-000003.pt']
    run = tmp_path / 'is'
    for kimg in [0, 4, 8]:
        write_training_checkpoint(run, kimg)
    lines = [dict(results=dict(is50k_mean=v, is50k_std=0.1), snapshot_pkl=f'network-snapshot-{k:06d}.pkl')
             for k, v in [(0, 9.0), (4, 3.0), (8, 2.0)]]
    (run / 'metric-is50k.jsonl').write_text(''.join(json.dumps(line) + '\n' for line in lines))
    assert indices(checkpoint.prune_checkpoints(run, keep=1, best='is50k')) == {4: 3} # 0 is best, 8 newest

def test_keep_rejects_zero(tmp_path):
    with pytest.raises(ValueError, match='keep'):
        checkpoint.prune_checkpoints(tmp_path, keep=0)

#----------------------------------------------------------------------------

def test_free_disk_check(tmp_path, monkeypatch):
    usage = collections.namedtuple('usage', 'total used free')
    seen = []
    def fake_disk_usage(path):
        seen.append(path)
        return usage(10 << 30, 9 << 30, 300 << 20)
    monkeypatch.setattr(checkpoint.shutil, 'disk_usage', fake_disk_usage)
    target = tmp_path / 'run' / 'network-snapshot-000004.pkl' # parent not created yet
    assert checkpoint.check_free_disk(target, 100 << 20) == 300 << 20
    assert seen[-1] == str(tmp_path)
    with pytest.raises(dnnlib.util.UserError) as info:
        checkpoint.check_free_disk(target, 1 << 30)
    message = str(info.value)
    assert '\n' not in message and str(target) in message
    assert '1.0 GiB' in message and '300.0 MiB' in message and '--keep' in message
    assert not (tmp_path / 'run').exists()

#----------------------------------------------------------------------------
