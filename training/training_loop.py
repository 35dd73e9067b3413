"""Main training loop of StyleGAN2-ADA (Karras et al. 2020), shared by every generator ganas trains."""

import contextlib
import copy
import json
import os
import random
import time

import numpy as np
import psutil
import torch

import dnnlib
from torch_utils import checkpoint
from torch_utils import distributed
from torch_utils import health
from torch_utils import misc
from torch_utils import training_stats
from torch_utils.ops import conv2d_gradfix
from torch_utils.ops import grid_sample_gradfix
from training import stylegan2_ada_import
from training.augment import AdaController
from training.image_grid import grid_size_for, save_image_grid

#----------------------------------------------------------------------------
# Fixed preview grid: real images (and their labels) laid out like StyleGAN2-ADA's reals.png.

def setup_snapshot_image_grid(training_set, random_seed=0, max_images=None):
    rnd = np.random.RandomState(random_seed)
    gw, gh = grid_size_for(training_set.resolution, max_images=min(len(training_set), max_images or len(training_set)))
    indices = list(range(len(training_set)))
    rnd.shuffle(indices)
    indices = (indices * (gw * gh // max(len(indices), 1) + 1))[:gw * gh]
    images, labels = zip(*[training_set[i] for i in indices])
    return (gw, gh), np.stack(images), np.stack(labels)

#----------------------------------------------------------------------------
# Generate images in micro-batches so previews never need more memory than one training batch.

@torch.no_grad()
def generate_images(G, z, c, batch_gpu, noise_mode='const'):
    out = [G(z=zb, c=cb, noise_mode=noise_mode).float().cpu() for zb, cb in zip(z.split(batch_gpu), c.split(batch_gpu))]
    return torch.cat(out).numpy()

#----------------------------------------------------------------------------
# Run a block (metrics) without moving the training RNG streams, so that a run resumed from a checkpoint draws the
# same numbers as one that never stopped, with or without metrics.

@contextlib.contextmanager
def isolated_rng(device):
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == 'cuda' else []):
            yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)

#----------------------------------------------------------------------------
# Training phases of one network. Lazy regularisation (StyleGAN2, Sec. 3.1): the regulariser runs every `reg_interval`
# minibatches with its loss scaled by that interval, and the optimiser's learning rate and betas are rescaled so the
# combined update matches the non-lazy one. `every` schedules the phase (reg_interval, times n_critic for G).

def make_phases(name, module, opt_kwargs, reg_interval, batch_size, every=1):
    opt_kwargs = dnnlib.EasyDict(opt_kwargs)
    if 'betas' in opt_kwargs:
        opt_kwargs.betas = [float(beta) for beta in opt_kwargs.betas] # torch's Adam rejects a mix of int and float
    if reg_interval is None or reg_interval <= 0:
        opt = dnnlib.util.construct_class_by_name(params=module.parameters(), **opt_kwargs)
        specs = [('both', 1)]
    else:
        mb_ratio = reg_interval / (reg_interval + 1)
        opt_kwargs.lr = opt_kwargs.lr * mb_ratio
        opt_kwargs.betas = [beta ** mb_ratio for beta in opt_kwargs.betas]
        opt = dnnlib.util.construct_class_by_name(params=module.parameters(), **opt_kwargs)
        specs = [('main', 1), ('reg', reg_interval)]
    return [dnnlib.EasyDict(name=name + suffix, module=module, opt=opt, interval=interval, every=interval * every,
                            batch_size=batch_size, base_lr=opt_kwargs.lr) for suffix, interval in specs]

#----------------------------------------------------------------------------
# File names of a snapshot and its full training state.

def snapshot_paths(run_dir, cur_nimg):
    stem = os.path.join(run_dir, f'network-snapshot-{cur_nimg // 1000:06d}')
    return stem + '.pkl', stem + '.safetensors', os.path.join(run_dir, f'training-state-{cur_nimg // 1000:06d}.pt')

def resume_state_path(resume_pkl):
    """The training-state file written next to a snapshot pkl, or None."""
    name = os.path.basename(resume_pkl)
    if not name.startswith('network-snapshot-'):
        return None
    path = os.path.join(os.path.dirname(resume_pkl), 'training-state-' + name[len('network-snapshot-'):].rsplit('.', 1)[0] + '.pt')
    return path if os.path.isfile(path) else None

#----------------------------------------------------------------------------
# Pieces of a run shared with the search loop: the dataset with its description, and stats.jsonl plus TensorBoard
# events of process 0 (the other processes write nothing).

def load_training_set(training_set_kwargs):
    distributed.print0('Loading training set...')
    training_set = dnnlib.util.construct_class_by_name(**training_set_kwargs)
    distributed.print0(f'Num images:  {len(training_set)}')
    distributed.print0(f'Image shape: {training_set.image_shape}')
    return training_set

class StatsLogs:
    def __init__(self, run_dir, writer):
        self.jsonl = open(os.path.join(run_dir, 'stats.jsonl'), 'at') if writer else None
        self.tfevents = None
        if writer:
            try:
                import torch.utils.tensorboard as tensorboard
                self.tfevents = tensorboard.SummaryWriter(run_dir)
            except ImportError as err:
                print('Skipping tfevents export:', err)

    def write(self, line, scalars, global_step, walltime=None):
        """One JSON line to stats.jsonl; {name: value} scalars to the event file at global_step."""
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(line) + '\n')
            self.jsonl.flush()
        if self.tfevents is not None:
            for name, value in scalars.items():
                self.tfevents.add_scalar(name, value, global_step=global_step, walltime=walltime)
            self.tfevents.flush()

    def close(self):
        for f in [self.jsonl, self.tfevents]:
            if f is not None:
                f.close()

#----------------------------------------------------------------------------
# Resume: the snapshot's weights always, the full training state when its file sits beside the snapshot.

def load_resume(resume_pkl, modules):
    """Copies the weights into `modules` ({name: module or None}); returns (cur_nimg, training state or None)."""
    distributed.print0(f'Resuming from "{resume_pkl}"')
    resume_data = stylegan2_ada_import.load_network(resume_pkl)
    for name, module in modules.items():
        if module is not None and resume_data.get(name) is not None:
            misc.copy_params_and_buffers(resume_data[name], module, require_all=False)
    cur_nimg = int(resume_data.get('progress', {}).get('cur_nimg', 0))
    state_path = resume_state_path(resume_pkl)
    if state_path is None:
        return cur_nimg, None
    state = checkpoint.load_state(state_path)
    return int(state['cur_nimg']), state

def restore_state(state, phases, ada_controller, loss, monitor, rank):
    """Optimisers, ADA, the path-length mean, the collapse monitor and this process's RNG from a training state."""
    for phase in phases:
        phase.opt.load_state_dict(state['optimizers'][phase.name[0]])
    if ada_controller is not None and 'ada' in state:
        ada_controller.load_state_dict(state['ada'])
    if 'pl_mean' in state and hasattr(loss, 'pl_mean'):
        pl_mean = checkpoint.rank_value(state, 'pl_mean', rank)
        loss.pl_mean.copy_(pl_mean if pl_mean is not None else state['pl_mean'])
    if 'health' in state:
        monitor.load_state_dict(state['health'])
    checkpoint.restore_rank_rng_state(state, rank)

#----------------------------------------------------------------------------
# Preview grids of process 0: reals.png, the fixed latents and labels of every fakes grid, and fakes_init.png.

def export_grids(run_dir, training_set, G_ema, random_seed, max_grid_images, batch_gpu, device, fakes_init):
    distributed.print0('Exporting sample images...')
    grid_size, images, labels = setup_snapshot_image_grid(training_set, random_seed, max_grid_images)
    save_image_grid(images, os.path.join(run_dir, 'reals.png'), grid_size, drange=[0, 255])
    grid_z = torch.randn([labels.shape[0], G_ema.z_dim], generator=torch.Generator().manual_seed(random_seed)).to(device)
    grid_c = torch.from_numpy(labels).to(device)
    if fakes_init:
        with health.oom_guard('--grid-images or --batch-gpu', what='the preview grid'):
            images = generate_images(G_ema, grid_z, grid_c, batch_gpu)
        save_image_grid(images, os.path.join(run_dir, 'fakes_init.png'), grid_size)
    return grid_size, grid_z, grid_c

#----------------------------------------------------------------------------
# One minibatch of the training phases due at batch_idx. Each round's loss is scaled by 1/rounds, so accumulation
# gives the full-batch mean.

def run_phases(phases, loss, batch_idx, real_img, real_c, training_set, z_dim, batch_gpu, num_gpus, device, cur_nimg):
    for phase in phases:
        if batch_idx % phase.every != 0:
            continue
        num_gen = phase.batch_size // num_gpus
        gen_z = torch.randn([num_gen, z_dim], device=device).split(batch_gpu)
        gen_c = [training_set.get_label(np.random.randint(len(training_set))) for _ in range(num_gen)]
        gen_c = torch.from_numpy(np.stack(gen_c)).to(device).split(batch_gpu)
        rounds = len(gen_z)
        phase.opt.zero_grad(set_to_none=True)
        phase.module.requires_grad_(True)
        with health.oom_guard('--batch-gpu', what=f'the {phase.name} phase'):
            for round_idx in range(rounds):
                real_idx = round_idx % len(real_img) # G phases may generate more images than D sees reals
                loss.accumulate_gradients(phase=phase.name, real_img=real_img[real_idx], real_c=real_c[real_idx],
                                          gen_z=gen_z[round_idx], gen_c=gen_c[round_idx], gain=phase.interval / rounds,
                                          cur_nimg=cur_nimg)
            phase.module.requires_grad_(False)
            with torch.autograd.profiler.record_function(phase.name + '_opt'):
                distributed.average_gradients(phase.module.parameters(), finite=True) # NaN/Inf -> 0/+-1e5
                phase.opt.step()

#----------------------------------------------------------------------------
# EMA of the generator weights with StyleGAN2-ADA's half-life in images and ramp-up; buffers are copied.

def update_ema(G_ema, G, cur_nimg, batch_size, ema_kimg, ema_rampup):
    with torch.autograd.profiler.record_function('Gema'):
        ema_nimg = ema_kimg * 1000
        if ema_rampup is not None:
            ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
        ema_beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))
        for p_ema, p in zip(G_ema.parameters(), G.parameters()):
            p_ema.copy_(p.lerp(p_ema, ema_beta))
        for b_ema, b in zip(G_ema.buffers(), G.buffers()):
            b_ema.copy_(b)

#----------------------------------------------------------------------------
# Status line of a tick, accumulating the same information in training_stats.

def report_tick(cur_tick, cur_nimg, start_time, tick_start_time, tick_start_nimg, tick_end_time, maintenance_time,
                device, augment_pipe):
    tick_sec = tick_end_time - tick_start_time
    fields = []
    fields += [f"tick {training_stats.report0('Progress/tick', cur_tick):<5d}"]
    fields += [f"kimg {training_stats.report0('Progress/kimg', cur_nimg / 1e3):<8.1f}"]
    fields += [f"time {dnnlib.util.format_time(training_stats.report0('Timing/total_sec', tick_end_time - start_time)):<12s}"]
    fields += [f"sec/tick {training_stats.report0('Timing/sec_per_tick', tick_sec):<7.1f}"]
    fields += [f"sec/kimg {training_stats.report0('Timing/sec_per_kimg', tick_sec / max(cur_nimg - tick_start_nimg, 1) * 1e3):<7.2f}"]
    fields += [f"maintenance {training_stats.report0('Timing/maintenance_sec', maintenance_time):<6.1f}"]
    fields += [f"cpumem {training_stats.report0('Resources/cpu_mem_gb', psutil.Process(os.getpid()).memory_info().rss / 2**30):<6.2f}"]
    if device.type == 'cuda':
        fields += [f"gpumem {training_stats.report0('Resources/peak_gpu_mem_gb', torch.cuda.max_memory_allocated(device) / 2**30):<6.2f}"]
        torch.cuda.reset_peak_memory_stats()
    fields += [f"augment {training_stats.report0('Progress/augment', float(augment_pipe.p.cpu()) if augment_pipe is not None else 0):.3f}"]
    training_stats.report0('Timing/total_hours', (tick_end_time - start_time) / (60 * 60))
    training_stats.report0('Timing/total_days', (tick_end_time - start_time) / (24 * 60 * 60))
    distributed.print0(' '.join(fields))

#----------------------------------------------------------------------------
# Network snapshot (pickle and safe file) and full training state, after checking that the disk can hold them.
# Every process takes part (consistency check, RNG gather); process 0 writes and gets the snapshot path.

def save_snapshot(run_dir, cur_nimg, batch_idx, modules, phases, loss, ada_controller, monitor, training_set_kwargs,
                  num_gpus, rank):
    for module in modules.values():
        if module is not None and num_gpus > 1:
            misc.check_ddp_consistency(module, ignore_regex=r'.*\.[^.]+_(avg|ema)(_all)?') # running averages: each process its own
    per_rank = checkpoint.gather_ranks('rng', checkpoint.capture_rng_state()) # each process its own
    if hasattr(loss, 'pl_mean'): # StyleGAN2Loss's running mean of path lengths, from each process's batch
        per_rank.update(checkpoint.gather_ranks('pl_mean', loss.pl_mean.detach().cpu()))
    if rank != 0:
        return None
    snapshot_pkl, snapshot_safe, state_path = snapshot_paths(run_dir, cur_nimg)
    extra = dict(training_set_kwargs=dict(training_set_kwargs), progress=dict(cur_nimg=cur_nimg))
    snapshot = {name: copy.deepcopy(module).eval().requires_grad_(False).cpu() if module is not None else None
                for name, module in modules.items()}
    state = dict(cur_nimg=cur_nimg, batch_idx=batch_idx, **per_rank,
                 optimizers={phase.name[0]: phase.opt.state_dict() for phase in phases}, health=monitor.state_dict())
    if ada_controller is not None:
        state['ada'] = ada_controller.state_dict()
    checkpoint.check_free_disk(run_dir, 2 * checkpoint.tensor_bytes(snapshot) + checkpoint.tensor_bytes(state) + 2**20)
    checkpoint.save_pickle(snapshot_pkl, dict(snapshot, **extra))
    checkpoint.save_safe(snapshot_safe, {k: v for k, v in snapshot.items() if v is not None}, extra)
    del snapshot # conserve memory
    checkpoint.save_state(state_path, state)
    return snapshot_pkl

#----------------------------------------------------------------------------
# Metrics of a snapshot (generator in micro-batches of batch_gpu), without moving the training RNG streams.

def evaluate_metrics(metrics, G_ema, training_set_kwargs, detector, run_dir, snapshot_pkl, num_gpus, rank, device,
                     batch_gpu):
    from metrics import metric_main
    distributed.print0('Evaluating metrics...')
    results = dict()
    for metric in metrics:
        with isolated_rng(device), health.oom_guard('--batch-gpu', what=f'metric {metric}'):
            result_dict = metric_main.calc_metric(metric=metric, G=G_ema, dataset_kwargs=training_set_kwargs,
                                                  num_gpus=num_gpus, rank=rank, device=device, batch_gen=batch_gpu,
                                                  detector=detector)
        if rank == 0:
            metric_main.report_metric(result_dict, run_dir=run_dir, snapshot_pkl=snapshot_pkl)
        results.update(result_dict.results)
    return results

#----------------------------------------------------------------------------
# Collapse watch of a tick: the D loss flat over ticks, FID rising over evaluations (every rank sees the same values).
# Events name the minibatch (batch_idx), which, unlike the tick, keeps counting across a resume. Returns the events
# and the CollapseError to raise once they are logged (on_collapse='stop'), or None.

def check_collapse(monitor, batch_idx, stats_dict, tick_metrics):
    events = []
    try:
        if 'Loss/D/loss' in stats_dict:
            events += monitor.check_loss(batch_idx, stats_dict['Loss/D/loss'].mean)
        for name, value in tick_metrics.items():
            if name.startswith('fid'):
                events += monitor.check_fid(batch_idx, value)
    except health.CollapseError as err:
        return events + [err.event], err
    return events, None

#----------------------------------------------------------------------------

def training_loop(
    run_dir                 = '.',      # Output directory.
    training_set_kwargs     = {},       # Options for training set.
    data_loader_kwargs      = {},       # Options for torch.utils.data.DataLoader.
    G_kwargs                = {},       # Options for generator network.
    D_kwargs                = {},       # Options for discriminator network.
    G_opt_kwargs            = {},       # Options for generator optimizer.
    D_opt_kwargs            = {},       # Options for discriminator optimizer.
    augment_kwargs          = None,     # Options for augmentation pipeline, None = disable.
    loss_kwargs             = {},       # Options for loss function.
    metrics                 = [],       # Metrics to evaluate during training.
    detector                = None,     # Inception detector of the metrics (metrics/detectors.py), None = offline.
    random_seed             = 0,        # Global random seed.
    num_gpus                = 1,        # Number of processes taking part in training.
    rank                    = 0,        # Rank of the current process in [0, num_gpus).
    device                  = 'cuda',   # 'cuda' or 'cpu'.
    batch_size              = 4,        # Total batch size for one training iteration, across processes.
    batch_gpu               = 4,        # Number of samples processed at a time by one process (accumulation below that).
    ema_kimg                = 10,       # Half-life of the exponential moving average (EMA) of generator weights.
    ema_rampup              = 0.05,     # EMA ramp-up coefficient, None = no rampup.
    G_reg_interval          = 4,        # How often to perform regularization for G, None = disable lazy regularization.
    D_reg_interval          = 16,       # How often to perform regularization for D, None = disable lazy regularization.
    n_critic                = 1,        # Run the G phases every n_critic-th minibatch (SN-GAN/AutoGAN: 5), 1 = every one.
    G_batch_size            = None,     # Generated images per G step across processes, None = batch_size.
    lr_schedule             = None,     # None = constant; 'linear' = both learning rates decay to 0 at total_kimg (AutoGAN).
    augment_p               = 0,        # Initial value of augmentation probability.
    ada_target              = None,     # ADA target value, None = fixed p.
    ada_interval            = 4,        # How often to perform ADA adjustment (minibatches).
    ada_kimg                = 500,      # ADA adjustment speed: kimg for p to go from 0 to 1.
    total_kimg              = 25000,    # Total length of the training, measured in thousands of real images.
    kimg_per_tick           = 4,        # Progress snapshot interval.
    image_snapshot_ticks    = 50,       # How often to save image snapshots, None = disable.
    network_snapshot_ticks  = 50,       # How often to save network snapshots, None = disable.
    keep                    = None,     # Keep the newest this many snapshots and the best by metrics[0], None = all.
    on_collapse             = 'warn',   # Collapse (flat D loss, rising FID): 'warn' = log it, 'stop' = end the run.
    collapse_kwargs         = {},       # Options for health.CollapseMonitor (loss_window in ticks, fid_patience).
    max_grid_images         = None,     # Cap on preview-grid images, None = fill about a 4K screen.
    resume_pkl              = None,     # Network snapshot to resume from; its training-state file is used if present.
    cudnn_benchmark         = True,     # Enable torch.backends.cudnn.benchmark?
    allow_tf32              = False,    # Enable TF32 matmul/convolutions on Ampere and newer?
):
    # Initialize.
    start_time = time.time()
    device = torch.device(device, rank) if device == 'cuda' else torch.device(device)
    np.random.seed(random_seed * num_gpus + rank)
    torch.manual_seed(random_seed * num_gpus + rank)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    torch.backends.cudnn.allow_tf32 = allow_tf32
    conv2d_gradfix.enabled = True           # Improves training speed and allows R1 through weights-free gradients.
    grid_sample_gradfix.enabled = True      # Avoids errors with the augmentation pipe's double backward.
    batch_gpu_total = batch_size // num_gpus

    # Load training set.
    training_set = load_training_set(training_set_kwargs)
    distributed.print0(f'Label shape: {training_set.label_shape}')
    distributed.print0()

    # Construct networks.
    distributed.print0('Constructing networks...')
    common_kwargs = dict(c_dim=training_set.label_dim, img_resolution=training_set.resolution, img_channels=training_set.num_channels)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common_kwargs).train().requires_grad_(False).to(device)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common_kwargs).train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    augment_pipe = None
    if augment_kwargs is not None and (augment_p > 0 or ada_target is not None):
        augment_pipe = dnnlib.util.construct_class_by_name(**augment_kwargs).train().requires_grad_(False).to(device)
        augment_pipe.p.copy_(torch.as_tensor(augment_p))
    modules = dict(G=G, D=D, G_ema=G_ema, augment_pipe=augment_pipe)

    # Resume from an existing snapshot.
    cur_nimg, state = load_resume(resume_pkl, modules) if resume_pkl is not None else (0, None)

    # Every process constructed its networks from its own seed: all start from process 0's.
    for module in modules.values():
        if module is not None:
            distributed.broadcast_module(module)

    # Print network summary tables.
    if rank == 0:
        with health.oom_guard('--batch-gpu', what='the network summary'):
            z = torch.zeros([batch_gpu, G.z_dim], device=device)
            c = torch.zeros([batch_gpu, G.c_dim], device=device)
            img = misc.print_module_summary(G, [z, c])
            misc.print_module_summary(D, [img, c])

    # Set up the ADA controller, loss and optimizers.
    ada_controller = None
    if augment_pipe is not None and ada_target is not None:
        ada_controller = AdaController(augment_pipe, batch_size=batch_size, target=ada_target, ada_kimg=ada_kimg,
                                       interval=ada_interval, p=None)
    loss = dnnlib.util.construct_class_by_name(device=device, G=G, D=D, augment_pipe=augment_pipe,
                                               ada_controller=ada_controller, **loss_kwargs)
    assert lr_schedule in [None, 'linear']
    G_batch_size = G_batch_size or batch_size
    if G_batch_size % (num_gpus * batch_gpu) != 0:
        raise dnnlib.util.UserError(f'G batch {G_batch_size} is not a multiple of {num_gpus} processes x batch_gpu {batch_gpu}')
    phases = (make_phases('G', G, G_opt_kwargs, G_reg_interval, G_batch_size, every=n_critic) +
              make_phases('D', D, D_opt_kwargs, D_reg_interval, batch_size))

    # Data pipeline: one iterator over an infinite sampler, positioned where a resumed run left off.
    sampler = misc.InfiniteSampler(dataset=training_set, rank=rank, num_replicas=num_gpus, seed=random_seed,
                                   start_index=cur_nimg) # global position: every process replays the same order
    training_set_iterator = iter(torch.utils.data.DataLoader(dataset=training_set, sampler=sampler, batch_size=batch_gpu_total, **data_loader_kwargs))

    # Export sample images.
    grid_size = grid_z = grid_c = None
    if rank == 0:
        grid_size, grid_z, grid_c = export_grids(run_dir, training_set, G_ema, random_seed, max_grid_images, batch_gpu,
                                                 device, fakes_init=state is None)

    # Initialize logs; watch the run for collapse, events go to stats.jsonl.
    distributed.print0('Initializing logs...')
    stats_collector = training_stats.Collector(regex='.*')
    stats_metrics = dict()
    logs = StatsLogs(run_dir, writer=rank == 0)
    monitor = health.CollapseMonitor(on_collapse=on_collapse, log=distributed.print0, **collapse_kwargs)

    # Restore the full training state last: building the summary, grids and data iterator above draws random numbers.
    if state is not None:
        restore_state(state, phases, ada_controller, loss, monitor, rank)

    # Train.
    distributed.print0(f'Training for {total_kimg} kimg...')
    distributed.print0()
    cur_tick = 0
    tick_start_nimg = cur_nimg
    tick_start_time = time.time()
    maintenance_time = tick_start_time - start_time
    batch_idx = int(state.get('batch_idx', 0)) if state is not None else 0 # n_critic and lazy-regularisation schedule
    done = cur_nimg >= total_kimg * 1000
    while not done:

        # Fetch training data.
        with torch.autograd.profiler.record_function('data_fetch'):
            phase_real_img, phase_real_c = next(training_set_iterator)
            phase_real_img = (phase_real_img.to(device).to(torch.float32) / 127.5 - 1).split(batch_gpu)
            phase_real_c = phase_real_c.to(device).split(batch_gpu)

        # Decay learning rates.
        if lr_schedule == 'linear':
            for phase in phases:
                for group in phase.opt.param_groups:
                    group['lr'] = phase.base_lr * max(1 - cur_nimg / (total_kimg * 1000), 0)

        # Execute training phases and update G_ema.
        run_phases(phases, loss, batch_idx, phase_real_img, phase_real_c, training_set, G.z_dim, batch_gpu, num_gpus,
                   device, cur_nimg)
        update_ema(G_ema, G, cur_nimg, batch_size, ema_kimg, ema_rampup)

        # Update state.
        cur_nimg += batch_size
        batch_idx += 1

        # Execute ADA heuristic.
        if ada_controller is not None:
            ada_controller.step()

        # Perform maintenance tasks once per tick.
        done = (cur_nimg >= total_kimg * 1000)
        if (not done) and (cur_tick != 0) and (cur_nimg < tick_start_nimg + kimg_per_tick * 1000):
            continue

        # Print status line.
        tick_end_time = time.time()
        report_tick(cur_tick, cur_nimg, start_time, tick_start_time, tick_start_nimg, tick_end_time, maintenance_time,
                    device, augment_pipe)

        # Stop on NaN/Inf weights before anything is written, so the last snapshot stays the last good state.
        for name, module in [('G', G), ('D', D), ('G_ema', G_ema)]:
            health.check_finite(name, module, where=f'kimg {cur_nimg / 1e3:.3f}')

        # Save image snapshot.
        if rank == 0 and image_snapshot_ticks is not None and (done or cur_tick % image_snapshot_ticks == 0):
            with health.oom_guard('--grid-images or --batch-gpu', what='the preview grid'):
                images = generate_images(G_ema, grid_z, grid_c, batch_gpu)
            save_image_grid(images, os.path.join(run_dir, f'fakes{cur_nimg // 1000:06d}.png'), grid_size)

        # Save network snapshot and full training state.
        snapshot_pkl = None
        if network_snapshot_ticks is not None and (done or cur_tick % network_snapshot_ticks == 0):
            snapshot_pkl = save_snapshot(run_dir, cur_nimg, batch_idx, modules, phases, loss, ada_controller, monitor,
                                         training_set_kwargs, num_gpus, rank)

        # Evaluate metrics.
        tick_metrics = dict()
        if snapshot_pkl is not None and len(metrics) > 0:
            tick_metrics = evaluate_metrics(metrics, G_ema, training_set_kwargs, detector, run_dir, snapshot_pkl, num_gpus,
                                            rank, device, batch_gpu)
            stats_metrics.update(tick_metrics)

        # Delete all but the newest `keep` snapshots and the best by the first metric.
        if rank == 0 and snapshot_pkl is not None and keep is not None:
            checkpoint.prune_checkpoints(run_dir, keep=keep, best=metrics[0] if metrics else None, kind='training')

        # Collect statistics and watch for collapse.
        stats_collector.update()
        stats_dict = stats_collector.as_dict()
        events, collapse = check_collapse(monitor, batch_idx, stats_dict, tick_metrics)

        # Update logs.
        timestamp = time.time()
        line = dict(stats_dict, timestamp=timestamp)
        if events:
            line['collapse'] = events
        scalars = {name: value.mean for name, value in stats_dict.items()}
        scalars.update({f'Metrics/{name}': value for name, value in stats_metrics.items()})
        logs.write(line, scalars, global_step=int(cur_nimg / 1e3), walltime=timestamp - start_time)
        if collapse is not None:
            raise collapse

        # Update state.
        cur_tick += 1
        tick_start_nimg = cur_nimg
        tick_start_time = time.time()
        maintenance_time = tick_start_time - tick_end_time

    # Done.
    logs.close()
    distributed.print0()
    distributed.print0('Exiting...')

#----------------------------------------------------------------------------
