"""Process-group set-up for torchrun or a `--gpus N` spawn launcher (nccl on CUDA, gloo on CPU), and rank helpers."""

import contextlib
import os
import sys
import tempfile

import torch

import dnnlib
from . import training_stats

#----------------------------------------------------------------------------
# Process groups: a `--gpus N` launch spawns N processes (launch below); torchrun starts the processes itself and
# describes the group in RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT. Every group is left with
# destroy_process_group, and its processes end through dnnlib.util.exit_without_teardown (see there).

def _join(rank, world_size, local_rank, init_method, device):
    """Join a process group: nccl with this process on GPU `local_rank` for device 'cuda', gloo for 'cpu', None = cuda
    when available; training_stats then reduces on that device."""
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda':
        torch.cuda.set_device(local_rank)
        backend, sync_device = 'nccl', torch.device('cuda', local_rank)
    else:
        backend, sync_device = 'gloo', torch.device('cpu')
    torch.distributed.init_process_group(backend=backend, init_method=init_method, rank=rank, world_size=world_size)
    training_stats.init_multiprocessing(rank=rank, sync_device=sync_device)

def destroy_process_group():
    if _initialized():
        torch.distributed.destroy_process_group()
    training_stats.init_multiprocessing(rank=0, sync_device=None)

def num_processes(option, requested):
    """The number of processes of a run: `requested` (a --gpus value), or torchrun's world size, which a --gpus
    other than its default 1 must equal. Raises UserError for a mismatch or a torchrun across several machines."""
    world_size = dnnlib.util.torchrun_world_size()
    if world_size == 1:
        return requested
    if requested not in [1, world_size]:
        raise dnnlib.util.UserError(f'{option}: {requested}, but torchrun started {world_size} processes')
    if int(os.environ.get('LOCAL_WORLD_SIZE', world_size)) != world_size:
        raise dnnlib.util.UserError('torchrun: all processes must run on one machine (--nnodes=1)')
    return world_size

def check_devices(option, num_processes, device):
    """Refuse more processes than CUDA devices, or (device 'cpu') than CPU cores."""
    if device == 'cuda' and num_processes > torch.cuda.device_count():
        raise dnnlib.util.UserError(f'{option}: {num_processes} requested but only {torch.cuda.device_count()} '
                                    f'CUDA device(s) are visible')
    if device == 'cpu' and num_processes > (os.cpu_count() or 1):
        raise dnnlib.util.UserError(f'{option}: {num_processes} CPU processes, but this machine has '
                                    f'{os.cpu_count()} core(s)')

@contextlib.contextmanager
def torchrun_group(device=None):
    """Under torchrun, be in its process group for the block (see _join for `device`); otherwise do nothing."""
    world_size = dnnlib.util.torchrun_world_size()
    if world_size == 1:
        yield
        return
    _join(int(os.environ['RANK']), world_size, int(os.environ['LOCAL_RANK']), 'env://', device)
    try:
        yield
    finally:
        destroy_process_group()

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

def gather_object(obj):
    """[obj of process 0, obj of process 1, ...] in every process; [obj] without a process group."""
    if not _initialized():
        return [obj]
    objects = [None] * get_world_size()
    torch.distributed.all_gather_object(objects, obj)
    return objects

def broadcast_module(module):
    """Copy process 0's parameters and buffers of `module` into every process."""
    if _initialized():
        for tensor in list(module.parameters()) + list(module.buffers()):
            torch.distributed.broadcast(tensor.detach(), src=0)

def broadcast_object(obj):
    """Process 0's `obj` in every process (a picklable object, e.g. the run directory that process 0 chose)."""
    if not _initialized():
        return obj
    objects = [obj]
    torch.distributed.broadcast_object_list(objects, src=0)
    return objects[0]

#----------------------------------------------------------------------------
# Run fn(rank, *args) in every process of a run. In a torchrun group (torchrun_group) this process is one of them;
# else with one process fn runs in place and a UserError reaches the CLI as it is; else `num_processes` are spawned,
# in one process group for `device` (see _join); they meet through a file in a temporary directory. In a group a UserError becomes the process's one 'Error: ...' line (printed by
# every process that hits it, or only by `error_rank` where all of them stop on the same averaged statistics) and
# exit code 2, which spawn passes on by stopping the other processes; the launcher then exits with that code.
# Every process ends through dnnlib.util.exit_without_teardown (torchrun's in dnnlib.util.cli_main).

def launch(fn, num_processes, *args, error_rank=None, device=None):
    if _initialized():
        barrier() # process 0 has made the run directory
        exit_code = _run_in_group(get_rank(), fn, error_rank, *args)
        if exit_code != 0:
            sys.exit(exit_code)
        return
    if num_processes == 1:
        fn(0, *args)
        return
    torch.multiprocessing.set_start_method('spawn', force=True)
    with tempfile.TemporaryDirectory() as temp_dir:
        try:
            torch.multiprocessing.spawn(fn=_spawned_process, nprocs=num_processes,
                args=(num_processes, temp_dir, device, fn, error_rank, *args))
        except torch.multiprocessing.ProcessExitedException as err:
            sys.exit(err.exit_code)

def _spawned_process(rank, num_processes, temp_dir, device, fn, error_rank, *args):
    init_file = os.path.abspath(os.path.join(temp_dir, '.torch_distributed_init'))
    init_method = f'file:///{init_file.replace(os.sep, "/")}' if os.name == 'nt' else f'file://{init_file}'
    _join(rank, num_processes, rank, init_method, device) # rank doubles as the local GPU index
    try:
        exit_code = _run_in_group(rank, fn, error_rank, *args)
    finally:
        destroy_process_group()
    dnnlib.util.exit_without_teardown(exit_code)

def _run_in_group(rank, fn, error_rank, *args):
    """fn(rank, *args); 0, or 2 after a UserError's line."""
    try:
        fn(rank, *args)
    except dnnlib.util.UserError as err:
        if error_rank is None or rank == error_rank:
            print(f'Error: {err}', file=sys.stderr, flush=True)
        if error_rank is not None:
            barrier() # all stop alike: none may exit (and have the others stopped) before error_rank has said why
        return 2
    barrier() # no process leaves the group while another still talks to it
    return 0

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
