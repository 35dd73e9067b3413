"""generate.py --export: TorchScript (and ONNX when installed) files match PyTorch within 1e-4 on CPU; fp16 networks
generate on CPU in fp32."""

import copy
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest
import torch

import generate
from nas.backbones import conventional
from torch_utils import checkpoint
from training import networks_stylegan2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_ONNX = importlib.util.find_spec('onnx') is not None and importlib.util.find_spec('onnxruntime') is not None

#----------------------------------------------------------------------------
# Tiny generators with non-trivial weights (w_avg and noise strengths set, so truncation and noise matter).

def stylegan2_G(c_dim=0, num_fp16_res=0):
    torch.manual_seed(1)
    G = networks_stylegan2.Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=num_fp16_res))
    with torch.no_grad():
        for name, tensor in list(G.named_parameters()) + list(G.named_buffers()):
            if name.endswith('noise_strength') or 'w_avg' in name:
                tensor.copy_(torch.randn_like(tensor) * 0.3)
    return G.eval()

def conventional_G(c_dim=0):
    torch.manual_seed(2)
    with open(os.path.join(ROOT, 'nas', 'genotypes', 'alphagan_l_cifar10.json')) as f:
        genotype = json.load(f)
    return conventional.Generator(genotype, z_dim=8, c_dim=c_dim, img_resolution=16, g_channels=8).eval()

def reference_images(G, z, c, truncation_psi, noise_mode='const'):
    with torch.no_grad():
        return G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)

def seeds_z(G, seeds):
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(G.z_dim) for s in seeds])).float()

def run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('make_G,c_dim', [(stylegan2_G, 0), (stylegan2_G, 4), (conventional_G, 0), (conventional_G, 4)])
def test_torchscript_export_matches_pytorch(tmp_path, make_G, c_dim):
    G = make_G(c_dim) if c_dim else make_G()
    path = str(tmp_path / 'G.pt')
    diff = generate.export_generator(copy.deepcopy(G), 'torchscript', path, batch_size=3, truncation_psi=0.7)
    assert diff <= 1e-4
    exported = torch.jit.load(path)
    z = seeds_z(G, [5, 6, 7])
    c = torch.eye(4)[[0, 3, 1]] if c_dim else None
    expected = reference_images(G, z, c if c_dim else torch.zeros([3, 0]), 0.7)
    got = exported(z, c) if c_dim else exported(z)
    assert got.shape == (3, 3, 16, 16)
    assert (got - expected).abs().max() <= 1e-4
    if make_G is stylegan2_G: # truncation is baked in: psi 1 gives other images
        assert (reference_images(G, z, c if c_dim else torch.zeros([3, 0]), 1) - got).abs().max() > 1e-2

@pytest.mark.parametrize('make_G', [stylegan2_G, conventional_G])
def test_torchscript_dynamic_batch_is_checked(tmp_path, make_G):
    G = make_G()
    path = str(tmp_path / 'G.pt')
    assert generate.export_generator(G, 'torchscript', path, batch_size=2, dynamic_batch=True) <= 1e-4
    z = seeds_z(G, range(5))
    assert (torch.jit.load(path)(z) - reference_images(G, z, torch.zeros([5, 0]), 1)).abs().max() <= 1e-4

class BakedBatchG(torch.nn.Module):
    """Traces with its batch size baked in: int() turns the traced size into a constant."""
    z_dim, c_dim = 4, 0

    def forward(self, z, c, **kwargs):
        return z.reshape(int(z.shape[0]), 1, 2, 2).repeat(1, 3, 1, 1)

def test_failed_check_leaves_no_file(tmp_path):
    path = tmp_path / 'G.pt'
    with pytest.raises(generate.UserError, match=r'fails on a batch of 3 \(RuntimeError\); export with a fixed --export-batch'):
        generate.export_generator(BakedBatchG(), 'torchscript', str(path), batch_size=2, dynamic_batch=True)
    assert not path.exists()
    assert generate.export_generator(BakedBatchG(), 'torchscript', str(path), batch_size=2) == 0 # fixed batch is fine
    with pytest.raises(generate.UserError, match=r'differs from PyTorch by 0 \(> -1\) on a batch of 2$'):
        generate.export_generator(BakedBatchG(), 'torchscript', str(path), batch_size=2, atol=-1)
    assert not path.exists()

def test_cli_export_from_snapshot(tmp_path):
    G = stylegan2_G()
    snapshot = str(tmp_path / 'network-snapshot-000000.safetensors')
    checkpoint.save_safe(snapshot, dict(G_ema=G))
    out = str(tmp_path / 'exported' / 'G.pt')
    res = run('generate.py', f'--network={snapshot}', '--export=torchscript', f'--export-path={out}',
              '--export-batch=2', '--trunc=0.5')
    assert res.returncode == 0, res.stderr
    assert 'Exported G_ema to' in res.stdout
    z = seeds_z(G, [0, 1])
    assert (torch.jit.load(out)(z) - reference_images(G, z, torch.zeros([2, 0]), 0.5)).abs().max() <= 1e-4

def test_cli_export_bad_options(tmp_path):
    snapshot = str(tmp_path / 'G.safetensors')
    checkpoint.save_safe(snapshot, dict(G_ema=conventional_G()))
    for args, fragment in [(['--export=torchscript'], '--export-path'),
                           (['--export=torchscript', f'--export-path={tmp_path / "a.pt"}', '--noise-mode=random'], '--noise-mode'),
                           ([], '--outdir')]:
        res = run('generate.py', f'--network={snapshot}', *args)
        assert res.returncode == 2 and res.stderr.startswith('Error: ') and fragment in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1

@pytest.mark.skipif(HAVE_ONNX, reason='onnx is installed')
def test_onnx_without_package_says_what_to_install(tmp_path):
    snapshot = str(tmp_path / 'G.safetensors')
    checkpoint.save_safe(snapshot, dict(G_ema=conventional_G()))
    res = run('generate.py', f'--network={snapshot}', '--export=onnx', f'--export-path={tmp_path / "G.onnx"}')
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert 'pip install onnx onnxruntime' in res.stderr
    assert not (tmp_path / 'G.onnx').exists()

@pytest.mark.skipif(not HAVE_ONNX, reason='onnx and onnxruntime are not installed')
def test_onnx_export_matches_pytorch(tmp_path):
    G = stylegan2_G()
    path = str(tmp_path / 'G.onnx')
    assert generate.export_generator(G, 'onnx', path, batch_size=2, dynamic_batch=True, truncation_psi=0.7) <= 1e-4

#----------------------------------------------------------------------------
# Networks trained with fp16 layers (or stored in half precision) generate on CPU in fp32.

def test_fp16_network_generates_on_cpu_in_fp32(tmp_path):
    G16 = stylegan2_G(num_fp16_res=2)
    G32 = stylegan2_G(num_fp16_res=0)
    G32.load_state_dict(G16.state_dict())
    assert any(block.use_fp16 for block in [G16.synthesis.b8, G16.synthesis.b16])
    snapshot = str(tmp_path / 'half.safetensors')
    checkpoint.save_safe(snapshot, dict(G_ema=copy.deepcopy(G16).half())) # weights stored in fp16 too
    G = generate.load_generator(snapshot, torch.device('cpu'))
    assert all(p.dtype == torch.float32 for p in G.parameters())
    z = seeds_z(G, [0, 1])
    got = reference_images(G, z, torch.zeros([2, 0]), 1)
    expected = reference_images(G32.half().float(), z, torch.zeros([2, 0]), 1) # same fp16-rounded weights
    assert got.dtype == torch.float32 and (got - expected).abs().max() <= 1e-5
    res = run('generate.py', f'--network={snapshot}', '--seeds=0-1', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    img = np.asarray(PIL.Image.open(tmp_path / 'out' / 'seed0000.png'))
    ref = (got[0].permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1

#----------------------------------------------------------------------------
