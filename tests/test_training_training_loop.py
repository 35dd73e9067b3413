"""training.training_loop options, observed through the saved training state: n_critic, G batch, linear LR decay."""

import os

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from torch_utils import checkpoint
from training import training_loop

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
