"""torch_utils.custom_ops: one build attempt and one warning per process, the 'ref' fallback, the build
cache key and the stale-lock check."""

import os
import socket
import subprocess
import sys
import time
import warnings

import pytest
import torch

from torch_utils import custom_ops
from torch_utils.ops import bias_act
from torch_utils.ops import upfirdn2d

#----------------------------------------------------------------------------

@pytest.fixture
def failing_build(monkeypatch):
    """A build that always fails (compiler hidden), with a fresh plugin cache; yields the attempt log."""
    attempts = []
    def build(module_name, *args, **kwargs):
        attempts.append(module_name)
        raise RuntimeError('nvcc not found (set CUDA_HOME)')
    monkeypatch.setattr(custom_ops, '_build_plugin', build)
    monkeypatch.setattr(custom_ops, '_plugins', {})
    # Pretend the CPU tensors live on a GPU, so that impl='cuda' really asks for the kernels.
    monkeypatch.setattr(bias_act, '_on_cuda', lambda x: True)
    monkeypatch.setattr(upfirdn2d, '_on_cuda', lambda x: True)
    return attempts

def test_failed_build_is_tried_once_and_warned_once(failing_build):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn([2, 3, 6, 5], generator=gen)
    b = torch.randn([3], generator=gen)
    f = upfirdn2d.setup_filter([1, 3, 3, 1])
    y_ref = bias_act.bias_act(x, b, act='lrelu', clamp=1.0, impl='ref')
    u_ref = upfirdn2d.upsample2d(x, f, impl='ref')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for _ in range(100):
            assert torch.equal(bias_act.bias_act(x, b, act='lrelu', clamp=1.0, impl='cuda'), y_ref)
            assert torch.equal(upfirdn2d.upsample2d(x, f, impl='cuda'), u_ref)
    assert failing_build == ['bias_act_plugin', 'upfirdn2d_plugin']
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 2
    assert 'bias_act_plugin' in messages[0] and 'nvcc not found' in messages[0] and 'impl="ref"' in messages[0]

def test_ref_never_builds(failing_build):
    x = torch.randn([2, 3, 4, 4])
    bias_act.bias_act(x, torch.zeros([3]), act='relu', impl='ref')
    upfirdn2d.filter2d(x, upfirdn2d.setup_filter([1, 2, 1]), impl='ref')
    assert failing_build == []

@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the real build on a machine without CUDA')
def test_real_build_without_cuda_fails_cleanly(monkeypatch):
    monkeypatch.setattr(custom_ops, '_plugins', {})
    with pytest.warns(RuntimeWarning, match='no CUDA device'):
        assert custom_ops.get_plugin('bias_act_plugin', sources=['bias_act.cpp', 'bias_act.cu']) is None
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert custom_ops.get_plugin('bias_act_plugin', sources=['bias_act.cpp', 'bias_act.cu']) is None

#----------------------------------------------------------------------------

def test_build_dir_keys(tmp_path, monkeypatch):
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache'))
    src = tmp_path / 'k.cu'
    src.write_text('// one')
    first = custom_ops.build_dir('k_plugin', [str(src)])
    assert first.startswith(str(tmp_path / 'cache' / 'torch_extensions'))
    assert torch.__version__.replace('+', '_') in first and f'cuda{torch.version.cuda}' in first
    assert custom_ops.build_dir('k_plugin', [str(src)]) == first
    src.write_text('// two')
    assert custom_ops.build_dir('k_plugin', [str(src)]) != first # an edit never loads a stale binary

#----------------------------------------------------------------------------

def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid

def test_lock_held_by_dead_process_is_removed(tmp_path):
    path = tmp_path / 'ganas.lock'
    path.write_text(f'{socket.gethostname()} {_dead_pid()}\n')
    start = time.time()
    with custom_ops._FileLock(str(path), poll=0.05):
        assert path.read_text().split() == [socket.gethostname(), str(os.getpid())]
    assert time.time() - start < 5
    assert not path.exists()

def test_lock_held_by_live_process_waits(tmp_path, monkeypatch):
    monkeypatch.setattr(custom_ops, '_lock_timeout', 0.5)
    path = tmp_path / 'ganas.lock'
    path.write_text(f'{socket.gethostname()} {os.getpid()}\n') # alive: this very process
    start = time.time()
    with custom_ops._FileLock(str(path), poll=0.05):
        pass
    assert time.time() - start >= 0.5 # waited for the holder until the timeout

def test_empty_lock_is_stale_only_when_old(tmp_path):
    path = tmp_path / 'ganas.lock'
    path.write_text('')
    assert not custom_ops._FileLock(str(path))._is_stale()
    os.utime(path, (time.time() - 60, time.time() - 60))
    assert custom_ops._FileLock(str(path))._is_stale()

#----------------------------------------------------------------------------
