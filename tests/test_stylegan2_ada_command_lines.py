"""Every command line of StyleGAN2-ADA's README and of its tools' --help texts runs unchanged with ganas's CLIs.

The commands below are copied verbatim from stylegan2-ada-pytorch's README.md and the examples in the --help texts of
its train.py, generate.py, style_mixing.py, projector.py, calc_metrics.py and dataset_tool.py. Only the paths are
moved: `~` and `/tmp` become a temporary home holding tiny data made here, and every URL is served from the download
cache (GANAS_CACHE), where small pickles in StyleGAN2-ADA's snapshot format stand in for NVIDIA's networks (the two
configurations of its exact tensor layout, and for the projector's 1000 steps a 16x16 one; for legacy.py a pickle
in the format of StyleGAN2's TensorFlow code), so nothing downloads. Training commands run with --dry-run, or up to the
training loop."""

import importlib
import importlib.util
import json
import os
import shlex
import shutil
import zipfile

import click
import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from cli_helpers import run_inprocess
from metrics import detectors, metric_main
from test_cli_dataset_tool import make_lmdb
from test_training_stylegan2_ada_import import layout_snapshot, randomize, write_stylegan2_ada_pickle
from test_training_stylegan2_ada_import_tensorflow import tensorflow_pickle
from torch_utils import persistence
from training import augment, networks_stylegan2
from test_training_data_sources import make_cifar_tarball, pattern

PRETRAINED = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained'

GENERATE = f'''
python generate.py --outdir=out --trunc=1 --seeds=85,265,297,849 \\
    --network={PRETRAINED}/metfaces.pkl
python generate.py --outdir=out --trunc=0.7 --seeds=600-605 \\
    --network={PRETRAINED}/metfaces.pkl
python generate.py --outdir=out --seeds=0-35 --class=1 \\
    --network={PRETRAINED}/cifar10.pkl
python style_mixing.py --outdir=out --rows=85,100,75,458,1500 --cols=55,821,1789,293 \\
    --network={PRETRAINED}/metfaces.pkl
python projector.py --outdir=out --target=~/mytargetimg.png \\
    --network={PRETRAINED}/ffhq.pkl
python generate.py --outdir=out --projected_w=out/projected_w.npz \\
    --network={PRETRAINED}/ffhq.pkl
'''

LEGACY = '''
python legacy.py \\
    --source=https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-cat-config-f.pkl \\
    --dest=stylegan2-cat-config-f.pkl
'''

DATASET_TOOL = '''
python dataset_tool.py --source=/tmp/ffhq-unpacked --dest=~/datasets/ffhq.zip
python dataset_tool.py --source=/tmp/ffhq-unpacked --dest=~/datasets/ffhq256x256.zip \\
    --width=256 --height=256 --resize-filter=box
python dataset_tool.py --source=~/downloads/metfaces/images --dest=~/datasets/metfaces.zip
python dataset_tool.py --source=~/downloads/afhq/train/cat --dest=~/datasets/afhqcat.zip
python dataset_tool.py --source=~/downloads/afhq/train/dog --dest=~/datasets/afhqdog.zip
python dataset_tool.py --source=~/downloads/afhq/train/wild --dest=~/datasets/afhqwild.zip
python dataset_tool.py --source=~/downloads/cifar-10-python.tar.gz --dest=~/datasets/cifar10.zip
python dataset_tool.py extract_brecahad_crops --cropsize=512 \\
    --output_dir=/tmp/brecahad-crops --brecahad_dir=~/downloads/brecahad/images
python dataset_tool.py --source=/tmp/brecahad-crops --dest=~/datasets/brecahad.zip
'''

DATASET_TOOL_LSUN = '''
python dataset_tool.py --source=~/downloads/lsun/raw/cat_lmdb --dest=~/datasets/lsuncat200k.zip \\
    --transform=center-crop --width=256 --height=256 --max_images=200000
python dataset_tool.py --source=~/downloads/lsun/raw/car_lmdb --dest=~/datasets/lsuncar200k.zip \\
    --transform=center-crop-wide --width=512 --height=384 --max_images=200000
python dataset_tool.py --source LSUN/raw/cat_lmdb --dest /tmp/lsun_cat \\
    --transform=center-crop-wide --width 512 --height=384
'''

TRAIN = '''
python train.py --outdir=~/training-runs --data=~/mydataset.zip --gpus=1 --dry-run
python train.py --outdir=~/training-runs --data=~/mydataset.zip --gpus=1
python train.py --outdir=~/training-runs --data=~/datasets/metfaces.zip \\
    --gpus=4 --cfg=paper1024 --mirror=1 --resume=ffhq1024 --snap=10
python train.py --outdir=~/training-runs --data=~/datasets/ffhq.zip \\
    --gpus=8 --cfg=stylegan2 --mirror=1 --aug=noaug
'''

TRAIN_CIFAR = '''
python train.py --outdir=~/training-runs --data=~/datasets/cifar10.zip \\
    --gpus=2 --cfg=cifar --cond=1
'''

CALC_METRICS = f'''
python calc_metrics.py --metrics=pr50k3_full \\
    --network=~/training-runs/00000-ffhq10k-res64-auto1/network-snapshot-000000.pkl
python calc_metrics.py --metrics=fid50k_full --data=~/datasets/ffhq.zip --mirror=1 \\
    --network={PRETRAINED}/ffhq.pkl
'''

def commands(text, home):
    """(script, args) of each command, its paths moved into `home`."""
    for line in text.replace('\\\n', ' ').strip().splitlines():
        words = shlex.split(line.replace('/tmp/', '~/tmp/').replace('~', str(home)))
        assert words[0] == 'python'
        yield words[1], words[2:]

def run_command(capsys, script, args):
    res = run_inprocess(capsys, script, *args)
    assert res.returncode == 0, f'{script} {" ".join(args)}: {res.stderr}'
    return res

#----------------------------------------------------------------------------
# The temporary home: image folders, a CIFAR-10 tarball, the pickles behind the URLs, a stand-in vgg16.pt.

class PixelVGG(torch.nn.Module):
    """A stand-in for NVIDIA's vgg16.pt: pixels as features, for LPIPS and for precision/recall."""
    def forward(self, img: torch.Tensor, return_features: bool = False, resize_images: bool = True,
                return_lpips: bool = False):
        x = torch.nn.functional.adaptive_avg_pool2d(img / 127.5 - 1, 4)
        return x.flatten(1) / float(x[0].numel()) ** 0.5

def image_folder(path, count, width, height, seed=0):
    os.makedirs(path, exist_ok=True)
    for i, img in enumerate(pattern(count, height, width, 3, seed=seed)):
        PIL.Image.fromarray(img).save(os.path.join(path, f'img{i:02d}.png'))

def serve(url, snapshot):
    """Put a pickle where open_url finds the download of `url`."""
    path = dnnlib.util.cached_download_path(url)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return write_stylegan2_ada_pickle(path, snapshot)

def small_snapshot():
    """A StyleGAN2-ADA snapshot of 16x16 networks with 8 channels, cheap enough for projector.py's 1000 steps."""
    torch.manual_seed(5)
    G = networks_stylegan2.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
        mapping_kwargs=dnnlib.EasyDict(num_layers=2),
        synthesis_kwargs=dnnlib.EasyDict(channel_base=64, channel_max=8, num_fp16_res=0, conv_clamp=None))
    D = networks_stylegan2.Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=64, channel_max=8)
    return dict(G=randomize(G), D=randomize(D), G_ema=randomize(G).eval(), augment_pipe=augment.AugmentPipe(),
                training_set_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path='ffhq.zip'))

@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False) # the same on a machine with GPUs
    monkeypatch.chdir(tmp_path)
    return tmp_path

@pytest.fixture
def networks(home):
    serve(f'{PRETRAINED}/metfaces.pkl', layout_snapshot('paper256-like'))
    serve(f'{PRETRAINED}/ffhq.pkl', small_snapshot())
    serve(f'{PRETRAINED}/cifar10.pkl', layout_snapshot('cifar'))
    vgg = dnnlib.util.cached_download_path(detectors.VGG16_URL)
    torch.jit.save(torch.jit.script(PixelVGG()), vgg)
    PIL.Image.fromarray(pattern(1, 30, 40, 3)[0]).save(home / 'mytargetimg.png')
    return home

#----------------------------------------------------------------------------

def test_readme_sampling_commands(networks, capsys):
    out = networks / 'out'
    done = [run_command(capsys, script, args) for script, args in commands(GENERATE, networks)]
    assert len(done) == 6
    names = sorted(os.listdir(out))
    for seed in [85, 265, 297, 849] + list(range(600, 606)) + list(range(36)):
        assert f'seed{seed:04d}.png' in names
    grid = np.asarray(PIL.Image.open(out / 'grid.png'))
    assert grid.shape == (6 * 32, 5 * 32, 3) and '1500-293.png' in names # 5 rows and 4 columns below a header
    for name in ['target.png', 'proj.png', 'projected_w.npz', 'proj00.png']:
        assert name in names
    assert ('proj.mp4' in names) == (importlib.util.find_spec('imageio_ffmpeg') is not None) # --save-video: default true
    with np.load(out / 'projected_w.npz') as data:
        assert data['w'].shape == (1, 6, 8)
    assert np.array_equal(np.asarray(PIL.Image.open(out / 'proj00.png')), np.asarray(PIL.Image.open(out / 'proj.png')))

def test_readme_legacy_command(home, capsys, monkeypatch):
    tf_path, _theirs, _torch_path = tensorflow_pickle(home, monkeypatch, 'paper256-like', name='tf-cat.pkl')
    url = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-cat-config-f.pkl'
    os.makedirs(os.path.dirname(dnnlib.util.cached_download_path(url)), exist_ok=True)
    shutil.copyfile(tf_path, dnnlib.util.cached_download_path(url))
    [(script, args)] = commands(LEGACY, home)
    run_command(capsys, script, args)
    converted = persistence.load_pickle(home / 'stylegan2-cat-config-f.pkl') # ganas's own: no foreign code
    assert sorted(converted) == ['D', 'G', 'G_ema'] and (home / 'stylegan2-cat-config-f.safetensors').is_file()
    run_command(capsys, 'generate.py', ['--outdir=out', '--seeds=1', '--network=stylegan2-cat-config-f.pkl'])
    assert np.asarray(PIL.Image.open(home / 'out' / 'seed0001.png')).shape == (32, 32, 3)

def dataset_shape(path):
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if n.endswith('.png'))
        labels = json.loads(z.read('dataset.json'))['labels']
        with z.open(names[0]) as f:
            size = PIL.Image.open(f).size
    return len(names), size, labels is not None

def test_readme_dataset_tool_commands(home, capsys):
    image_folder(home / 'tmp' / 'ffhq-unpacked' / '00000', 5, 16, 16)
    image_folder(home / 'downloads' / 'metfaces' / 'images', 3, 32, 32)
    for i, animal in enumerate(['cat', 'dog', 'wild']):
        image_folder(home / 'downloads' / 'afhq' / 'train' / animal, 2, 16, 16, seed=i)
    make_cifar_tarball(home / 'downloads' / 'cifar-10-python.tar.gz')
    os.makedirs(home / 'downloads' / 'brecahad' / 'images')
    PIL.Image.fromarray(pattern(1, 512, 768, 3)[0]).save(home / 'downloads' / 'brecahad' / 'images' / 'Case_1-01.tif')
    for script, args in commands(DATASET_TOOL, home):
        run_command(capsys, script, args)
    datasets = home / 'datasets'
    assert dataset_shape(datasets / 'ffhq.zip') == (5, (16, 16), False)
    assert dataset_shape(datasets / 'ffhq256x256.zip') == (5, (256, 256), False)
    assert dataset_shape(datasets / 'metfaces.zip') == (3, (32, 32), False)
    assert dataset_shape(datasets / 'afhqwild.zip') == (2, (16, 16), False)
    assert dataset_shape(datasets / 'cifar10.zip') == (15, (32, 32), True)
    assert dataset_shape(datasets / 'brecahad.zip') == (2, (512, 512), False) # 512 px crops, 256 apart

def test_readme_dataset_tool_lsun_commands(home, capsys):
    pytest.importorskip('lmdb')
    for category, (h, w) in [('cat', (24, 32)), ('car', (40, 48))]:
        os.makedirs(home / 'downloads' / 'lsun' / 'raw', exist_ok=True)
        make_lmdb(home / 'downloads' / 'lsun' / 'raw' / f'{category}_lmdb', pattern(3, h, w, 3))
    os.makedirs(home / 'LSUN' / 'raw', exist_ok=True)
    make_lmdb(home / 'LSUN' / 'raw' / 'cat_lmdb', pattern(2, 24, 32, 3))
    for script, args in commands(DATASET_TOOL_LSUN, home):
        run_command(capsys, script, args)
    assert dataset_shape(home / 'datasets' / 'lsuncat200k.zip') == (3, (256, 256), False)
    assert dataset_shape(home / 'datasets' / 'lsuncar200k.zip') == (3, (512, 512), False)
    assert len(os.listdir(home / 'tmp' / 'lsun_cat' / '00000')) == 2

def dataset_zip(path, count, size, labels=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, 'w') as z:
        names = []
        for i, img in enumerate(pattern(count, size, size, 3)):
            names.append(f'img{i:02d}.png')
            with z.open(names[-1], 'w') as f:
                PIL.Image.fromarray(img).save(f, format='png')
        z.writestr('dataset.json', json.dumps({'labels': [[n, i % 10] for i, n in enumerate(names)] if labels else None}))

def test_readme_and_help_training_commands(networks, capsys, monkeypatch):
    import train
    home = networks
    dataset_zip(home / 'mydataset.zip', 4, 16)
    dataset_zip(home / 'datasets' / 'metfaces.zip', 4, 16)
    dataset_zip(home / 'datasets' / 'ffhq.zip', 4, 16)
    resume_source = serve(train.RESUME_SPECS['ffhq1024'], layout_snapshot('paper256-like'))
    started = []
    monkeypatch.setattr(train.training_loop, 'training_loop', lambda **c: started.append(c))
    runs = []
    for i, (script, args) in enumerate(commands(TRAIN, home)):
        dry_run = i != 1 # the command without --dry-run runs up to the training loop
        res = run_command(capsys, script, args + ['--dry-run'] * (dry_run and '--dry-run' not in args))
        runs.append(json.loads(res.stdout.split('Training options:')[1].split('\n\n')[0]))
    assert len(started) == 1 and started[0]['run_dir'].endswith('00000-mydataset-auto1')
    assert os.path.isfile(os.path.join(started[0]['run_dir'], 'training_options.json'))
    assert [os.path.basename(c['run_dir']) for c in runs] == [
        '00000-mydataset-auto1', '00000-mydataset-auto1', '00001-metfaces-mirror-paper1024-resumeffhq1024',
        '00001-ffhq-mirror-stylegan2-noaug']
    metfaces, ffhq = runs[2:]
    assert metfaces['resume_pkl'] == train.RESUME_SPECS['ffhq1024'] and metfaces['network_snapshot_ticks'] == 10
    assert metfaces['ada_kimg'] == 100 and metfaces['batch_gpu'] == 4 and os.path.isfile(resume_source)
    assert ffhq['augment_kwargs'] is None and ffhq['training_set_kwargs']['xflip'] and ffhq['num_gpus'] == 8

def test_help_cifar_training_command(home, capsys):
    dataset_zip(home / 'datasets' / 'cifar10.zip', 4, 32, labels=True)
    (script, args), = commands(TRAIN_CIFAR, home)
    res = run_command(capsys, script, args + ['--dry-run'])
    cifar = json.loads(res.stdout.split('Training options:')[1].split('\n\n')[0])
    assert os.path.basename(cifar['run_dir']) == '00000-cifar10-cond-cifar'
    assert cifar['num_gpus'] == 2 and cifar['training_set_kwargs']['use_labels'] and cifar['batch_gpu'] == 32
    assert cifar['D_kwargs']['architecture'] == 'orig'

def test_readme_calc_metrics_commands(networks, capsys, monkeypatch):
    home = networks
    dataset_zip(home / 'datasets' / 'ffhq10k.zip', 4, 32) # the training set the snapshot records
    dataset_zip(home / 'datasets' / 'ffhq.zip', 4, 16) # for ffhq.pkl
    run_dir = home / 'training-runs' / '00000-ffhq10k-res64-auto1'
    snapshot = layout_snapshot('paper256-like')
    snapshot['training_set_kwargs'].path = str(home / 'datasets' / 'ffhq10k.zip')
    os.makedirs(run_dir)
    write_stylegan2_ada_pickle(run_dir / 'network-snapshot-000000.pkl', snapshot)
    # 50k generated images are more than a test can afford: the metrics record what they were given instead.
    seen = []
    for name in ['pr50k3_full', 'fid50k_full']:
        monkeypatch.setitem(metric_main._metric_dict, name,
                            lambda opts, name=name: seen.append(opts) or {name: float(len(seen))})
    for script, args in commands(CALC_METRICS, home):
        run_command(capsys, script, args)
    pr, fid = seen
    assert pr.dataset_kwargs.path == str(home / 'datasets' / 'ffhq10k.zip') and not pr.dataset_kwargs.get('xflip')
    assert pr.G.img_resolution == 32 and pr.G.c_dim == 0
    assert fid.dataset_kwargs.path == str(home / 'datasets' / 'ffhq.zip') and fid.dataset_kwargs.xflip is True
    with open(run_dir / 'metric-pr50k3_full.jsonl') as f:
        line = json.loads(f.read())
    assert line['results'] == {'pr50k3_full': 1.0} and line['detector'] == 'vgg16'
    assert line['snapshot_pkl'] == 'network-snapshot-000000.pkl'

#----------------------------------------------------------------------------
# Every option of StyleGAN2-ADA's tools (their --help texts), with its kind: BOOL options take a value there.

STYLEGAN2_ADA_OPTIONS = {
    'train.py': ['--outdir', '--gpus', '--snap', '--metrics', '--seed', '-n', '--dry-run', '--data', '--cond:BOOL',
                 '--subset', '--mirror:BOOL', '--cfg', '--gamma', '--kimg', '--batch', '--aug', '--p', '--target',
                 '--augpipe', '--resume', '--freezed', '--fp32:BOOL', '--nhwc:BOOL', '--nobench:BOOL',
                 '--allow-tf32:BOOL', '--workers'],
    'generate.py': ['--network', '--seeds', '--trunc', '--class', '--noise-mode', '--projected-w', '--outdir'],
    'style_mixing.py': ['--network', '--rows', '--cols', '--styles', '--trunc', '--noise-mode', '--outdir'],
    'projector.py': ['--network', '--target', '--num-steps', '--seed', '--save-video:BOOL', '--outdir'],
    'calc_metrics.py': ['--network', '--metrics', '--data', '--mirror:BOOL', '--gpus', '--verbose:BOOL'],
    'dataset_tool.py': ['--source', '--dest', '--max-images', '--resize-filter', '--transform', '--width', '--height',
                        '--img-format'],
    'dataset_tool.py extract_brecahad_crops': ['--cropsize', '--output_dir', '--brecahad_dir'],
    'legacy.py': ['--source', '--dest', '--force-fp16:BOOL'],
}

def options_of(script):
    script, _, subcommand = script.partition(' ')
    command = importlib.import_module(script[:-3]).main
    return {opt: param for param in (command.commands[subcommand] if subcommand else command).params for opt in param.opts}

def test_every_stylegan2_ada_option_exists_with_its_kind():
    for script, options in STYLEGAN2_ADA_OPTIONS.items():
        ours = options_of(script)
        for option in options:
            name, _, kind = option.partition(':')
            assert name in ours, f'{script} {name}'
            if kind == 'BOOL':
                assert ours[name].type is click.BOOL and ours[name].metavar == 'BOOL', f'{script} {name}'
    choices = lambda script, name: options_of(script)[name].type.choices
    assert set(choices('train.py', '--cfg')) >= {'auto', 'stylegan2', 'paper256', 'paper512', 'paper1024', 'cifar'}
    assert set(choices('train.py', '--augpipe')) >= {'blit', 'geom', 'color', 'filter', 'noise', 'cutout', 'bg', 'bgc',
                                                     'bgcf', 'bgcfn', 'bgcfnc'}
    assert list(choices('dataset_tool.py', '--resize-filter')) == ['lanczos', 'box']
