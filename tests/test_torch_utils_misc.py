"""Tests for torch_utils.misc (and the rank helpers of torch_utils.distributed)."""

import itertools
import json
import re
import warnings

import numpy as np
import pytest
import torch

from torch_utils import distributed, misc

#----------------------------------------------------------------------------

def test_constant_values_and_cache():
    a = misc.constant([1, 2, 3], shape=[2, 3], dtype=torch.float32)
    assert torch.equal(a, torch.tensor([[1.0, 2.0, 3.0]] * 2)) and a.is_contiguous()
    assert misc.constant([1, 2, 3], shape=[2, 3], dtype=torch.float32) is a
    assert misc.constant(np.array([1, 2, 3]), shape=(2, 3), dtype=torch.float32) is a
    assert misc.constant([1, 2, 4], shape=[2, 3], dtype=torch.float32) is not a
    b = misc.constant(0.5)
    assert b.dtype == torch.get_default_dtype() and b.shape == () and float(b) == 0.5
    c = misc.constant(1, shape=[1, 3, 2, 2], memory_format=torch.channels_last)
    assert c.is_contiguous(memory_format=torch.channels_last) and float(c.sum()) == 12

def test_assert_shape_messages():
    x = torch.zeros(2, 3, 4)
    misc.assert_shape(x, [2, None, 4])
    misc.assert_shape(x, [None, None, None])
    message = 'wrong size for dimension 1: got 3, expected 5 (shape [2, 3, 4], expected [2, 5, *])'
    with pytest.raises(AssertionError, match=re.escape(message)):
        misc.assert_shape(x, [2, 5, None])
    message = 'wrong number of dimensions: got 3 [2, 3, 4], expected 2 [2, 3]'
    with pytest.raises(AssertionError, match=re.escape(message)):
        misc.assert_shape(x, [2, 3])

def test_assert_shape_while_tracing():
    def f(x):
        misc.assert_shape(x, [None, 3]) # sizes are tensors while tracing
        return x * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        traced = torch.jit.trace(f, torch.zeros(2, 3), check_trace=False)
    assert not [w for w in caught if issubclass(w.category, torch.jit.TracerWarning)]
    assert torch.equal(traced(torch.ones(4, 3)), torch.full([4, 3], 2.0))
    def g(x):
        misc.assert_shape(x, [None, 4])
        return x
    with pytest.raises(Exception, match='wrong size for dimension 1: expected 4'), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.jit.trace(g, torch.zeros(2, 3), check_trace=False)

def test_profiled_function_names_the_range():
    @misc.profiled_function
    def my_op(x):
        return x + 1
    assert my_op.__name__ == 'my_op'
    with torch.autograd.profiler.profile() as prof:
        y = my_op(torch.zeros(3))
    assert torch.equal(y, torch.ones(3))
    assert 'my_op' in [e.name for e in prof.function_events]

#----------------------------------------------------------------------------
# InfiniteSampler.

class Range(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n
    def __len__(self):
        return self.n
    def __getitem__(self, idx):
        return idx

def take(sampler, count):
    return list(itertools.islice(iter(sampler), count))

def test_sampler_in_order_and_replicas():
    ds = Range(5)
    assert take(misc.InfiniteSampler(ds, shuffle=False), 12) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    full = take(misc.InfiniteSampler(ds, seed=3), 40)
    parts = [take(misc.InfiniteSampler(ds, rank=r, num_replicas=3, seed=3), 14) for r in range(3)]
    assert all(parts[i % 3][i // 3] == full[i] for i in range(40)) # replica r gets global positions r, r+3, ...
    assert full[:10] != [0, 1, 2, 3, 4] * 2 and sorted(set(full)) == [0, 1, 2, 3, 4] # shuffled
    assert take(misc.InfiniteSampler(ds, seed=4), 40) != full

def test_sampler_resume_matches_uninterrupted():
    ds = Range(37)
    for window in [0.5, 0.0]:
        ref = take(misc.InfiniteSampler(ds, seed=7, window_size=window), 300)
        for start in [0, 1, 36, 37, 100, 111]:
            resumed = misc.InfiniteSampler(ds, seed=7, window_size=window, start_index=start)
            assert take(resumed, 300 - start) == ref[start:]
        first = misc.InfiniteSampler(ds, seed=7, window_size=window)
        it = iter(first)
        head = [next(it) for _ in range(83)]
        state = json.loads(json.dumps(first.state_dict())) # plain data
        second = misc.InfiniteSampler(ds, seed=7, window_size=window)
        second.load_state_dict(state)
        assert head + take(second, 217) == ref
    with pytest.raises(ValueError, match='seed changed'):
        misc.InfiniteSampler(ds, seed=8, window_size=0.0).load_state_dict(state)
    with pytest.raises(ValueError, match='dataset_size changed'):
        misc.InfiniteSampler(Range(38), seed=7, window_size=0.0).load_state_dict(state)

def test_sampler_resume_with_replicas():
    ds = Range(10)
    ref = take(misc.InfiniteSampler(ds, rank=1, num_replicas=2, seed=1), 50)
    resumed = take(misc.InfiniteSampler(ds, rank=1, num_replicas=2, seed=1, start_index=40), 30)
    assert resumed == ref[20:]

#----------------------------------------------------------------------------
# Parameters and buffers.

class Small(torch.nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.fc = torch.nn.Linear(2, width)
        self.norm = torch.nn.BatchNorm1d(width)
        self.head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(width, 1))

    def forward(self, x):
        return self.head(self.norm(self.fc(x)))

def test_params_and_buffers_and_copy():
    torch.manual_seed(0)
    src, dst = Small(), Small()
    names = [name for name, _ in misc.named_params_and_buffers(src)]
    assert names == ['fc.weight', 'fc.bias', 'norm.weight', 'norm.bias', 'head.1.weight', 'head.1.bias',
                     'norm.running_mean', 'norm.running_var', 'norm.num_batches_tracked']
    assert len(misc.params_and_buffers(src)) == len(names)
    src.norm.running_mean.fill_(0.25)
    dst.fc.weight.requires_grad_(False)
    misc.copy_params_and_buffers(src, dst, require_all=True)
    for (name, a), (_, b) in zip(misc.named_params_and_buffers(src), misc.named_params_and_buffers(dst)):
        assert torch.equal(a, b), name
    assert not dst.fc.weight.requires_grad and dst.fc.bias.requires_grad
    assert dst.fc.weight.data_ptr() != src.fc.weight.data_ptr()

    # Partial copies: missing names are skipped unless require_all; shapes must agree.
    partial = torch.nn.Module()
    partial.fc = torch.nn.Linear(2, 3)
    before = dst.head[1].weight.clone()
    misc.copy_params_and_buffers(partial, dst)
    assert torch.equal(dst.fc.weight, partial.fc.weight) and torch.equal(dst.head[1].weight, before)
    with pytest.raises(ValueError, match=r'the source lacks norm\.weight, norm\.bias'):
        misc.copy_params_and_buffers(partial, dst, require_all=True)
    with pytest.raises(ValueError, match=r'fc\.weight has shape \[4, 2\] in the source and \[3, 2\]'):
        misc.copy_params_and_buffers(Small(width=4), dst)

def test_print_module_summary(capsys):
    torch.manual_seed(0)
    net = Small().eval()
    x = torch.randn(5, 2)
    out = misc.print_module_summary(net, [x])
    assert torch.equal(out, net(x))
    lines = capsys.readouterr().out.strip().splitlines()
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows['Small'] == ['Small', 'Parameters', 'Buffers', 'Output', 'shape', 'Datatype']
    assert rows['fc'] == ['fc', '9', '-', '[5,', '3]', 'float32']
    assert rows['norm'] == ['norm', '6', '7', '[5,', '3]', 'float32']
    assert rows['head.1'] == ['head.1', '4', '-', '[5,', '1]', 'float32']
    assert 'head.0' in rows and 'head' not in rows # head adds no new tensor after head.1
    assert rows['Total'] == ['Total', str(sum(p.numel() for p in net.parameters())),
                             str(sum(b.numel() for b in net.buffers())), '-', '-']
    misc.print_module_summary(net, [x], max_nesting=0)
    rows = [line.split()[0] for line in capsys.readouterr().out.strip().splitlines()]
    assert rows == ['Small', '---', '<top-level>', '---', 'Total']

def test_print_module_summary_leaves_batchnorm_statistics_alone(capsys):
    # A probe on a training-mode net must not fold its (possibly garbage) input into the running statistics.
    net = Small().train()
    before = {name: b.clone() for name, b in net.named_buffers()}
    misc.print_module_summary(net, [torch.full([5, 2], float('nan'))])
    capsys.readouterr()
    assert all(torch.equal(b, before[name]) for name, b in net.named_buffers())
    assert net.norm.num_batches_tracked.item() == 0

def test_single_process_helpers(capsys):
    assert distributed.get_rank() == 0 and distributed.get_world_size() == 1
    distributed.print0('hello')
    distributed.barrier()
    misc.check_ddp_consistency(Small()) # no process group: nothing to compare
    assert capsys.readouterr().out == 'hello\n'

#----------------------------------------------------------------------------
# DDP in two CPU processes: ddp_sync skips the gradient all-reduce, check_ddp_consistency finds divergence.

def _ddp_worker(rank, world_size, out_dir):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    x = torch.full([2, 3], float(rank + 1))
    result = dict()
    for sync in [False, True]:
        net.zero_grad()
        with misc.ddp_sync(ddp, sync):
            ddp(x).sum().backward()
        grads = [torch.zeros(3) for _ in range(world_size)]
        torch.distributed.all_gather(grads, net.weight.grad[0].clone())
        result[f'sync={sync}'] = bool(torch.equal(grads[0], grads[1]))
    misc.check_ddp_consistency(net)
    with torch.no_grad():
        net.bias.add_(rank)
    try:
        misc.check_ddp_consistency(net, ignore_regex=r'.*\.weight')
        result['divergent'] = 'not detected'
    except AssertionError as err:
        result['divergent'] = str(err)
    misc.check_ddp_consistency(net, ignore_regex=r'.*\.bias')
    with open(f'{out_dir}/rank{rank}.json', 'w') as f:
        json.dump(result, f)

def test_ddp_sync_and_consistency(tmp_path):
    distributed.launch(_ddp_worker, 2, 2, str(tmp_path), device='cpu')
    r0 = json.loads((tmp_path / 'rank0.json').read_text())
    r1 = json.loads((tmp_path / 'rank1.json').read_text())
    assert r0['sync=False'] is False and r0['sync=True'] is True # local grads differ; reduced grads agree
    assert r0['divergent'] == 'not detected' # rank 0 is the reference
    assert r1['divergent'] == 'Linear.bias differs from rank 0 on rank 1'

#----------------------------------------------------------------------------
