"""calc_metrics.py: dataset-vs-dataset and network runs with a stand-in detector, several CPU processes
giving the single-process result, jsonl reports; bad input exits 2 with one line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from torch_utils import checkpoint
from training import networks_stylegan2
from test_metrics_detectors import TinyInception, RangeProbe
from test_metrics_metric_main import random_images, write_zip

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------

@pytest.fixture
def env(tmp_path):
    e = dict(tmp=tmp_path)
    e['detector'] = str(tmp_path / 'tiny.pt')
    torch.jit.save(torch.jit.script(TinyInception()), e['detector'])
    e['probe'] = str(tmp_path / 'probe.pt')
    torch.jit.save(torch.jit.script(RangeProbe()), e['probe'])
    e['a'] = write_zip(tmp_path / 'a.zip', random_images(0, 40))
    e['b'] = write_zip(tmp_path / 'b.zip', random_images(1, 30, scale=128))
    return e

def run_cli(env, *args, cpu=False):
    environ = dict(os.environ, GANAS_CACHE=str(env['tmp'] / 'cache'))
    if cpu:
        environ['CUDA_VISIBLE_DEVICES'] = '' # CPU processes even where there is a GPU
    res = subprocess.run([sys.executable, os.path.join(ROOT, 'calc_metrics.py'), *args], capture_output=True, text=True,
                         cwd=ROOT, env=environ, timeout=300)
    return res.returncode, res.stdout, res.stderr

def results_of(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"results"')]

def assert_bad_input(env, args, message):
    rc, _out, err = run_cli(env, *args)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert lines[0].startswith('Error: ') and message in lines[0], err

#----------------------------------------------------------------------------
# Dataset against dataset.

def test_dataset_against_itself_is_zero_and_reported(env):
    run_dir = env['tmp'] / 'run'
    run_dir.mkdir()
    rc, out, err = run_cli(env, '--metrics=fid2k', f'--data={env["a"]}', f'--data2={env["a"]}',
                           f'--detector={env["detector"]}', f'--run-dir={run_dir}', '--quiet')
    assert rc == 0, err
    (fid,) = results_of(out)
    assert abs(fid['results']['fid2k']) < 1e-6
    assert json.loads((run_dir / 'metric-fid2k.jsonl').read_text()) == fid

def test_two_cpu_processes_give_the_single_process_result(env):
    common = ['--metrics=fid2k', f'--data={env["a"]}', f'--data2={env["b"]}', f'--detector={env["detector"]}',
              '--batch=8', '--quiet']
    rc1, out1, err1 = run_cli(env, *common, '--gpus=1', cpu=True)
    rc2, out2, err2 = run_cli(env, *common, '--gpus=2', cpu=True)
    assert rc1 == 0 and rc2 == 0, err1 + err2
    (r1,), (r2,) = results_of(out1), results_of(out2)
    assert r1['results']['fid2k'] > 1 and r2['num_gpus'] == 2
    assert r2['results']['fid2k'] == pytest.approx(r1['results']['fid2k'], rel=1e-6)

def test_is_with_a_detector_without_logits_is_skipped(env):
    rc, out, err = run_cli(env, '--metrics=is10k', f'--data={env["a"]}', f'--data2={env["b"]}',
                           f'--detector={env["probe"]}', '--verbose=false') # StyleGAN2-ADA's spelling of --quiet
    assert rc == 0, err
    assert 'Calculating' not in out and not out.lstrip().startswith('{')
    assert [line for line in out.splitlines() if line.startswith('is10k')] == [
        'is10k: skipped, detector probe has no logits; pass --detector=inception (NVIDIA inception-2015-12-05.pt) '
        'to compute the Inception Score']

#----------------------------------------------------------------------------
# Network runs: the dataset recorded in the snapshot is the default; a resolution mismatch is an error.

def save_network(env, res):
    torch.manual_seed(0)
    G = networks_stylegan2.Generator(z_dim=8, w_dim=8, img_resolution=res, img_channels=3,
                                     synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0))
    path = str(env['tmp'] / 'network-snapshot-000000.pkl')
    training_set_kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=env['a'], use_labels=False)
    checkpoint.save_pickle(path, dict(G_ema=G.eval().requires_grad_(False), training_set_kwargs=training_set_kwargs))
    return path

def test_network_uses_its_training_set_and_writes_jsonl_beside_it(env):
    network = save_network(env, res=8)
    rc, out, err = run_cli(env, '--metrics=fid2k', f'--network={network}', f'--detector={env["detector"]}', '--quiet')
    assert rc == 0, err
    (rec,) = results_of(out)
    assert rec['results']['fid2k'] > 0 and rec['snapshot_pkl'] == 'network-snapshot-000000.pkl'
    assert json.loads((env['tmp'] / 'metric-fid2k.jsonl').read_text()) == rec

def test_network_resolution_must_match_the_data(env):
    network = save_network(env, res=16)
    assert_bad_input(env, ['--metrics=fid2k', f'--network={network}', f'--detector={env["detector"]}'],
                     'is 8x8, the generator makes 16x16 images')

#----------------------------------------------------------------------------
# Bad input.

def test_unknown_metric_lists_the_valid_ones(env):
    assert_bad_input(env, ['--metrics=fid2k,fid1m', f'--data={env["a"]}', f'--data2={env["a"]}'],
                     '--metrics: unknown metric fid1m; valid metrics: fid50k_full, kid50k_full')

def test_missing_detector(env):
    data = [f'--data={env["a"]}', f'--data2={env["a"]}']
    assert_bad_input(env, ['--metrics=fid2k', *data, f'--detector={env["tmp"]}/none.pt'],
                     f'--detector: detector {env["tmp"]}/none.pt: no such file; give an existing file, a URL or one of')
    assert_bad_input(env, ['--metrics=pr10k3_full', *data, f'--detector={env["detector"]}',
                           f'--pr-detector={env["tmp"]}/vgg.pt'], '--pr-detector: detector ')

def test_missing_data_and_generator(env):
    assert_bad_input(env, ['--metrics=fid2k', f'--detector={env["detector"]}'], 'give either --network')
    assert_bad_input(env, ['--metrics=fid2k', f'--data={env["tmp"]}/none.zip', f'--data2={env["a"]}',
                           f'--detector={env["detector"]}'], '--data: ')

#----------------------------------------------------------------------------
