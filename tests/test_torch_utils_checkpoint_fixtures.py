"""Snapshots written before the backbone redesign (issue 20) still load, safely and trusted, with equal outputs."""

import os

import numpy as np
import pytest
import torch

import nas.backbones # as the CLIs do: registers the former names of the classes that moved
from torch_utils import checkpoint
from torch_utils import persistence
from training import networks_stylegan2

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
# The generators built from genotypes moved from training/ to nas/backbones/: old records build the new classes.

MOVED = {'snapshot-conventional': 'nas.backbones.conventional',
         'snapshot-stylegan2-micro-dynw': 'nas.backbones.stylegan2',
         'snapshot-autogan': 'nas.space.autogan_space'}

@pytest.mark.parametrize('name', SNAPSHOTS)
def test_old_records_build_the_current_classes(name):
    safe = checkpoint.load_safe(os.path.join(DATA, f'{name}.safetensors'))
    pkl = persistence.load_pickle(os.path.join(DATA, f'{name}.pkl'))
    assert type(safe['G']).__module__ == type(pkl['G_ema']).__module__ == MOVED[name]
    assert type(safe['D']).__module__ == type(pkl['D']).__module__ == ('training.networks_stylegan2' if 'stylegan2'
        in name else 'training.networks_conventional')

def test_stylegan2_without_genotype_stays_stylegan2(tmp_path):
    G = networks_stylegan2.Generator(z_dim=8, w_dim=8, img_resolution=8, img_channels=3,
        synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0))
    checkpoint.save_pickle(tmp_path / 'G.pkl', dict(G=G))
    checkpoint.save_safe(tmp_path / 'G.safetensors', dict(G=G))
    assert type(persistence.load_pickle(tmp_path / 'G.pkl')['G']) is networks_stylegan2.Generator
    assert type(checkpoint.load_safe(tmp_path / 'G.safetensors')['G']) is networks_stylegan2.Generator

#----------------------------------------------------------------------------
