"""Forward + backward time of the custom ops, 'ref' vs 'cuda', at the shapes of a 256x256 StyleGAN2 generator."""

import datetime
import time

import click
import torch

import dnnlib
from torch_utils.ops import bias_act
from torch_utils.ops import conv2d_resample
from torch_utils.ops import upfirdn2d

#----------------------------------------------------------------------------
# Channels per resolution of the 256x256 config: min(32768 / res, 512) (StyleGAN2-ADA, cbase 32768).

def channels_at(res):
    return min(32768 // res, 512)

#----------------------------------------------------------------------------
# Median milliseconds of one forward + backward pass, after warm-up.

def time_fwd_bwd(fn, x, iters, warmup=3):
    device = x.device
    def step():
        x.grad = None
        y = fn(x)
        y.backward(torch.ones_like(y))
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]

#----------------------------------------------------------------------------
# The cases: name, input shape, and the op as a function of (x, impl).

def make_cases(batch, resolutions, device, dtype):
    f = upfirdn2d.setup_filter([1, 3, 3, 1], device=device)
    cases = []
    for res in resolutions:
        c = channels_at(res)
        b = torch.zeros([c], device=device, dtype=dtype)
        cases.append((f'bias_act lrelu clamp=256 @{res}', [batch, c, res, res],
                      lambda x, impl, b=b: bias_act.bias_act(x, b, act='lrelu', clamp=256, impl=impl)))
        cases.append((f'upsample2d [1,3,3,1] {res // 2}->{res}', [batch, c, res // 2, res // 2],
                      lambda x, impl: upfirdn2d.upsample2d(x, f, impl=impl)))
        cases.append((f'downsample2d [1,3,3,1] {res}->{res // 2}', [batch, c, res, res],
                      lambda x, impl: upfirdn2d.downsample2d(x, f, impl=impl)))
        cin = channels_at(res // 2)
        w = torch.randn([c, cin, 3, 3], device=device, dtype=dtype) / (cin * 9) ** 0.5
        cases.append((f'conv2d_resample 3x3 up=2 {res // 2}->{res}', [batch, cin, res // 2, res // 2],
                      lambda x, impl, w=w: _conv_up(x, w, f, impl)))
    return cases

def _conv_up(x, w, f, impl):
    # conv2d_resample has no impl switch of its own: it passes the default to upfirdn2d.
    if impl == 'ref':
        saved = upfirdn2d._on_cuda
        upfirdn2d._on_cuda = lambda t: False
        try:
            return conv2d_resample.conv2d_resample(x, w, f, up=2, padding=1)
        finally:
            upfirdn2d._on_cuda = saved
    return conv2d_resample.conv2d_resample(x, w, f, up=2, padding=1)

#----------------------------------------------------------------------------

@click.command()
@click.option('--device',  help='Device to run on', metavar='STR', show_default=True,
              default='cuda' if torch.cuda.is_available() else 'cpu')
@click.option('--batch',   help='Batch size', metavar='INT', type=click.IntRange(min=1), default=16, show_default=True)
@click.option('--res',     'resolutions', help='Resolutions, e.g. 8,16,32', metavar='LIST',
              type=dnnlib.util.parse_int_list, default='8,16,32,64,128,256', show_default=True)
@click.option('--dtype',   help='Data type', type=click.Choice(['float32', 'float16']), default='float32',
              show_default=True)
@click.option('--iters',   help='Timed iterations per case (median reported)', metavar='INT',
              type=click.IntRange(min=1), default=20, show_default=True)
def main(device, batch, resolutions, dtype, iters):
    """Print per-op forward + backward milliseconds for impl='ref' and impl='cuda'."""
    device = torch.device(device)
    dtype = getattr(torch, dtype)
    torch.backends.cudnn.benchmark = True
    impls = ['ref', 'cuda'] if device.type == 'cuda' else ['ref']
    if device.type == 'cuda':
        assert bias_act._plugin() is not None and upfirdn2d._plugin() is not None, 'CUDA kernels failed to build'
        name = torch.cuda.get_device_name(device)
    else:
        name = f'CPU, {torch.get_num_threads()} threads'
    print(f'# {datetime.date.today()}  {name}  torch {torch.__version__}  batch {batch}  {dtype}  median of {iters}')
    print(f'| {"op @ resolution":<38} | ' + ' | '.join(f'{i + " ms":>9}' for i in impls) +
          (' | speed-up |' if len(impls) == 2 else ' |'))
    print('|' + '-' * 40 + '|' + '|'.join(['-' * 11] * len(impls)) + ('|----------|' if len(impls) == 2 else '|'))
    for label, shape, fn in make_cases(batch, resolutions, device, dtype):
        x = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
        ms = [time_fwd_bwd(lambda x: fn(x, impl), x, iters) for impl in impls]
        row = f'| {label:<38} | ' + ' | '.join(f'{m:9.3f}' for m in ms)
        print(row + (f' | {ms[0] / ms[1]:7.2f}x |' if len(ms) == 2 else ' |'), flush=True)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    dnnlib.util.cli_main(main)

#----------------------------------------------------------------------------
