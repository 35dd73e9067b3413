"""doctor.py: report sections, statuses and exit codes (0 = fine or absent by design, 1 = broken)."""

import collections
import os
import subprocess
import sys
import warnings

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
import doctor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ['Python', 'torch', 'CUDA', 'nvcc', 'C++ compiler', 'ninja', 'custom ops', 'dataset', 'cache', 'detector',
            'inception', 'vgg16']

#----------------------------------------------------------------------------

def run_doctor(*args, cache):
    env = dict(os.environ, PYTHONPATH=ROOT, GANAS_CACHE=str(cache))
    return subprocess.run([sys.executable, 'doctor.py', *args], capture_output=True, text=True, env=env, cwd=ROOT)

def rows_of(stdout):
    """{name: (status, detail)} of the report lines '[status] name  detail'."""
    rows = dict()
    for line in stdout.splitlines():
        if line.startswith('['):
            status, rest = line[1:].split(']', 1)
            name, detail = rest.strip().split('  ', 1)
            rows[name] = (status.strip(), detail.strip())
    return rows

def make_images(path, count, size):
    os.makedirs(path)
    rnd = np.random.RandomState(0)
    for i in range(count):
        PIL.Image.fromarray(rnd.randint(0, 256, [size, size], dtype=np.uint8)).save(os.path.join(path, f'{i}.png'))
    return str(path)

#----------------------------------------------------------------------------

def test_report_sections_and_exit_0(tmp_path):
    data = make_images(tmp_path / 'images', 3, 8)
    res = run_doctor(f'--data={data}', cache=tmp_path / 'cache')
    assert res.returncode == 0, res.stdout + res.stderr
    rows = rows_of(res.stdout)
    assert [name for name in rows if not name.startswith('GPU ')] == SECTIONS
    assert rows['Python'][1].startswith(sys.version.split()[0])
    assert rows['torch'][1].startswith(torch.__version__)
    assert rows['dataset'] == ('ok', f'{data}: 3 images, 1x8x8')
    assert rows['cache'][0] == 'ok' and rows['cache'][1].startswith(str(tmp_path / 'cache'))
    assert 'FAIL' not in res.stdout and res.stdout.strip().endswith('All checks passed.')
    if not torch.cuda.is_available():
        assert rows['CUDA'][0] == 'absent'
        assert rows['custom ops'] == ('absent', 'reference path (no CUDA)')

def test_unreadable_dataset_exits_1(tmp_path):
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'a.png').write_bytes(b'not a png')
    for data, fragment in [(tmp_path / 'missing.zip', 'missing.zip'), (bad, 'a.png')]:
        res = run_doctor(f'--data={data}', cache=tmp_path / 'cache')
        assert res.returncode == 1, res.stdout + res.stderr
        status, detail = rows_of(res.stdout)['dataset']
        assert status == 'FAIL' and fragment in detail and str(data) in detail
        assert res.stdout.strip().splitlines()[-1] == '1 problem(s): dataset'

def test_bad_option_exits_2(tmp_path):
    res = run_doctor('--no-such-option', cache=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith('Error: ') and len(res.stderr.strip().splitlines()) == 1

#----------------------------------------------------------------------------
# In-process checks with the environment faked.

def test_low_cache_disk_is_broken(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path))
    usage = collections.namedtuple('usage', 'total used free')
    monkeypatch.setattr(doctor.shutil, 'disk_usage', lambda path: usage(1 << 40, 1 << 40, 100 << 20))
    assert doctor.main.main([], standalone_mode=False) == 1
    rows = rows_of(capsys.readouterr().out)
    assert rows['cache'][0] == 'FAIL' and '0.1 GiB free' in rows['cache'][1]

def test_missing_detector_is_absent_by_design(monkeypatch, tmp_path, capsys):
    from metrics import detectors
    def not_installed():
        raise dnnlib.util.UserError('offline detector default_1.pt not found')
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path))
    monkeypatch.setattr(detectors, 'offline_detector_path', not_installed)
    assert doctor.main.main([], standalone_mode=False) == 0
    status, detail = rows_of(capsys.readouterr().out)['detector']
    assert status == 'absent' and detectors.OFFLINE_INSTALL in detail

def test_nvidia_files_are_reported_from_the_download_cache(monkeypatch, tmp_path, capsys):
    from metrics import detectors
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path))
    vgg16 = dnnlib.util.cached_download_path(detectors.VGG16_URL)
    os.makedirs(os.path.dirname(vgg16))
    open(vgg16, 'wb').close()
    assert doctor.main.main([], standalone_mode=False) == 0 # a missing download is absent by design
    rows = rows_of(capsys.readouterr().out)
    assert rows['vgg16'] == ('ok', f'{vgg16} (for pr50k3*, ppl* and projector.py --loss=lpips)')
    assert rows['inception'][0] == 'absent' and 'fetch it from NVIDIA once' in rows['inception'][1]
    # open_url finds the same file without the network.
    assert dnnlib.util.open_url(detectors.VGG16_URL, return_filename=True) == vgg16

def test_custom_op_build_failure_is_broken(monkeypatch):
    from torch_utils.ops import bias_act, upfirdn2d
    def failing_plugin():
        warnings.warn('Could not build the CUDA kernels (RuntimeError: nvcc fatal)', RuntimeWarning)
        return None
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(bias_act, '_plugin', failing_plugin)
    monkeypatch.setattr(upfirdn2d, '_plugin', lambda: object())
    assert doctor.check_custom_ops(build_ops=False)[0][1] == 'absent'
    rows = doctor.check_custom_ops(build_ops=True)
    assert rows[0][:2] == ('op bias_act', 'FAIL') and 'nvcc fatal' in rows[0][2]
    assert rows[1] == ('op upfirdn2d', 'ok', 'CUDA kernels built and loaded')

def test_missing_tools_absent_without_cuda_broken_with_it(monkeypatch):
    monkeypatch.setattr(doctor.shutil, 'which', lambda name: None)
    monkeypatch.delenv('CXX', raising=False)
    from torch.utils import cpp_extension
    monkeypatch.setattr(cpp_extension, 'CUDA_HOME', None)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert [status for _name, status, _detail in doctor.check_toolchain()] == ['absent'] * 3
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert [status for _name, status, _detail in doctor.check_toolchain()] == ['FAIL'] * 3

#----------------------------------------------------------------------------
