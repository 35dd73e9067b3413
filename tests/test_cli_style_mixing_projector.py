"""style_mixing.py and projector.py (StyleGAN2-ADA's two other sampling tools) on tiny networks, and the round trip
projector.py -> generate.py --projected-w, which gives back proj.png exactly."""

import json
import os
import pickle
import sys

import numpy as np
import PIL.Image
import pytest
import torch

import projector
from cli_helpers import ROOT, assert_one_line_error, run_inprocess
from test_training_projection import DYNW, target_of, tiny_G
from nas.backbones import conventional
from torch_utils import checkpoint

def read(path):
    return np.asarray(PIL.Image.open(path))

def write_network(path, G):
    if str(path).endswith('.pkl'):
        with open(path, 'wb') as f:
            pickle.dump(dict(G_ema=G), f) # no safe twin: loads through the safe unpickler
    else:
        checkpoint.save_safe(str(path), dict(G_ema=G))
    return str(path)

#----------------------------------------------------------------------------

def test_style_mixing_writes_the_grid_and_its_cells(tmp_path, capsys):
    network = write_network(tmp_path / 'net.safetensors', tiny_G(DYNW))
    res = run_inprocess(capsys, 'style_mixing.py', f'--network={network}', '--rows=1-2', '--cols=3,4,5',
                        f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert 'styles [0, 1, 2, 3, 4, 5]' in res.stdout # default 0-6, capped at the 6 ws of a 16x16 network
    grid = read(tmp_path / 'out' / 'grid.png')
    assert grid.shape == (3 * 16, 4 * 16, 3)
    assert (grid[:16, :16] == 0).all() # blank corner
    cell = read(tmp_path / 'out' / '2-4.png') # row seed 2 (grid row 2), column seed 4 (grid column 2)
    assert np.array_equal(grid[32:48, 32:48], cell)
    assert np.array_equal(cell, grid[:16, 32:48]) # every slot from the column seed: the column image

def test_projection_regenerates_exactly_with_generate(tmp_path, capsys):
    G = tiny_G(DYNW)
    network = write_network(tmp_path / 'net.pkl', G)
    target = target_of(G, 5).permute(1, 2, 0).numpy().astype(np.uint8)
    PIL.Image.fromarray(np.pad(target, [(4, 4), (0, 0), (0, 0)])).resize((32, 48)).save(tmp_path / 'target.png')
    out = tmp_path / 'proj'
    res = run_inprocess(capsys, 'projector.py', f'--network={network}', f'--target={tmp_path / "target.png"}',
                        '--loss=mse', '--num-steps=20', f'--outdir={out}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert read(out / 'target.png').shape == (16, 16, 3) # centre-cropped, resized
    assert read(out / 'progress.png').shape == (16, 9 * 16, 3)
    assert np.array_equal(read(out / 'progress.png')[:, 8 * 16:], read(out / 'proj.png'))
    # proj.png is the synthesis from the saved w with the saved noise maps (which matter: noise strength 0.3).
    with np.load(out / 'projected_w.npz') as data:
        ws = torch.from_numpy(data['w'])
        noise = {key[len('noise.'):]: torch.from_numpy(data[key]) for key in data.files if key.startswith('noise.')}
    assert ws.shape == (1, 6, 8) and len(noise) == 5
    with torch.no_grad():
        original_noise = G.synthesis(ws, noise_mode='const')[0]
        for name, buf in G.synthesis.named_buffers():
            buf.copy_(noise.get(name, buf))
        expected = G.synthesis(ws, noise_mode='const')[0]
    to_png = lambda img: (img.permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    assert np.abs(read(out / 'proj.png').astype(int) - to_png(expected).astype(int)).max() <= 1
    assert np.abs(read(out / 'proj.png').astype(int) - to_png(original_noise).astype(int)).max() > 10

    res = run_inprocess(capsys, 'generate.py', f'--network={network}', f'--projected-w={out / "projected_w.npz"}',
                        f'--outdir={tmp_path / "gen"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert np.array_equal(read(tmp_path / 'gen' / 'proj00.png'), read(out / 'proj.png'))

def test_lpips_file_is_called_with_images_in_0_255(tmp_path, capsys):
    """A stand-in vgg16.pt whose LPIPS features are pixel_features() must give the --loss=mse projection."""
    class PixelVGG(torch.nn.Module):
        def forward(self, img: torch.Tensor, resize_images: bool = True, return_lpips: bool = False):
            assert not resize_images and return_lpips
            x = img / 127.5 - 1
            return x.flatten(1) / float(x[0].numel()) ** 0.5
    torch.jit.save(torch.jit.script(PixelVGG()), str(tmp_path / 'vgg16.pt'))
    G = tiny_G()
    network = write_network(tmp_path / 'net.safetensors', G)
    PIL.Image.fromarray(target_of(G, 7).permute(1, 2, 0).numpy().astype(np.uint8)).save(tmp_path / 'target.png')
    ws = []
    for loss in [['--loss=mse'], [f'--vgg={tmp_path / "vgg16.pt"}']]:
        out = tmp_path / loss[0][2:6]
        res = run_inprocess(capsys, 'projector.py', f'--network={network}', f'--target={tmp_path / "target.png"}',
                            '--num-steps=5', f'--outdir={out}', '--device=cpu', *loss)
        assert res.returncode == 0, res.stderr
        with np.load(out / 'projected_w.npz') as data:
            ws.append(data['w'])
    assert np.allclose(ws[0], ws[1], atol=1e-5)

#----------------------------------------------------------------------------

def test_bad_input_is_one_line(tmp_path, capsys):
    network = write_network(tmp_path / 'net.safetensors', tiny_G())
    with open(os.path.join(ROOT, 'nas', 'genotypes', 'alphagan_s_cifar10.json')) as f:
        genotype = json.load(f)
    conv_network = write_network(tmp_path / 'conv.safetensors',
                                 conventional.Generator(genotype, z_dim=8, img_resolution=16, g_channels=8))
    (tmp_path / 'notes.png').write_text('not an image')
    (tmp_path / 'vgg.pt').write_bytes(b'not torchscript')
    class Features(torch.nn.Module):
        def forward(self, img: torch.Tensor, return_features: bool = False):
            return img.flatten(1)
    torch.jit.save(torch.jit.script(Features()), str(tmp_path / 'features.pt'))
    target = tmp_path / 'target.png'
    PIL.Image.fromarray(np.zeros([16, 16, 3], dtype=np.uint8)).save(target)
    cases = [
        (['style_mixing.py', f'--network={network}', '--rows=1', '--cols=2', '--styles=0,9'],
         '--styles: 9 is out of range; this network has 6 ws (0-5)'),
        (['style_mixing.py', f'--network={conv_network}', '--rows=1', '--cols=2'],
         '--network: style mixing needs a StyleGAN2 generator', '(nas.backbones.conventional.Generator) has no W space'),
        (['projector.py', f'--network={conv_network}', f'--target={target}'], '--network: projection needs a StyleGAN2'),
        (['projector.py', f'--network={network}', f'--target={tmp_path / "missing.png"}'], '--target: cannot read',
         'missing.png as an image (FileNotFoundError)'),
        (['projector.py', f'--network={network}', f'--target={tmp_path / "notes.png"}'], '--target: cannot read',
         'notes.png as an image (UnidentifiedImageError)'),
        (['projector.py', f'--network={network}', f'--target={target}', f'--vgg={tmp_path / "vgg.pt"}'],
         '--vgg: ', 'vgg.pt is not a TorchScript file'),
        (['projector.py', f'--network={network}', f'--target={target}', f'--vgg={tmp_path / "features.pt"}'],
         '--vgg: ', 'features.pt has no LPIPS output'),
        (['projector.py', f'--network={network}', f'--target={target}', f'--vgg={tmp_path / "none.pt"}'],
         '--vgg: ', 'none.pt: no such file; without it, --loss=mse needs no download'),
        (['projector.py', f'--network={network}', f'--target={target}', '--loss=mse', '--vgg=x.pt'],
         '--vgg: only used with --loss=lpips'),
        (['generate.py', f'--network={network}', f'--projected-w={target}'], '--projected-w: cannot read'),
    ]
    for argv, *fragments in cases:
        res = run_inprocess(capsys, argv[0], *argv[1:], f'--outdir={tmp_path / "out"}', '--device=cpu')
        assert_one_line_error(res, *fragments)
    assert not (tmp_path / 'out').exists() # nothing written before the input was checked

#----------------------------------------------------------------------------

def test_projection_video_or_one_line_without_imageio_ffmpeg(tmp_path, capsys, monkeypatch):
    G = tiny_G(DYNW)
    network = write_network(tmp_path / 'net.pkl', G)
    PIL.Image.fromarray(target_of(G, 5).permute(1, 2, 0).numpy().astype(np.uint8)).save(tmp_path / 'target.png')
    args = ['projector.py', f'--network={network}', f'--target={tmp_path / "target.png"}', '--loss=mse',
            '--num-steps=12', '--device=cpu']
    res = run_inprocess(capsys, *args, f'--outdir={tmp_path / "off"}', '--save-video=false')
    assert res.returncode == 0 and 'proj.mp4' not in res.stdout and not (tmp_path / 'off' / 'proj.mp4').exists()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, 'imageio_ffmpeg', None) # as if not installed
        res = run_inprocess(capsys, *args, f'--outdir={tmp_path / "none"}')
    assert res.returncode == 0 and res.stdout.splitlines()[-1] == projector.VIDEO_MISSING
    assert os.path.isfile(tmp_path / 'none' / 'proj.png') and not (tmp_path / 'none' / 'proj.mp4').exists()

    imageio_ffmpeg = pytest.importorskip('imageio_ffmpeg')
    res = run_inprocess(capsys, *args, f'--outdir={tmp_path / "video"}', '--save-video=1')
    assert res.returncode == 0, res.stderr
    reader = imageio_ffmpeg.read_frames(str(tmp_path / 'video' / 'proj.mp4'))
    meta = next(reader)
    frames = [np.frombuffer(frame, np.uint8).reshape(16, 32, 3) for frame in reader]
    assert meta['size'] == (32, 16) and meta['fps'] == 10 and len(frames) == 12 # one frame per step, target beside
    luma = lambda img: img.astype(float) @ [0.299, 0.587, 0.114] # H.264 keeps luma at full resolution, chroma at half
    error = lambda a, b: np.abs(luma(a) - luma(b)).mean()
    target, proj = read(tmp_path / 'video' / 'target.png'), read(tmp_path / 'video' / 'proj.png')
    assert error(frames[-1][:, :16], target) < 5 and error(frames[-1][:, 16:], proj) < 5 < error(target, proj)
