"""Reliability wiring of training.training_loop: --keep with the best snapshot by FID, metrics that leave the training
RNG alone, the free-disk check, collapse events (flat D loss, FID rising), out-of-memory lines, and accumulation of
one batch of 16 in rounds of 4."""

import collections
import glob
import json
import os
import random
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import safetensors.torch
import torch

import dnnlib
from metrics import metric_main
from torch_utils import checkpoint
from torch_utils import health
from torch_utils import training_stats
from training import networks_stylegan2
from training import training_loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------
# Tiny configs on 16 random 8x8 images: a StyleGAN2 G/D for runs of a few steps, and the conventional (SN-GAN) G with
# AutoGAN's D, fast enough for ticks of 1 kimg, so that snapshots get distinct names.

def make_data(tmp_path):
    data = tmp_path / 'data'
    if not data.exists():
        data.mkdir()
        rnd = np.random.RandomState(0)
        for i in range(16):
            PIL.Image.fromarray(rnd.randint(0, 256, [8, 8, 3], dtype=np.uint8)).save(data / f'{i:02d}.png')
    return str(data)

def stylegan2_config(tmp_path, name='run', **overrides):
    run_dir = tmp_path / name
    run_dir.mkdir()
    c = dnnlib.EasyDict(
        run_dir=str(run_dir), device='cpu', batch_size=4, batch_gpu=4, total_kimg=0.008, kimg_per_tick=0.004,
        image_snapshot_ticks=None, network_snapshot_ticks=1, max_grid_images=4, random_seed=0,
        training_set_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=make_data(tmp_path)),
        data_loader_kwargs=dict(num_workers=0),
        G_kwargs=dict(class_name='training.networks_stylegan2.Generator', z_dim=8, w_dim=8,
                      mapping_kwargs=dict(num_layers=1),
                      synthesis_kwargs=dict(channel_base=32, channel_max=8, num_fp16_res=0, conv_clamp=None)),
        D_kwargs=dict(class_name='training.networks_stylegan2.Discriminator', channel_base=32, channel_max=8,
                      num_fp16_res=0, conv_clamp=None, epilogue_kwargs=dict(mbstd_group_size=1)),
        G_opt_kwargs=dict(class_name='torch.optim.Adam', lr=0.002, betas=[0, 0.99], eps=1e-8),
        D_opt_kwargs=dict(class_name='torch.optim.Adam', lr=0.002, betas=[0, 0.99], eps=1e-8),
        loss_kwargs=dict(class_name='training.loss.StyleGAN2Loss', r1_gamma=1, pl_weight=0, style_mixing_prob=0),
        G_reg_interval=None, D_reg_interval=None)
    c.update(overrides)
    return c

def conventional_config(tmp_path, name, **overrides):
    with open(os.path.join(ROOT, 'nas', 'genotypes', 'alphagan_s_cifar10.json')) as f:
        genotype = json.load(f)
    c = stylegan2_config(tmp_path, name, batch_size=16, batch_gpu=16, G_batch_size=32, n_critic=5, total_kimg=3,
                         kimg_per_tick=1, ema_kimg=0, ema_rampup=None,
                         G_kwargs=dict(class_name='nas.backbones.conventional.Generator', genotype=genotype,
                                       z_dim=128, g_channels=8),
                         D_kwargs=dict(class_name='training.networks_conventional.Discriminator', d_channels=8),
                         G_opt_kwargs=dict(class_name='torch.optim.Adam', lr=0.0002, betas=[0, 0.9], eps=1e-8),
                         D_opt_kwargs=dict(class_name='torch.optim.Adam', lr=0.0002, betas=[0, 0.9], eps=1e-8),
                         loss_kwargs=dict(class_name='training.loss.HingeLoss'))
    c.update(overrides)
    return c

def read_stats(run_dir):
    with open(os.path.join(run_dir, 'stats.jsonl')) as f:
        return [json.loads(line) for line in f]

def weights(path):
    return safetensors.torch.load_file(path)

#----------------------------------------------------------------------------
# --keep and FID: four snapshots (kimg 0-3) with FIDs 5, 1, 4, 6, from a stand-in metric that draws random numbers of
# its own. keep=1 leaves the newest (3) and the best (1); FID rising twice fires a collapse event; the weights equal
# those of a run without metrics, because metrics run on their own RNG streams.

FIDS = [5.0, 1.0, 4.0, 6.0]

@pytest.fixture(scope='module')
def kept_runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('keep')
    calls = []
    def calc_metric(metric, G, **kwargs):
        calls.append(kwargs)
        torch.randn([7]), np.random.rand(3), random.random() # a real metric draws from every stream
        return dnnlib.EasyDict(results=dnnlib.EasyDict({metric: FIDS[len(calls) - 1]}), metric=metric,
                               total_time=0.0, total_time_str='0s', num_gpus=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metric_main, 'calc_metric', calc_metric)
        kept = conventional_config(tmp_path, 'kept', metrics=['fid50k_full'], keep=1,
                                   collapse_kwargs=dict(fid_patience=2))
        training_loop.training_loop(**kept)
    plain = conventional_config(tmp_path, 'plain')
    training_loop.training_loop(**plain)
    return dnnlib.EasyDict(kept=kept.run_dir, plain=plain.run_dir, calls=calls)

def test_keep_leaves_the_newest_and_the_best_by_fid(kept_runs):
    names = sorted(n for n in os.listdir(kept_runs.kept) if n.startswith(('network-snapshot', 'training-state')))
    assert names == ['network-snapshot-000001.pkl', 'network-snapshot-000001.safetensors',
                     'network-snapshot-000003.pkl', 'network-snapshot-000003.safetensors',
                     'training-state-000001.pt', 'training-state-000003.pt']
    assert checkpoint.find_resume_checkpoint(kept_runs.kept).endswith('network-snapshot-000003.pkl')
    assert len(kept_runs.calls) == 4
    assert all(call['batch_gen'] == 16 for call in kept_runs.calls) # the generator's micro-batch is batch_gpu

def test_fid_rising_is_a_collapse_event_in_stats(kept_runs):
    stats = read_stats(kept_runs.kept)
    assert [('collapse' in line) for line in stats] == [False, False, False, True]
    (event,) = stats[-1]['collapse']
    assert event['check'] == 'fid_rising' and event['value'] == 6.0 and event['threshold'] == 1.0
    assert event['action'] == 'warn' and event['step'] == round(stats[-1]['Progress/kimg']['mean'] * 1000) // 16

def test_metrics_leave_the_training_rng_alone(kept_runs):
    a = weights(os.path.join(kept_runs.kept, 'network-snapshot-000003.safetensors'))
    b = weights(os.path.join(kept_runs.plain, 'network-snapshot-000003.safetensors'))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)

#----------------------------------------------------------------------------
# Free disk: checked before the first byte of a snapshot is written.

def test_full_disk_stops_before_writing_a_snapshot(tmp_path, monkeypatch):
    usage = collections.namedtuple('usage', 'total used free')
    monkeypatch.setattr(checkpoint.shutil, 'disk_usage', lambda path: usage(10**9, 10**9 - 1000, 1000))
    c = stylegan2_config(tmp_path)
    with pytest.raises(dnnlib.util.UserError, match=r'needs [\d.]+ (KiB|MiB) but only 1000 B is free .*\(--keep\)$'):
        training_loop.training_loop(**c)
    assert not glob.glob(os.path.join(c.run_dir, 'network-snapshot-*'))
    assert not glob.glob(os.path.join(c.run_dir, 'training-state-*'))

#----------------------------------------------------------------------------
# Flat D loss with on_collapse='stop': the run ends with the event in stats.jsonl and its last checkpoint usable.

class FlatLoss:
    """Trains nothing and reports the same D loss every step."""
    def __init__(self, device, G, D, augment_pipe=None, ada_controller=None):
        pass

    def accumulate_gradients(self, phase, **kwargs):
        training_stats.report('Loss/D/loss', torch.full([4], 0.25))

def test_flat_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    # Fresh statistics: a NaN reported by an earlier test in this process stays in the cumulative sums.
    monkeypatch.setattr(training_stats, '_counters', dict())
    monkeypatch.setattr(training_stats, '_cumulative', dict())
    c = stylegan2_config(tmp_path, total_kimg=0.024, on_collapse='stop', collapse_kwargs=dict(loss_window=3),
                         loss_kwargs=dict(class_name='test_reliability_training.FlatLoss'))
    with pytest.raises(health.CollapseError, match=r'^collapse warning at step 3: loss std 0 over the last 3 steps.*'
                                                   r'stopped by --on-collapse=stop, the last checkpoint is kept$'):
        training_loop.training_loop(**c)
    stats = read_stats(c.run_dir)
    assert len(stats) == 3 and stats[-1]['collapse'][0]['check'] == 'loss_flat'
    assert stats[-1]['collapse'][0]['action'] == 'stop'
    path = checkpoint.find_resume_checkpoint(c.run_dir)
    assert checkpoint.load_state(training_loop.resume_state_path(path))['cur_nimg'] == 12

def test_nan_losses_are_not_a_flat_loss():
    monitor = health.CollapseMonitor(loss_window=3, log=lambda line: None)
    assert [monitor.check_loss(step, float('nan')) for step in range(5)] == [[]] * 5 # check_finite's business
    fired = [monitor.check_loss(step, 0.5) for step in range(5, 8)]
    assert fired[:2] == [[], []] and fired[2][0]['check'] == 'loss_flat' and fired[2][0]['value'] == 0

#----------------------------------------------------------------------------
# Out of memory in a training phase, a metric and a preview grid: one line naming the option to lower.

def raise_oom(original, when):
    def forward(self, *args, **kwargs):
        if when(kwargs):
            raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB')
        return original(self, *args, **kwargs)
    return forward

def test_oom_in_a_training_phase_names_batch_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(networks_stylegan2.Discriminator, 'forward',
                        raise_oom(networks_stylegan2.Discriminator.forward, lambda kwargs: torch.is_grad_enabled()))
    with pytest.raises(dnnlib.util.UserError) as info:
        training_loop.training_loop(**stylegan2_config(tmp_path))
    assert str(info.value).startswith('out of GPU memory in the Gboth phase; lower --batch-gpu (')

def test_oom_in_a_metric_names_batch_gpu(tmp_path, monkeypatch):
    def calc_metric(**kwargs):
        raise torch.OutOfMemoryError('CUDA out of memory')
    monkeypatch.setattr(metric_main, 'calc_metric', calc_metric)
    c = stylegan2_config(tmp_path, metrics=['fid50k_full'])
    with pytest.raises(dnnlib.util.UserError, match=r'^out of GPU memory in metric fid50k_full; lower --batch-gpu'):
        training_loop.training_loop(**c)
    assert checkpoint.find_resume_checkpoint(c.run_dir) is not None # the snapshot it was measuring stays

def test_oom_in_the_preview_grid_names_grid_images(tmp_path, monkeypatch):
    original = networks_stylegan2.Generator.forward
    def forward(self, *args, **kwargs):
        if kwargs.get('noise_mode') == 'const': # only the preview grid asks for constant noise
            raise MemoryError()
        return original(self, *args, **kwargs)
    monkeypatch.setattr(networks_stylegan2.Generator, 'forward', forward)
    with pytest.raises(dnnlib.util.UserError, match=r'^out of CPU memory in the preview grid; lower --grid-images or '):
        training_loop.training_loop(**stylegan2_config(tmp_path))

OOM_SCRIPT = '''
import sys, torch
import training.networks_stylegan2 as networks
forward = networks.Discriminator.forward
def oom(self, *args, **kwargs):
    if torch.is_grad_enabled():
        raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB')
    return forward(self, *args, **kwargs)
networks.Discriminator.forward = oom
import train
from dnnlib.util import cli_main
cli_main(train.main, args=sys.argv[1:])
'''

def test_train_cli_answers_oom_with_one_line_and_exit_2(tmp_path):
    args = [f'--outdir={tmp_path / "runs"}', f'--data={make_data(tmp_path)}', '--cfg=stylegan2', '--cbase=64',
            '--cmax=8', '--map=1', '--batch=4', '--kimg=0.004', '--metrics=none', '--workers=0', '--device=cpu']
    res = subprocess.run([sys.executable, '-c', OOM_SCRIPT, *args], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    assert res.stderr.splitlines() == ['Error: out of GPU memory in the Gmain phase; lower --batch-gpu '
                                       '(micro-batches are accumulated, so results do not change)']

#----------------------------------------------------------------------------
# One batch of 16 in one round or in four rounds of batch_gpu=4 gives the same update. StyleGAN2 G without noise
# inputs (per-round noise draws would differ), D with minibatch-stddev groups of 1 (a group spanning rounds legitimately
# changes D's output), R1 every step (Dboth). Adam with beta1 = 0 keeps each step's gradient as exp_avg.

def one_step(tmp_path, name, batch_gpu, mbstd_group_size):
    c = stylegan2_config(tmp_path, name, batch_size=16, batch_gpu=batch_gpu, total_kimg=0.016, kimg_per_tick=1)
    c.G_kwargs['synthesis_kwargs']['use_noise'] = False
    c.D_kwargs['epilogue_kwargs']['mbstd_group_size'] = mbstd_group_size
    training_loop.training_loop(**c)
    state = checkpoint.load_state(os.path.join(c.run_dir, 'training-state-000000.pt'))
    grads = {f'{net}.{index}': s['exp_avg'] for net, opt in state['optimizers'].items()
             for index, s in opt['state'].items()}
    return grads, weights(os.path.join(c.run_dir, 'network-snapshot-000000.safetensors'))

def max_difference(a, b):
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp(min=1e-6)) for k in a)

def test_sixteen_in_one_round_equals_four_rounds_of_four(tmp_path):
    whole_grads, whole_weights = one_step(tmp_path, 'whole', batch_gpu=16, mbstd_group_size=1)
    split_grads, split_weights = one_step(tmp_path, 'split', batch_gpu=4, mbstd_group_size=1)
    assert whole_grads.keys() == split_grads.keys() and len(whole_grads) > 10
    assert max_difference(split_grads, whole_grads) < 1e-4
    for key in whole_weights:
        if 'w_avg' not in key: # W's running means move once per mapping call: per round
            assert torch.allclose(split_weights[key], whole_weights[key], rtol=0, atol=1e-4 * 0.002), key # step: lr
    # Minibatch-stddev groups of 4 take every 4th image of what D sees: other groups when the batch is split.
    grouped_grads, _ = one_step(tmp_path, 'grouped', batch_gpu=4, mbstd_group_size=4)
    whole4_grads, _ = one_step(tmp_path, 'whole4', batch_gpu=16, mbstd_group_size=4)
    assert max_difference(grouped_grads, whole4_grads) > 1e-2

#----------------------------------------------------------------------------
