"""Shared by the tests that hold a refactor to outputs recorded before it: tensor digests and a tolerant
comparison of nested JSON values."""

import json

import pytest
import torch

#----------------------------------------------------------------------------

def tensor_digest(obj, prefix=''):
    """{path: [sum, sum of absolute values]} of every tensor in nested dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return {prefix: [float(obj.double().sum()), float(obj.double().abs().sum())]}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else []
    digest = dict()
    for key, value in items:
        digest.update(tensor_digest(value, f'{prefix}/{key}'))
    return digest

def load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)

def assert_close(now, then, where=''):
    """Equal structure and values; floats to 1e-5 relative (another BLAS may round differently)."""
    now = json.loads(json.dumps(now))
    if isinstance(then, dict):
        assert sorted(now) == sorted(then), where
        for key in then:
            assert_close(now[key], then[key], f'{where}/{key}')
    elif isinstance(then, list):
        assert len(now) == len(then), where
        for i, (a, b) in enumerate(zip(now, then)):
            assert_close(a, b, f'{where}/{i}')
    elif isinstance(then, float):
        assert now == pytest.approx(then, rel=1e-5, abs=1e-6), where
    else:
        assert now == then, where

#----------------------------------------------------------------------------
