"""Shared by the tests that hold a refactor to outputs recorded before it: tensor digests and a tolerant
comparison of nested JSON values."""

import json

import pytest
import torch

#----------------------------------------------------------------------------

def tensors_of(value, prefix=''):
    """{path: tensor} of every tensor in nested dicts, lists and tuples (a state dict)."""
    if isinstance(value, torch.Tensor):
        return {prefix: value}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else []
    found = dict()
    for key, item in items:
        found.update(tensors_of(item, f'{prefix}.{key}'))
    return found

def tensor_digest(value):
    """{path: [sum, sum of absolute values]} of every tensor in `value`, as tensors_of() finds them."""
    return {path: [float(t.double().sum()), float(t.double().abs().sum())] for path, t in tensors_of(value).items()}

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

def assert_digest_close(now, then, where=''):
    """tensor_digest()s of the same tensors with equal values: sums of absolute values to 1e-5 relative, sums to 1e-5
    of the tensor's sum of absolute values, which bounds a sum's rounding error (a sum that cancels, like that of
    Adam's first moment, is small but its rounding error is not)."""
    assert sorted(now) == sorted(then), where
    for path, (total, abs_total) in then.items():
        now_total, now_abs_total = now[path]
        assert now_abs_total == pytest.approx(abs_total, rel=1e-5, abs=1e-6), f'{where}{path}'
        assert now_total == pytest.approx(total, rel=0, abs=1e-5 * abs_total + 1e-6), f'{where}{path}'

#----------------------------------------------------------------------------
