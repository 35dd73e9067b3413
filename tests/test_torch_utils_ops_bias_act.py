"""bias_act against numpy formulas, its derivatives by gradcheck, and the CUDA kernel against 'ref'."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch_utils.ops import bias_act

ACTS = ['linear', 'relu', 'lrelu', 'tanh', 'sigmoid', 'elu', 'selu', 'softplus', 'swish']
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')

#----------------------------------------------------------------------------
# Independent numpy version: the activations written out, with StyleGAN2's default alpha and gain.

def slow_bias_act(x, b, dim, act, alpha=None, gain=None, clamp=None):
    defaults = { # name: (alpha, gain)
        'linear': (0, 1), 'relu': (0, math.sqrt(2)), 'lrelu': (0.2, math.sqrt(2)), 'tanh': (0, 1),
        'sigmoid': (0, 1), 'elu': (1, 1), 'selu': (0, 1), 'softplus': (0, 1), 'swish': (0, math.sqrt(2)),
    }
    a = defaults[act][0] if alpha is None else alpha
    g = defaults[act][1] if gain is None else gain
    v = np.array(x, dtype=np.float64)
    if b is not None:
        shape = [1] * v.ndim
        shape[dim] = -1
        v = v + np.asarray(b, dtype=np.float64).reshape(shape)
    sig = 1 / (1 + np.exp(-v))
    y = {
        'linear': v,
        'relu': np.maximum(v, 0),
        'lrelu': np.where(v > 0, v, a * v),
        'tanh': np.tanh(v),
        'sigmoid': sig,
        'elu': np.where(v > 0, v, a * (np.exp(v) - 1)),
        'selu': 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * (np.exp(v) - 1)),
        'softplus': np.log1p(np.exp(v)),
        'swish': v * sig,
    }[act] * g
    if clamp is not None:
        y = np.clip(y, -clamp, clamp)
    return y

def _inputs(shape=(2, 5, 3, 4), dim=1, dtype=torch.float64, device='cpu', seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2
    b = torch.randn([shape[dim]], generator=gen, dtype=torch.float64)
    return x.to(dtype=dtype, device=device), b.to(dtype=dtype, device=device)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('act', ACTS)
@pytest.mark.parametrize('clamp', [None, 0.8])
def test_ref_matches_numpy(act, clamp):
    x, b = _inputs()
    y = bias_act.bias_act(x, b, act=act, clamp=clamp, impl='ref')
    assert y.shape == x.shape and y.dtype == x.dtype
    assert np.abs(y.numpy() - slow_bias_act(x.numpy(), b.numpy(), 1, act, clamp=clamp)).max() < 1e-10

def test_dim_alpha_gain_and_no_bias():
    x, b = _inputs(shape=(3, 4, 7), dim=2)
    y = bias_act.bias_act(x, b, dim=2, act='lrelu', alpha=0.1, gain=0.5, impl='ref')
    assert np.abs(y.numpy() - slow_bias_act(x.numpy(), b.numpy(), 2, 'lrelu', alpha=0.1, gain=0.5)).max() < 1e-10
    y = bias_act.bias_act(x, None, act='elu', alpha=0.5, impl='cuda') # CPU tensor: 'cuda' means 'ref'
    assert np.abs(y.numpy() - slow_bias_act(x.numpy(), None, 0, 'elu', alpha=0.5)).max() < 1e-10

def test_rejects_bad_arguments():
    x, b = _inputs()
    with pytest.raises(AssertionError):
        bias_act.bias_act(x, b[:-1])
    with pytest.raises(AssertionError):
        bias_act.bias_act(x, b, act='gelu')
    with pytest.raises(AssertionError):
        bias_act.bias_act(x, b, impl='triton')

#----------------------------------------------------------------------------
# Derivatives: the reference path, and the CUDA autograd plumbing driven by the kernel's torch twin.

@pytest.mark.parametrize('act', ACTS)
def test_gradcheck_ref(act):
    x, b = _inputs(shape=(2, 3, 2, 3))
    x.requires_grad_(True)
    b.requires_grad_(True)
    fn = lambda x, b: bias_act.bias_act(x, b, act=act, clamp=1.5, impl='ref')
    assert torch.autograd.gradcheck(fn, [x, b])
    assert torch.autograd.gradgradcheck(fn, [x, b])

@pytest.mark.parametrize('clamp', [100.0, 1.5]) # never binds (left out of the graph on CPU) / binds somewhere
def test_ref_clamp_derivatives_equal_an_explicit_clamp(clamp):
    x, b = _inputs(shape=(2, 3, 4, 4), dtype=torch.float32)
    bound = (bias_act.bias_act(x, b, act='lrelu', impl='ref').abs() > clamp).any().item()
    assert bound == (clamp == 1.5)
    results = []
    for fn in (lambda x, b: bias_act.bias_act(x, b, act='lrelu', clamp=clamp, impl='ref'),
               lambda x, b: (F.leaky_relu(x + b.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)).clamp(-clamp, clamp)):
        xg, bg = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        y = fn(xg, bg)
        dx, db = torch.autograd.grad((y * y).sum(), [xg, bg], create_graph=True)
        ddx, ddb = torch.autograd.grad((dx * dx).sum() + (db * db).sum(), [xg, bg])
        results.append([y, dx, db, ddx, ddb])
        graph_clamps = 'Clamp' in y.grad_fn.name()
        assert graph_clamps == (bound or len(results) == 2) # the reference path keeps the clamp only where it binds
    for ours, explicit in zip(*results):
        assert torch.equal(ours, explicit) # the same bits, whether the clamp was left out or not

def _twin(act, clamp=-1.0):
    spec = bias_act.activation_funcs[act]
    return bias_act._bias_act_autograd(bias_act._kernel_torch, dim=1, act=act, alpha=float(spec['def_alpha']),
                                       gain=float(spec['def_gain']), clamp=clamp)

@pytest.mark.parametrize('act', ACTS)
def test_kernel_autograd_matches_ref(act):
    x, b = _inputs(shape=(2, 3, 2, 3), seed=1)
    x.requires_grad_(True)
    b.requires_grad_(True)
    fn = _twin(act, clamp=1.5)
    assert torch.autograd.gradcheck(fn, [x, b])
    assert torch.autograd.gradgradcheck(fn, [x, b])

    # First and second derivatives equal those of the reference path.
    def derivatives(f):
        y = f(x, b)
        dy = torch.cos(torch.arange(y.numel(), dtype=y.dtype)).reshape(y.shape)
        dx, db = torch.autograd.grad(y, [x, b], dy, create_graph=True)
        loss = dx.square().sum() + db.sin().sum() + 0 * x.sum() # the last term keeps linear acts connected
        ddx, ddb = torch.autograd.grad(loss, [x, b], allow_unused=True, materialize_grads=True)
        return [y, dx, db, ddx, ddb]
    ref = derivatives(lambda x, b: bias_act.bias_act(x, b, act=act, clamp=1.5, impl='ref'))
    for a, r in zip(derivatives(fn), ref):
        assert (a - r).abs().max() < 1e-10

def test_kernel_autograd_third_derivative_raises():
    x, b = _inputs(shape=(2, 3), seed=2)
    x.requires_grad_(True)
    y = _twin('tanh')(x, b)
    dx, = torch.autograd.grad(y.sum(), [x], create_graph=True)
    ddx, = torch.autograd.grad(dx.sum(), [x], create_graph=True)
    with pytest.raises(NotImplementedError, match='third derivatives'):
        torch.autograd.grad(ddx.sum(), [x])

#----------------------------------------------------------------------------
# CUDA kernel against 'ref' (float32 reference for float16 inputs: the half-precision reference
# rounds after every op, the kernel once).

@needs_cuda
@pytest.mark.parametrize('act', ACTS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
@pytest.mark.parametrize('clamp', [None, 1.0])
def test_cuda_matches_ref(act, dtype, clamp):
    assert bias_act._plugin() is not None, 'CUDA kernel failed to build'
    x, b = _inputs(shape=(4, 19, 9, 7), dtype=dtype, device='cuda', seed=3)
    dy = torch.cos(torch.arange(x.numel(), device='cuda', dtype=torch.float32)).reshape(x.shape).to(dtype)

    def derivatives(impl, dtype):
        xx = x.to(dtype).requires_grad_(True)
        bb = b.to(dtype).requires_grad_(True)
        y = bias_act.bias_act(xx, bb, act=act, clamp=clamp, impl=impl)
        dx, db = torch.autograd.grad(y, [xx, bb], dy.to(dtype), create_graph=True)
        loss = (dx.float() * dy.float()).sum() + 0 * xx.sum() # the last term keeps linear acts connected
        ddx, = torch.autograd.grad(loss, [xx])
        return [t.float() for t in [y, dx, db, ddx]]
    for name, a, r in zip(['y', 'dx', 'db', 'ddx'], derivatives('cuda', dtype), derivatives('ref', torch.float32)):
        scale = r.abs().max().clamp(min=1e-3)
        assert (a - r).abs().max() <= 1e-3 * scale, name

#----------------------------------------------------------------------------
