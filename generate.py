"""Generate images from a trained network (a snapshot that train.py wrote, a safe .safetensors file, or a URL)."""

import contextlib
import importlib.util
import math
import os
import warnings

import click
import numpy as np
import torch

import dnnlib
from dnnlib.util import UserError, cli_main, INT_LIST
import nas.backbones # every backbone's networks, also under the names older snapshots use
from torch_utils.ops import conv2d_gradfix
from training.image_grid import save_image, save_image_grid
from training.projection import load_projected_w
from training.sampling import class_labels, load_generator, require_styles, seed_latents

#----------------------------------------------------------------------------
# Export: G_ema with truncation and noise mode fixed, as a file that runs without ganas (TorchScript or ONNX).
# Inputs z [N, z_dim] (and c [N, c_dim] for conditional networks); output images [N, C, H, W] in [-1, 1].

class _ExportedSampler(torch.nn.Module):
    def __init__(self, G, truncation_psi, noise_mode):
        super().__init__()
        self.G = G
        self.truncation_psi = truncation_psi
        self.noise_mode = noise_mode

    def forward(self, z, c=None):
        if c is None: # unconditional: c is not an input of the exported file
            c = torch.zeros([z.shape[0], 0], dtype=z.dtype, device=z.device)
        # Non-fused modulated convs: the fused path's grouped conv has the batch size as its group count,
        # which tracing would bake in. Generators without modulated convs ignore the keyword.
        return self.G(z, c, truncation_psi=self.truncation_psi, noise_mode=self.noise_mode, fused_modconv=False)

@contextlib.contextmanager
def _plain_convs():
    """Plain torch convolutions instead of conv2d_gradfix's autograd.Function, which an exported graph cannot hold."""
    enabled = conv2d_gradfix.enabled
    conv2d_gradfix.enabled = False
    try:
        yield
    finally:
        conv2d_gradfix.enabled = enabled

def _export_inputs(G, batch_size, seed):
    rnd = np.random.RandomState(seed)
    z = torch.from_numpy(rnd.randn(batch_size, G.z_dim)).float()
    if G.c_dim == 0:
        return (z,)
    c = torch.zeros([batch_size, G.c_dim])
    c[torch.arange(batch_size), torch.from_numpy(rnd.randint(0, G.c_dim, [batch_size]))] = 1
    return (z, c)

def _run_onnx(path, inputs):
    import onnxruntime # optional dependency, checked in export_generator()
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    feed = {arg.name: x.numpy() for arg, x in zip(session.get_inputs(), inputs)}
    return torch.from_numpy(session.run(None, feed)[0])

def export_generator(G, fmt, path, batch_size=1, dynamic_batch=False, truncation_psi=1, noise_mode='const',
                     atol=1e-4, seed=0):
    """Write G (float32, CPU) to `path` as 'torchscript' or 'onnx', then reload the file and check that its output
    matches PyTorch within `atol` on the export batch (and on batch_size + 1 with dynamic_batch).
    Returns the largest absolute difference seen."""
    assert fmt in ['torchscript', 'onnx']
    if fmt == 'onnx' and (importlib.util.find_spec('onnx') is None or importlib.util.find_spec('onnxruntime') is None):
        raise UserError('--export=onnx needs the onnx and onnxruntime packages, which ganas does not install: '
                        'pip install onnx onnxruntime')
    sampler = _ExportedSampler(G.eval().requires_grad_(False).float().cpu(), truncation_psi, noise_mode)
    inputs = _export_inputs(G, batch_size, seed)
    names = ['z', 'c'][:len(inputs)]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings(), _plain_convs():
        warnings.simplefilter('ignore') # tracer warnings about Python ints; the check below is what counts
        with dnnlib.util.atomic_write(path) as f:
            if fmt == 'torchscript':
                torch.jit.save(torch.jit.trace(sampler, inputs, check_trace=False), f)
            else:
                axes = {name: {0: 'batch'} for name in names + ['img']} if dynamic_batch else None
                torch.onnx.export(sampler, inputs, f, input_names=names, output_names=['img'], dynamic_axes=axes,
                                  dynamo=False)
        try:
            max_diff = _check_export(fmt, path, sampler, inputs, dynamic_batch, atol, seed)
        except UserError:
            os.remove(path) # never leave a file that does not reproduce the network
            raise
    return max_diff

def _check_export(fmt, path, sampler, inputs, dynamic_batch, atol, seed):
    exported = torch.jit.load(path, map_location='cpu') if fmt == 'torchscript' else None
    checks = [inputs] + ([_export_inputs(sampler.G, len(inputs[0]) + 1, seed + 1)] if dynamic_batch else [])
    max_diff = 0.0
    for xs in checks:
        try:
            got = exported(*xs) if exported is not None else _run_onnx(path, xs)
        except Exception as err: # a shape baked in by tracing fails only at run time
            raise UserError(f'--export: the exported file fails on a batch of {len(xs[0])} '
                            f'({type(err).__name__}); export with a fixed --export-batch') from err
        diff = float((got - sampler(*xs)).abs().max())
        if not diff <= atol:
            hint = '; export with a fixed --export-batch' if dynamic_batch else ''
            raise UserError(f'--export: the exported file differs from PyTorch by {diff:.3g} (> {atol:g}) '
                            f'on a batch of {len(xs[0])}{hint}')
        max_diff = max(max_diff, diff)
    return max_diff

#----------------------------------------------------------------------------

@click.command()
@click.option('--network', 'network',    help='Network snapshot (.pkl, .safetensors, or URL)', metavar='PATH', required=True)
@click.option('--seeds',                 help='Random seeds, e.g. 0-63,100', metavar='LIST', type=INT_LIST, default='0-7', show_default=True)
@click.option('--trunc', 'truncation_psi', help='Truncation psi', metavar='FLOAT', type=float, default=1, show_default=True)
@click.option('--class', 'class_idx',    help='Class label (conditional networks)', metavar='INT', type=click.IntRange(min=0))
@click.option('--noise-mode',            help='Noise mode', type=click.Choice(['const', 'random', 'none']), default='const', show_default=True)
@click.option('--outdir',                help='Where to save the output images (not needed with --export)', metavar='DIR')
@click.option('--grid',                  help='Write one grid.png instead of one file per seed', is_flag=True)
@click.option('--batch',                 help='Images generated at a time', metavar='INT', type=click.IntRange(min=1), default=16, show_default=True)
@click.option('--device',                help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
@click.option('--projected-w', '--projected_w', help='Generate from the ws of a projector.py .npz file instead of seeds', metavar='FILE')
@click.option('--allow-pickle',          help='Unpickle a foreign network pickle (runs its code: trusted files only)', is_flag=True)
@click.option('--export', 'export_fmt',  help='Write G_ema as a file instead of images', type=click.Choice(['torchscript', 'onnx']))
@click.option('--export-path',           help='Where to write the exported file', metavar='FILE')
@click.option('--export-batch',          help='Batch size of the exported file', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--export-dynamic',        help='Let the exported file take any batch size', is_flag=True)
def main(network, seeds, truncation_psi, class_idx, noise_mode, outdir, grid, batch, device, projected_w,
         allow_pickle, export_fmt, export_path, export_batch, export_dynamic):
    """Generate images using a trained network.

    \b
    Examples:
    python generate.py --network=runs/00000-fmnist32/network-snapshot-000100.pkl --seeds=0-63 --outdir=out --grid
    python generate.py --network=net.pkl --seeds=0,7,42 --trunc=0.7 --outdir=out
    python generate.py --network=net.pkl --trunc=0.7 --export=torchscript --export-path=G.pt
    python generate.py --network=net.pkl --projected-w=proj/projected_w.npz --outdir=out
    """
    if export_fmt is not None and projected_w is not None:
        raise click.UsageError('--projected-w: cannot be combined with --export')
    if export_fmt is not None:
        if export_path is None:
            raise click.UsageError('--export-path: required with --export')
        if noise_mode == 'random':
            raise click.UsageError('--noise-mode: random noise cannot be exported reproducibly; use const or none')
        G = load_generator(network, torch.device('cpu'), allow_pickle)
        diff = export_generator(G, export_fmt, export_path, batch_size=export_batch, dynamic_batch=export_dynamic,
                                truncation_psi=truncation_psi, noise_mode=noise_mode)
        print(f'Exported G_ema to {export_path} ({export_fmt}); largest difference from PyTorch: {diff:.3g}')
        return
    if outdir is None:
        raise click.UsageError('--outdir: required unless --export is given')
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    G = load_generator(network, device, allow_pickle)

    # Generate in batches: from the projected ws, or one latent per seed as StyleGAN2-ADA draws it.
    if projected_w is not None:
        require_styles(G, '--projected-w')
        ws = load_projected_w(projected_w, G, device) # also sets the projected noise maps, used by --noise-mode=const
        if truncation_psi != 1 or class_idx is not None:
            print('warning: --trunc and --class are ignored with --projected-w')
        names = [f'proj{idx:02d}.png' for idx in range(len(ws))]
    else:
        names = [f'seed{seed:04d}.png' for seed in seeds]
    os.makedirs(outdir, exist_ok=True)
    images = []
    with torch.no_grad():
        for start in range(0, len(names), batch):
            if projected_w is not None:
                img = G.synthesis(ws[start:start + batch], noise_mode=noise_mode)
            else:
                batch_seeds = seeds[start:start + batch]
                z = seed_latents(batch_seeds, G.z_dim, device)
                c = class_labels(G, class_idx, len(batch_seeds), device)
                img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
            images.append(img.float().cpu().numpy())
    images = np.concatenate(images)

    if grid:
        gw = math.ceil(math.sqrt(len(names)))
        path = os.path.join(outdir, 'grid.png')
        save_image_grid(images, path, grid_size=(gw, math.ceil(len(names) / gw)))
        print(f'Saved {len(names)} images as {path}')
        return
    for name, img in zip(names, images):
        save_image(img, os.path.join(outdir, name))
    print(f'Saved {len(names)} images to {outdir}')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
