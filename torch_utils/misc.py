"""Small PyTorch helpers shared by training and search: shape checks, constants, samplers, parameter copies, DDP."""

import contextlib
import functools
import re
import warnings

import numpy as np
import torch

import dnnlib

#----------------------------------------------------------------------------
# Cached constant tensors, so that per-call constants are not rebuilt and re-uploaded.

_constant_cache = dict() # cache: (value, shape, dtype, device, memory_format) -> tensor

def constant(value, shape=None, dtype=None, device=None, memory_format=None):
    """Tensor holding `value` broadcast to `shape`; the same call returns the same tensor, so never modify it."""
    value = np.asarray(value)
    shape = tuple(shape) if shape is not None else None
    dtype = dtype if dtype is not None else torch.get_default_dtype()
    device = torch.device(device) if device is not None else torch.device('cpu')
    memory_format = memory_format if memory_format is not None else torch.contiguous_format
    key = (value.shape, value.dtype, value.tobytes(), shape, dtype, device, memory_format)
    tensor = _constant_cache.get(key)
    if tensor is None:
        tensor = torch.as_tensor(value.copy(), dtype=dtype, device=device)
        if shape is not None:
            tensor, _ = torch.broadcast_tensors(tensor, torch.empty(shape, dtype=dtype, device=device))
        tensor = tensor.contiguous(memory_format=memory_format)
        _constant_cache[key] = tensor
    return tensor

#----------------------------------------------------------------------------
# Memory format of convolutional activations on a device: channels-last on CPU, where oneDNN's convolutions (the
# depthwise ones most of all) read and write NHWC without reordering, contiguous elsewhere. Chosen at forward from the
# input's device, never stored, so weights, state dicts and pickles do not change.

def activation_memory_format(device):
    return torch.channels_last if device.type == 'cpu' else torch.contiguous_format

#----------------------------------------------------------------------------
# Silence the tracer's warnings about Python values while asserting shapes inside torch.jit.trace.

@contextlib.contextmanager
def suppress_tracer_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', category=torch.jit.TracerWarning)
        yield

#----------------------------------------------------------------------------
# Check a tensor's shape where ops meet; None in ref_shape matches any size.

def assert_shape(tensor, ref_shape):
    """Raise AssertionError naming the dimension when `tensor.shape` does not match `ref_shape`."""
    shape = list(tensor.shape)
    expected = '[' + ', '.join('*' if r is None else str(r) for r in ref_shape) + ']'
    if len(shape) != len(ref_shape):
        raise AssertionError(f'wrong number of dimensions: got {len(shape)} {shape}, '
                             f'expected {len(ref_shape)} {expected}')
    for idx, (size, ref_size) in enumerate(zip(shape, ref_shape)):
        if ref_size is None:
            continue
        if isinstance(ref_size, torch.Tensor) or isinstance(size, torch.Tensor): # symbolic sizes while tracing
            with suppress_tracer_warnings():
                torch._assert(torch.equal(torch.as_tensor(size), torch.as_tensor(ref_size)),
                              f'wrong size for dimension {idx}: expected {ref_size}')
        elif size != ref_size:
            raise AssertionError(f'wrong size for dimension {idx}: got {size}, expected {ref_size} '
                                 f'(shape {shape}, expected {expected})')

#----------------------------------------------------------------------------
# Name a function in the autograd profiler's trace.

def profiled_function(fn):
    @functools.wraps(fn)
    def decorator(*args, **kwargs):
        with torch.autograd.profiler.record_function(fn.__name__):
            return fn(*args, **kwargs)
    return decorator

#----------------------------------------------------------------------------
# Endless sampler over a dataset, split across replicas, with a slowly drifting shuffle (windowed swaps,
# as StyleGAN2-ADA's) that is resumable: the order depends only on the seed and the global position.

class InfiniteSampler(torch.utils.data.Sampler):
    def __init__(self, dataset,
        rank            = 0,        # Rank of this replica.
        num_replicas    = 1,        # Number of replicas; replica r yields global positions r, r + R, ...
        shuffle         = True,     # Shuffle, or walk the dataset in order.
        seed            = 0,        # Seed of the shuffle; every replica must use the same one.
        window_size     = 0.5,      # Fraction of the dataset over which items are swapped, 0 = fixed permutation.
        start_index     = 0,        # Global position to start from, e.g. cur_nimg when resuming.
    ):
        assert len(dataset) > 0
        assert num_replicas > 0 and 0 <= rank < num_replicas
        assert 0 <= window_size <= 1 and start_index >= 0
        super().__init__()
        self.dataset = dataset
        self.rank = rank
        self.num_replicas = num_replicas
        self.shuffle = shuffle
        self.seed = seed
        self.window_size = window_size
        self.position = start_index # global position of the next item; advanced by the running iterator

    def __iter__(self):
        n = len(self.dataset)
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(n).tolist() if self.shuffle else list(range(n))
        window = int(np.rint(n * self.window_size)) if self.shuffle else 0
        pos = self.position
        pass_start = pos - pos % n
        for _ in range(pass_start // n): # replay earlier passes
            _swap(order, self._offsets(rng, n, window), 0, n)
        while True:
            offsets = self._offsets(rng, n, window)
            _swap(order, offsets, 0, pos - pass_start) # replay the start of this pass
            for i in range(pos - pass_start, n):
                item = order[i]
                if offsets is not None:
                    j = (i - offsets[i]) % n
                    order[i], order[j] = order[j], order[i]
                pos = pass_start + i + 1
                if (pos - 1) % self.num_replicas == self.rank:
                    self.position = pos
                    yield item
            pass_start += n

    @staticmethod
    def _offsets(rng, n, window):
        return rng.integers(window, size=n).tolist() if window >= 2 else None

    def state_dict(self):
        """Position and settings; with a prefetching DataLoader the position runs ahead of the consumer,
        so a training loop resumes from its own image count via start_index instead."""
        return dict(position=self.position, dataset_size=len(self.dataset), shuffle=self.shuffle,
                    seed=self.seed, window_size=self.window_size)

    def load_state_dict(self, state):
        """Continue from a state_dict(); the next iterator yields what the saved sampler would have yielded."""
        mine = self.state_dict()
        changed = [key for key in ('dataset_size', 'shuffle', 'seed', 'window_size') if state[key] != mine[key]]
        if changed:
            raise ValueError(f'cannot resume InfiniteSampler: {", ".join(changed)} changed '
                             f'({", ".join(f"{state[k]} -> {mine[k]}" for k in changed)})')
        self.position = state['position']

def _swap(order, offsets, begin, end):
    if offsets is None:
        return
    n = len(order)
    for i in range(begin, end):
        j = (i - offsets[i]) % n
        order[i], order[j] = order[j], order[i]

#----------------------------------------------------------------------------
# Parameters and buffers together: what copies, consistency checks and safe files deal in.

def params_and_buffers(module):
    assert isinstance(module, torch.nn.Module)
    return list(module.parameters()) + list(module.buffers())

def named_params_and_buffers(module):
    assert isinstance(module, torch.nn.Module)
    return list(module.named_parameters()) + list(module.named_buffers())

@torch.no_grad()
def copy_params_and_buffers(src_module, dst_module, require_all=False):
    """Copy every tensor of `dst_module` that `src_module` has under the same name; keep dst's requires_grad."""
    src_tensors = dict(named_params_and_buffers(src_module))
    missing = []
    for name, tensor in named_params_and_buffers(dst_module):
        if name not in src_tensors:
            missing.append(name)
            continue
        src = src_tensors[name]
        if src.shape != tensor.shape:
            raise ValueError(f'copy_params_and_buffers: {name} has shape {list(src.shape)} in the source '
                             f'and {list(tensor.shape)} in the destination')
        tensor.copy_(src.detach())
    if require_all and missing:
        raise ValueError(f'copy_params_and_buffers: the source lacks {", ".join(missing)}')

#----------------------------------------------------------------------------
# DistributedDataParallel helpers.

@contextlib.contextmanager
def ddp_sync(module, sync):
    """Inside, backward() of a DDP module reduces gradients only when `sync`, so accumulation rounds skip it."""
    assert isinstance(module, torch.nn.Module)
    if sync or not isinstance(module, torch.nn.parallel.DistributedDataParallel):
        yield
    else:
        with module.no_sync():
            yield

def check_ddp_consistency(module, ignore_regex=None):
    """Assert that every parameter and buffer equals rank 0's copy (NaNs count as equal); no-op in one process."""
    assert isinstance(module, torch.nn.Module)
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    for name, tensor in named_params_and_buffers(module):
        fullname = type(module).__name__ + '.' + name
        if ignore_regex is not None and re.fullmatch(ignore_regex, fullname):
            continue
        tensor = tensor.detach()
        if tensor.is_floating_point():
            tensor = torch.nan_to_num(tensor)
        other = tensor.clone()
        torch.distributed.broadcast(tensor=other, src=0)
        if not (tensor == other).all():
            raise AssertionError(f'{fullname} differs from rank 0 on rank {torch.distributed.get_rank()}')

#----------------------------------------------------------------------------
# Print a table of submodules with parameter and buffer counts and output shapes; returns the outputs.

def print_module_summary(module, inputs, max_nesting=3, skip_redundant=True):
    assert isinstance(module, torch.nn.Module)
    assert not isinstance(module, torch.jit.ScriptModule)
    assert isinstance(inputs, (tuple, list))

    # Record each submodule's outputs as it returns.
    entries = []
    depth = [0]
    def pre_hook(_mod, _inputs):
        depth[0] += 1
    def post_hook(mod, _inputs, outputs):
        depth[0] -= 1
        if depth[0] <= max_nesting:
            outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
            entries.append(dnnlib.EasyDict(mod=mod, outputs=[t for t in outputs if isinstance(t, torch.Tensor)]))
    hooks = [mod.register_forward_pre_hook(pre_hook) for mod in module.modules()]
    hooks += [mod.register_forward_hook(post_hook) for mod in module.modules()]
    saved_buffers = [b.detach().clone() for b in module.buffers()] # the probe must not move BatchNorm statistics
    try:
        with torch.no_grad():
            outputs = module(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
        for buffer, saved in zip(module.buffers(), saved_buffers):
            buffer.copy_(saved)

    # Attribute each tensor to the first (innermost) module that returns or owns it.
    seen = set()
    for e in entries:
        e.params = [t for t in e.mod.parameters() if id(t) not in seen]
        e.buffers = [t for t in e.mod.buffers() if id(t) not in seen]
        e.new_outputs = [t for t in e.outputs if id(t) not in seen]
        seen |= {id(t) for t in e.params + e.buffers + e.new_outputs}
    if skip_redundant:
        entries = [e for e in entries if len(e.params) or len(e.buffers) or len(e.new_outputs)]

    # Build and print the table.
    names = {mod: name for name, mod in module.named_modules()}
    rows = [[type(module).__name__, 'Parameters', 'Buffers', 'Output shape', 'Datatype']]
    rows += [['---'] * len(rows[0])]
    param_total = buffer_total = 0
    for e in entries:
        name = '<top-level>' if e.mod is module else names[e.mod]
        param_size = sum(t.numel() for t in e.params)
        buffer_size = sum(t.numel() for t in e.buffers)
        shapes = [str(list(t.shape)) for t in e.outputs]
        dtypes = [str(t.dtype).split('.')[-1] for t in e.outputs]
        rows += [[
            name + (':0' if len(e.outputs) >= 2 else ''),
            str(param_size) if param_size else '-',
            str(buffer_size) if buffer_size else '-',
            (shapes + ['-'])[0],
            (dtypes + ['-'])[0],
        ]]
        for idx in range(1, len(e.outputs)):
            rows += [[name + f':{idx}', '-', '-', shapes[idx], dtypes[idx]]]
        param_total += param_size
        buffer_total += buffer_size
    rows += [['---'] * len(rows[0])]
    rows += [['Total', str(param_total), str(buffer_total), '-', '-']]
    widths = [max(len(cell) for cell in column) for column in zip(*rows)]
    print()
    for row in rows:
        print('  '.join(cell + ' ' * (width - len(cell)) for cell, width in zip(row, widths)).rstrip())
    print()
    return outputs

#----------------------------------------------------------------------------
