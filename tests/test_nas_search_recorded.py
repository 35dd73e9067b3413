"""Tiny searches of every method recorded before the search code was refactored (issue 20): the per-iteration
statistics, the found genotype and every tensor of the final search state stay what they were."""

import json
import os

import pytest
import torch

from cli_helpers import make_images
from recorded import assert_close, assert_digest_close, load, tensor_digest
from nas.search import search_loop as sl
from torch_utils import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDED = os.path.join(ROOT, 'tests', 'data', 'search-recorded.json')

def output_reward(G):
    """Cheap deterministic stand-in for IS/FID: depends on the child and its weights."""
    z = torch.randn([4, G.z_dim], generator=torch.Generator().manual_seed(0))
    return float(G(z, torch.zeros([4, G.c_dim])).mean())

#----------------------------------------------------------------------------
# One tiny configuration per method and backbone: 8 images of 16 x 16, two iterations, seed 3.

CONVENTIONAL = dict(G_kwargs=dict(class_name='nas.space.supernet_conventional.SupernetGenerator', z_dim=8, g_channels=4),
                    D_kwargs=dict(class_name='training.networks_conventional.Discriminator', d_channels=4))
AUTOGAN = dict(G_kwargs=dict(class_name='nas.space.autogan_space.SharedGenerator', z_dim=8, g_channels=4),
               D_kwargs=dict(class_name='training.networks_conventional.Discriminator', d_channels=4))
SG2_SYNTHESIS = dict(channel_base=64, channel_max=8, num_fp16_res=0, conv_clamp=None)
STYLEGAN2 = dict(G_kwargs=dict(class_name='nas.space.supernet_stylegan2.SupernetGenerator', z_dim=8, w_dim=8,
                               mode='micro_dynw', mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SG2_SYNTHESIS),
                 D_kwargs=dict(class_name='training.networks_stylegan2.Discriminator', channel_base=64, channel_max=8,
                               num_fp16_res=0, conv_clamp=None, epilogue_kwargs=dict(mbstd_group_size=2)))
REWARD = dict(reward=f'{__name__}.output_reward', g_batch=4)
RANDOM = dict(class_name='nas.search.random_search.RandomSearch', num_samples=2, train_steps=3, n_critic=2, **REWARD)

RUNS = {
    'alphagan/conventional': dict(CONVENTIONAL, algorithm_kwargs=dict(class_name='nas.search.alphagan.AlphaGAN',
                                  T=3, S=2, R=2, n_critic=2)),
    'alphagan/stylegan2': dict(STYLEGAN2, batch_size=2, algorithm_kwargs=dict(class_name='nas.search.alphagan.AlphaGAN',
                               T=2, S=1, R=1)),
    'autogan/autogan': dict(AUTOGAN, algorithm_kwargs=dict(class_name='nas.search.autogan.AutoGAN', num_iters=2,
                            grow_iters=[1], shared_steps=4, ctrl_steps=2, hidden_size=8, num_candidates=2, beam_size=1,
                            **REWARD)),
    'random/conventional': dict(CONVENTIONAL, algorithm_kwargs=dict(RANDOM, space='conventional',
                                child_kwargs=dict(z_dim=8, g_channels=4))),
    'random/autogan': dict(AUTOGAN, algorithm_kwargs=dict(RANDOM, space='autogan',
                           child_kwargs=dict(z_dim=8, g_channels=4))),
    'random/stylegan2': dict(STYLEGAN2, batch_size=2, algorithm_kwargs=dict(RANDOM, space='stylegan2', mode='micro_dynw',
                             genotype_channels=dict(channel_base=64, channel_max=8, num_mapping_layers=2),
                             child_kwargs=dict(z_dim=8, w_dim=8, mapping_kwargs=dict(num_layers=2),
                                               synthesis_kwargs=SG2_SYNTHESIS))),
}

def search_config(name, data, run_dir, **overrides):
    """search_loop's options of one run."""
    c = dict(run_dir=str(run_dir), training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=data),
             data_loader_kwargs=dict(num_workers=0), num_iters=2, batch_size=4, random_seed=3, device='cpu',
             image_snapshot_iters=None, state_snapshot_iters=2, max_grid_images=4,
             provenance=dict(method=name.split('/')[0], data='tiny'), progress=False)
    c.update(RUNS[name], **overrides)
    return c

def run_search(name, data, run_dir, **overrides):
    """The statistics (no timings), the found genotype and the digest of the final search state of one run."""
    os.makedirs(run_dir, exist_ok=True)
    found = sl.search_loop(**search_config(name, data, run_dir, **overrides))
    with open(os.path.join(run_dir, 'stats.jsonl')) as f:
        stats = [{k: v for k, v in json.loads(line).items() if not k.startswith('Timing/') and k != 'timestamp'}
                 for line in f]
    state = checkpoint.load_state(os.path.join(run_dir, 'search-state-000002.pt'))
    return dict(stats=stats, found=found.to_dict(), state=tensor_digest(state['algorithm']))

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp('data') / 'tiny', 8, 16)

@pytest.fixture(scope='module')
def recorded():
    return load(RECORDED)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('name', list(RUNS))
def test_search_equals_the_recorded_run(name, data, recorded, tmp_path, monkeypatch):
    monkeypatch.setattr(sl, 'write_plots', lambda *args: None) # matplotlib time; the loop's own tests cover plots
    now, then = run_search(name, data, tmp_path / 'run'), recorded[name]
    assert_close({k: now[k] for k in ['stats', 'found']}, {k: then[k] for k in ['stats', 'found']}, name)
    assert_digest_close(now['state'], then['state'], f'{name}/state')

#----------------------------------------------------------------------------
