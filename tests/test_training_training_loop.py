"""training.training_loop options, observed through the saved training state: n_critic, G batch, linear LR decay;
and a run with every phase on, recorded before the loop was split into phases (issue 20)."""

import json
import os

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from recorded import assert_close, load, tensor_digest
from torch_utils import checkpoint
from torch_utils import health
from torch_utils import training_stats
from training import training_loop
from training.loss import StyleGAN2Loss

#----------------------------------------------------------------------------

def tiny_config(tmp_path, **overrides):
    data = tmp_path / 'data'
    data.mkdir()
    rnd = np.random.RandomState(0)
    for i in range(8):
        PIL.Image.fromarray(rnd.randint(0, 256, [8, 8, 3], dtype=np.uint8)).save(data / f'{i}.png')
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    c = dnnlib.EasyDict(
        run_dir=str(run_dir), device='cpu', batch_size=4, batch_gpu=2, total_kimg=0.024, kimg_per_tick=1,
        image_snapshot_ticks=None, network_snapshot_ticks=1, max_grid_images=4, random_seed=0,
        training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=str(data)),
        data_loader_kwargs=dict(num_workers=0),
        G_kwargs=dict(class_name='training.networks_stylegan2.Generator', z_dim=8, w_dim=8, mapping_kwargs=dict(num_layers=1),
                      synthesis_kwargs=dict(channel_base=32, channel_max=8, num_fp16_res=0, conv_clamp=None)),
        D_kwargs=dict(class_name='training.networks_stylegan2.Discriminator', channel_base=32, channel_max=8, num_fp16_res=0,
                      conv_clamp=None, epilogue_kwargs=dict(mbstd_group_size=2)),
        G_opt_kwargs=dict(class_name='torch.optim.Adam', lr=0.002, betas=[0, 0.99], eps=1e-8),
        D_opt_kwargs=dict(class_name='torch.optim.Adam', lr=0.002, betas=[0, 0.99], eps=1e-8),
        loss_kwargs=dict(class_name='training.loss.StyleGAN2Loss', r1_gamma=1, pl_weight=0, style_mixing_prob=0),
        G_reg_interval=None, D_reg_interval=None)
    c.update(overrides)
    return c

def final_state(c):
    training_loop.training_loop(**c)
    nimg = int(c.total_kimg * 1000)
    return checkpoint.load_state(os.path.join(c.run_dir, f'training-state-{nimg // 1000:06d}.pt'))

def adam_steps(opt_state):
    return {int(s['step']) for s in opt_state['state'].values()}

#----------------------------------------------------------------------------

def test_n_critic_runs_g_every_nth_step(tmp_path):
    state = final_state(tiny_config(tmp_path, n_critic=3)) # 0.024 kimg / batch 4 = 6 steps
    assert state['cur_nimg'] == 24
    assert adam_steps(state['optimizers']['D']) == {6}
    assert adam_steps(state['optimizers']['G']) == {2} # steps 0 and 3

def test_linear_lr_decay_reaches_last_step(tmp_path):
    state = final_state(tiny_config(tmp_path, lr_schedule='linear'))
    # The last of 6 steps starts at cur_nimg = 20 of 24: lr = base * (1 - 20/24).
    for name in 'GD':
        assert state['optimizers'][name]['param_groups'][0]['lr'] == pytest.approx(0.002 * 4 / 24)

def test_constant_lr_and_g_batch_checked(tmp_path):
    state = final_state(tiny_config(tmp_path, G_batch_size=8))
    assert state['optimizers']['G']['param_groups'][0]['lr'] == 0.002
    assert adam_steps(state['optimizers']['G']) == {6} # a G batch of 8 = 4 rounds of 2 against 2 rounds of reals
    (tmp_path / 'odd').mkdir()
    with pytest.raises(dnnlib.util.UserError, match='G batch 5'):
        training_loop.training_loop(**tiny_config(tmp_path / 'odd', G_batch_size=5))

#----------------------------------------------------------------------------
# A loss that poisons G with NaN once 12 images have been seen (the 4th step).

class NaNInjectingLoss(StyleGAN2Loss):
    def accumulate_gradients(self, phase, cur_nimg, **kwargs):
        super().accumulate_gradients(phase=phase, cur_nimg=cur_nimg, **kwargs)
        if cur_nimg >= 12 and phase.startswith('G'):
            with torch.no_grad():
                next(self.G.parameters()).fill_(float('nan'))

def test_nan_stops_the_run_and_keeps_the_last_good_snapshot(tmp_path):
    c = tiny_config(tmp_path, kimg_per_tick=0.004) # a tick, and a snapshot, after every step
    c.loss_kwargs = dict(c.loss_kwargs, class_name='test_training_training_loop.NaNInjectingLoss')
    with pytest.raises(health.NonFiniteError, match=r'^G\.synthesis\.b4\.const is not finite at kimg 0\.016'):
        training_loop.training_loop(**c)
    kept = checkpoint.load_network(os.path.join(c.run_dir, 'network-snapshot-000000.pkl'))
    assert all(torch.isfinite(p).all() for p in kept['G'].parameters())
    assert checkpoint.load_state(os.path.join(c.run_dir, 'training-state-000000.pt'))['cur_nimg'] == 12

#----------------------------------------------------------------------------
# Lazy regularisation of both networks with path-length regularisation, ADA, n_critic 2 and a linear LR decay over
# three ticks: the statistics of every tick and every tensor of the final snapshot and state, as recorded.

RECORDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'training-recorded.json')

def recorded_run(tmp_path):
    c = tiny_config(tmp_path, kimg_per_tick=0.008, G_reg_interval=4, D_reg_interval=4, n_critic=2,
                    lr_schedule='linear', augment_p=0.2, ada_target=0.6, ada_interval=1, ada_kimg=1,
                    augment_kwargs=dict(class_name='training.augment.AugmentPipe', xflip=1, rotate90=1, xint=1))
    c.loss_kwargs = dict(c.loss_kwargs, pl_weight=2)
    state = final_state(c)
    with open(os.path.join(c.run_dir, 'stats.jsonl')) as f:
        stats = [{k: v for k, v in json.loads(line).items() if not k.startswith(('Timing/', 'Resources/', 'timestamp'))}
                 for line in f]
    snapshot = checkpoint.load_network(os.path.join(c.run_dir, 'network-snapshot-000000.pkl'))
    modules = {name: snapshot[name].state_dict() for name in ['G', 'D', 'G_ema', 'augment_pipe']}
    return dict(stats=stats, snapshot=tensor_digest(modules), state=tensor_digest(state['optimizers']),
                cur_nimg=state['cur_nimg'], batch_idx=state['batch_idx'])

def test_run_equals_the_recorded_one(tmp_path, monkeypatch):
    for name in ['_counters', '_cumulative']: # statistics other tests of this process reported do not count
        monkeypatch.setattr(training_stats, name, dict())
    assert_close(recorded_run(tmp_path), load(RECORDED))

#----------------------------------------------------------------------------
