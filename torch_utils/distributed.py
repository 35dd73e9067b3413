"""Process-group set-up for torchrun or a `--gpus N` spawn launcher (nccl on CUDA, gloo on CPU), and rank helpers."""

import os
import sys

import torch

import dnnlib
from . import training_stats

#----------------------------------------------------------------------------
# Start the process group; both entry points also point training_stats at the reduction device.

def _backend_and_device(local_rank, backend):
    if backend is None:
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(local_rank)
        return backend, torch.device('cuda', local_rank)
    return backend, torch.device('cpu')

def init_from_env(backend=None):
    """Join the process group that torchrun describes in RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT.

    Without those variables (plain `python train.py`) this is one process and nothing is initialised.
    Returns (rank, world_size).
    """
    rank = int(os.environ.get('RANK', '0'))
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size > 1 and not torch.distributed.is_initialized():
        backend, sync_device = _backend_and_device(int(os.environ.get('LOCAL_RANK', '0')), backend)
        torch.distributed.init_process_group(backend=backend, init_method='env://', rank=rank, world_size=world_size)
        training_stats.init_multiprocessing(rank=rank, sync_device=sync_device)
    return rank, world_size

def init_process_group(rank, world_size, temp_dir, backend=None):
    """Join a process group of `world_size` processes started by torch.multiprocessing.spawn, meeting through a
    file in `temp_dir` (one temporary directory shared by all of them); rank doubles as the local GPU index."""
    if world_size <= 1:
        return
    backend, sync_device = _backend_and_device(rank, backend)
    init_file = os.path.abspath(os.path.join(temp_dir, '.torch_distributed_init'))
    init_method = f'file:///{init_file.replace(os.sep, "/")}' if os.name == 'nt' else f'file://{init_file}'
    torch.distributed.init_process_group(backend=backend, init_method=init_method, rank=rank, world_size=world_size)
    training_stats.init_multiprocessing(rank=rank, sync_device=sync_device)

#----------------------------------------------------------------------------
# Rank helpers that also work when no process group exists.

def _initialized():
    return torch.distributed.is_available() and torch.distributed.is_initialized()

def get_rank():
    return torch.distributed.get_rank() if _initialized() else 0

def get_world_size():
    return torch.distributed.get_world_size() if _initialized() else 1

def print0(*args, **kwargs):
    if get_rank() == 0:
        print(*args, **kwargs)

def barrier():
    if _initialized():
        torch.distributed.barrier()

#----------------------------------------------------------------------------
# Start `num_processes` processes running fn(rank, *args); with one, fn runs in this process and a UserError reaches
# the CLI as it is. Under spawn a UserError in a process becomes its one 'Error: ...' line (printed by every process
# that hits it, or only by `error_rank` where all of them stop on the same averaged statistics) and exit code 2,
# which spawn passes on by stopping the other processes; the launcher then exits with that code, no traceback.

def launch(fn, num_processes, *args, error_rank=None):
    if num_processes == 1:
        fn(0, *args)
        return
    torch.multiprocessing.set_start_method('spawn', force=True)
    try:
        torch.multiprocessing.spawn(fn=_spawned_process, args=(fn, error_rank, *args), nprocs=num_processes)
    except torch.multiprocessing.ProcessExitedException as err:
        sys.exit(err.exit_code)

def _spawned_process(rank, fn, error_rank, *args):
    try:
        fn(rank, *args)
    except dnnlib.util.UserError as err:
        if error_rank is None or rank == error_rank:
            print(f'Error: {err}', file=sys.stderr)
        sys.exit(2)

#----------------------------------------------------------------------------
# Data-parallel gradient averaging: one all-reduce of the flattened gradients of `params` (every process passes the
# same parameters with the same gradient pattern). `finite`: NaN/Inf become 0/+-1e5 afterwards, as in StyleGAN2-ADA,
# also in a single process.

def average_gradients(params, finite=False):
    params = [p for p in params if p.grad is not None]
    world_size = get_world_size()
    if len(params) == 0 or (world_size == 1 and not finite):
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    if world_size > 1:
        torch.distributed.all_reduce(flat)
        flat /= world_size
    if finite:
        torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
    for p, grad in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(grad.reshape(p.shape))

#----------------------------------------------------------------------------
