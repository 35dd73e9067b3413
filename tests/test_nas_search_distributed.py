"""Data-parallel alphaGAN in two CPU processes (gloo): gradients are averaged, so weights and alphas stay identical
on every process although each reads its own share of the data; the split's samplers hand out disjoint images."""

import json

import numpy as np
import torch

from nas.search.alphagan import AlphaGAN
from nas.search.base import SearchData
from nas.space.supernet_conventional import SupernetGenerator
from torch_utils import distributed
from training.networks_conventional import Discriminator

#----------------------------------------------------------------------------

class Images(torch.utils.data.Dataset):
    """Image i is filled with the value i, so a batch tells which images it holds."""
    def __len__(self):
        return 16

    def __getitem__(self, idx):
        return np.full([3, 32, 32], idx, dtype=np.uint8), np.zeros([0], dtype=np.float32)

def _worker(rank, world_size, out_dir):
    result = dict()

    # average_gradients: the mean over processes, for every parameter that has a gradient.
    a, b, idle = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    a.grad = torch.full([3], float(rank + 1))
    b.grad = torch.arange(2.0) * (rank + 1)
    distributed.average_gradients([a, b, idle])
    result['a'] = a.grad.tolist()
    result['b'] = b.grad.tolist()
    result['idle'] = idle.grad is None

    # Samplers: each process reads its own images, both splits.
    data = SearchData(Images(), batch_size=2, device='cpu', seed=0, rank=rank, num_replicas=world_size)
    result['train'] = [int(v) for v in data.train()[0][:, 0, 0, 0].add(1).mul(127.5).round().tolist()]
    result['val'] = [int(v) for v in data.val()[0][:, 0, 0, 0].add(1).mul(127.5).round().tolist()]

    # One alphaGAN iteration on different data per process: identical weights and alphas afterwards.
    torch.manual_seed(0)
    G = SupernetGenerator(img_resolution=32, g_channels=4)
    D = Discriminator(img_resolution=32, d_channels=4)
    torch.manual_seed(1 + rank) # each process its own noise
    before = [p.detach().clone() for p in G.arch_parameters()]
    algorithm = AlphaGAN(G, D, device='cpu', T=2, S=2, R=1)
    algorithm.step(0, data)
    params = [p.detach() for p in G.parameters()] + [p.detach() for p in D.parameters()]
    flat = torch.cat([p.flatten() for p in params])
    gathered = [torch.zeros_like(flat) for _ in range(world_size)]
    torch.distributed.all_gather(gathered, flat)
    result['params_equal'] = all(torch.equal(gathered[0], g) for g in gathered)
    result['alpha_moved'] = any(not torch.equal(p, q) for p, q in zip(before, G.arch_parameters()))
    with open(f'{out_dir}/rank{rank}.json', 'w') as f:
        json.dump(result, f)

def test_data_parallel_alphagan(tmp_path):
    distributed.launch(_worker, 2, 2, str(tmp_path), device='cpu')
    r = [json.loads((tmp_path / f'rank{i}.json').read_text()) for i in range(2)]
    for res in r:
        assert res['a'] == [1.5, 1.5, 1.5] and res['b'] == [0.0, 1.5] and res['idle']
        assert res['params_equal'] and res['alpha_moved']
    # The two processes read disjoint images of one shuffled order, and the splits are disjoint.
    train = r[0]['train'] + r[1]['train']
    val = r[0]['val'] + r[1]['val']
    assert len(set(train)) == 4 and len(set(val)) == 4 and not set(train) & set(val)

#----------------------------------------------------------------------------
