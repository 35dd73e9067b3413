"""Continuous relaxation of one edge's op choice (DARTS, Liu et al. 2019; alphaGAN Eq. 8, supp. Table 1 Gumbel-max)."""

import contextlib

import torch

from dnnlib.util import get_obj_by_name
from torch_utils import misc
from torch_utils import persistence

#----------------------------------------------------------------------------
# sum_i weights[i] * outputs[i]: the mixing step of a MixedOp or of a W selector.

def weighted_sum(weights, outputs):
    misc.assert_shape(weights, [len(outputs)])
    out = weights[0] * outputs[0]
    for w, y in zip(weights[1:], outputs[1:]):
        out = out + w * y
    return out

#----------------------------------------------------------------------------
# Architecture parameters [edges, ops] -> op weights [edges, ops]: softmax per row (Eq. 8), or a Gumbel-softmax
# sample with temperature tau (supp. Eq. 1); hard=True gives an exact one-hot forward with the soft sample's gradient.

def edge_weights(alpha, gumbel=False, tau=1.0, hard=True, generator=None):
    if not gumbel:
        return alpha.softmax(dim=-1)
    u = torch.rand(alpha.shape, dtype=alpha.dtype, device=alpha.device, generator=generator)
    g = -(-u.clamp(min=torch.finfo(u.dtype).tiny).log()).log() # Gumbel(0, 1)
    soft = ((alpha + g) / tau).softmax(dim=-1)
    if not hard:
        return soft
    one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(dim=-1, keepdim=True), 1.0)
    return one_hot + (soft - soft.detach()) # forward: exactly one-hot; backward: d soft

def one_hot_rows(indices, num_ops, like):
    """Op weights [len(indices), num_ops] choosing one op per row, of `like`'s dtype and device: a supernet running
    one architecture (random search with weight sharing)."""
    rows = torch.nn.functional.one_hot(torch.as_tensor(indices, dtype=torch.int64), num_ops)
    return rows.to(dtype=like.dtype, device=like.device)

#----------------------------------------------------------------------------
# One Gumbel sample for several supernets: inside the block, every module draws its Gumbel noise from its own
# generator seeded with `seed` (the supernets read `gumbel_generator`), so modules of one structure draw the same
# noise in their next forward and, with equal alphas, run the same architecture (alphaGAN: G and G_bar in the two
# terms of one architecture step's duality gap).

@contextlib.contextmanager
def shared_gumbel_noise(modules, seed):
    for module in modules:
        device = module.arch_parameters()[0].device
        module.gumbel_generator = torch.Generator(device=device).manual_seed(seed)
    try:
        yield
    finally:
        for module in modules:
            del module.gumbel_generator # back to the class default, None: the global RNG

#----------------------------------------------------------------------------
# Mixed op: every candidate of one edge, built from a name -> factory registry, mixed by weights given at forward.
# The architecture parameters live in the supernet's own container, never here.

@persistence.persistent_class
class MixedOp(torch.nn.Module):
    def __init__(self,
        candidates,                 # Op names, in the order of the weights.
        registry,                   # Dotted name of the registry dict, e.g. 'nas.space.ops.OPS'.
        *op_args,                   # Arguments of every factory call.
        **op_kwargs,                # Keyword arguments of every factory call.
    ):
        super().__init__()
        factories = get_obj_by_name(registry)
        self.candidates = tuple(candidates)
        self.ops = torch.nn.ModuleList([factories[name](*op_args, **op_kwargs) for name in self.candidates])

    def forward(self, x, weights, *args, **kwargs):
        """Extra arguments (e.g. a style vector) go to every candidate."""
        return weighted_sum(weights, [op(x, *args, **kwargs) for op in self.ops])

    def extra_repr(self):
        return f'candidates={list(self.candidates)}'

#----------------------------------------------------------------------------
# Dynamic W selector (alphaGAN Sec. 6.2, Fig. 2): each ws slot (a synthesis conv layer or the last toRGB) mixes
# the mapping network's per-layer outputs W_1..W_L with weights given at forward (softmax of its betas during
# search, one-hot after derivation). Holds no parameters: the betas live in the supernet's own container.

@persistence.persistent_class
class WSelector(torch.nn.Module):
    def __init__(self,
        num_layers,                 # Number of mapping layers L (choices W_1..W_L).
        num_ws,                     # Number of ws slots, each with its own choice.
    ):
        super().__init__()
        self.num_layers = num_layers
        self.num_ws = num_ws

    def forward(self, all_ws, weights):
        """all_ws [N, L, num_ws, w_dim] (MappingNetwork with return_all_layers), weights [num_ws, L]
        -> ws [N, num_ws, w_dim] with ws[:, j] = sum_i weights[j, i] * all_ws[:, i, j]."""
        misc.assert_shape(all_ws, [None, self.num_layers, self.num_ws, None])
        misc.assert_shape(weights, [self.num_ws, self.num_layers])
        weights = weights.to(all_ws.dtype).unsqueeze(-1) # [num_ws, L, 1]
        layers = all_ws.unbind(dim=1)
        ws = weights[:, 0] * layers[0]
        for i in range(1, self.num_layers):
            ws = ws + weights[:, i] * layers[i]
        return ws

    def extra_repr(self):
        return f'num_layers={self.num_layers:d}, num_ws={self.num_ws:d}'

#----------------------------------------------------------------------------
