"""Snapshots written before the backbone redesign (issue 20) still load, safely and trusted, with equal outputs."""

import os

import numpy as np
import pytest
import torch

from torch_utils import checkpoint
from torch_utils import persistence

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')

# Written by train.py's snapshot code (save_pickle + save_safe of G, D, G_ema and the extras) before the redesign:
# conventional = alphaGAN_(s) genotype at 8 channels, stylegan2 = a micro_dynw genotype at 16 px with 4 mapping
# layers, autogan = the published AutoGAN genotype at 8 channels; the .npz holds z, G_ema(z, noise_mode='const')
# and D of that image, computed when the files were written.
SNAPSHOTS = ['snapshot-conventional', 'snapshot-stylegan2-micro-dynw', 'snapshot-autogan']

def check_outputs(data, name):
    expected = np.load(os.path.join(DATA, f'{name}-expected.npz'))
    with torch.no_grad():
        img = data['G_ema'].eval()(torch.from_numpy(expected['z']), None, noise_mode='const')
        logits = data['D'].eval()(img, None)
    torch.testing.assert_close(img, torch.from_numpy(expected['img']), rtol=0, atol=1e-6)
    torch.testing.assert_close(logits, torch.from_numpy(expected['logits']), rtol=1e-6, atol=1e-5)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('name', SNAPSHOTS)
def test_safe_file_loads_with_equal_outputs(name):
    data = checkpoint.load_safe(os.path.join(DATA, f'{name}.safetensors'))
    assert data['progress'] == dict(cur_nimg=0)
    check_outputs(data, name)

@pytest.mark.parametrize('name', SNAPSHOTS)
def test_pickle_loads_safely_with_equal_outputs(name):
    data = persistence.load_pickle(os.path.join(DATA, f'{name}.pkl'))
    assert data['augment_pipe'] is None
    check_outputs(data, name)

@pytest.mark.parametrize('name', SNAPSHOTS)
def test_pickle_loads_trusted_with_equal_outputs(name):
    data = persistence.load_pickle(os.path.join(DATA, f'{name}.pkl'), allow_pickle=True)
    check_outputs(data, name)

@pytest.mark.parametrize('name', SNAPSHOTS)
def test_pickle_and_safe_file_build_the_same_classes(name):
    safe = checkpoint.load_safe(os.path.join(DATA, f'{name}.safetensors'))
    pkl = persistence.load_pickle(os.path.join(DATA, f'{name}.pkl'))
    for key in ('G', 'D', 'G_ema'):
        assert type(safe[key]) is type(pkl[key])
        assert safe[key].init_kwargs == pkl[key].init_kwargs

#----------------------------------------------------------------------------
