"""Check the environment ganas runs in: Python, torch, CUDA, GPUs, compiler, ninja, custom ops, dataset, caches,
metric detector. Exit 0 when everything works or is absent by design, 1 when something is broken."""

import os
import platform
import shutil
import subprocess
import sys
import warnings

import click
import torch

import dnnlib
from dnnlib.util import cli_main

#----------------------------------------------------------------------------
# One check result: status 'ok', 'absent' (missing by design, e.g. no GPU on a CPU machine) or 'FAIL'.

OK, ABSENT, FAIL = 'ok', 'absent', 'FAIL'

def _gib(num_bytes):
    return f'{num_bytes / (1 << 30):.1f} GiB'

def _first_line(text):
    lines = str(text).strip().splitlines()
    return lines[-1] if lines else ''

#----------------------------------------------------------------------------
# Software: Python, torch, CUDA, GPUs, nvcc, C++ compiler, ninja.

def check_python():
    return [('Python', OK, f'{platform.python_version()} ({sys.executable})')]

def check_torch():
    return [('torch', OK, f'{torch.__version__} ({os.path.dirname(torch.__file__)})')]

def check_cuda():
    if torch.version.cuda is None:
        return [('CUDA', ABSENT, 'this torch build has no CUDA support (CPU only)')]
    if not torch.cuda.is_available():
        return [('CUDA', ABSENT, f'torch built with CUDA {torch.version.cuda}, but no GPU is visible')]
    rows = [('CUDA', OK, f'{torch.version.cuda}, {torch.cuda.device_count()} GPU(s)')]
    for idx in range(torch.cuda.device_count()):
        prop = torch.cuda.get_device_properties(idx)
        free, total = torch.cuda.mem_get_info(idx)
        rows.append((f'GPU {idx}', OK, f'{prop.name}, sm{prop.major}{prop.minor}, {_gib(total)} total, '
                                       f'{_gib(free)} free'))
    return rows

def _tool_version(path, *args):
    try:
        res = subprocess.run([path, *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, _first_line(err)
    text = res.stdout.strip() or res.stderr.strip()
    return (text.splitlines()[-1 if 'nvcc' in os.path.basename(path) else 0] if text else ''), None

def check_toolchain():
    """nvcc matters only with CUDA; the C++ compiler and ninja are needed only to build the CUDA kernels."""
    rows = []
    from torch.utils import cpp_extension # slow import, needed only here
    cuda_home = cpp_extension.CUDA_HOME
    nvcc = shutil.which('nvcc') or (os.path.join(cuda_home, 'bin', 'nvcc') if cuda_home else None)
    absent = ABSENT if not torch.cuda.is_available() else FAIL
    if nvcc and os.path.isfile(nvcc):
        version, err = _tool_version(nvcc, '--version')
        rows.append(('nvcc', OK if err is None else FAIL, f'{nvcc}: {version or err}'))
    else:
        rows.append(('nvcc', absent, 'not found (set CUDA_HOME to build the CUDA kernels)'))
    cxx = os.environ.get('CXX') or shutil.which('c++') or shutil.which('g++') or shutil.which('clang++')
    if cxx:
        version, err = _tool_version(cxx, '--version')
        rows.append(('C++ compiler', OK if err is None else FAIL, f'{cxx}: {version or err}'))
    else:
        rows.append(('C++ compiler', absent, 'not found (c++, g++ or clang++; or set CXX)'))
    ninja = shutil.which('ninja')
    if ninja:
        version, err = _tool_version(ninja, '--version')
        rows.append(('ninja', OK if err is None else FAIL, f'{ninja}: {version or err}'))
    else:
        rows.append(('ninja', absent, 'not found (pip install ninja)'))
    return rows

#----------------------------------------------------------------------------
# Custom ops: built only on request and only with CUDA; otherwise the exact reference path runs.

def check_custom_ops(build_ops):
    if not torch.cuda.is_available():
        return [('custom ops', ABSENT, 'reference path (no CUDA)')]
    if not build_ops:
        return [('custom ops', ABSENT, 'not built by this check (pass --build-ops to build bias_act and upfirdn2d)')]
    from torch_utils.ops import bias_act, upfirdn2d
    rows = []
    for name, module in [('bias_act', bias_act), ('upfirdn2d', upfirdn2d)]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            plugin = module._plugin()
        if plugin is not None:
            rows.append((f'op {name}', OK, 'CUDA kernels built and loaded'))
        else:
            reason = _first_line(caught[-1].message) if caught else 'build failed'
            rows.append((f'op {name}', FAIL, f'build failed, runs use the reference path: {reason}'))
    return rows

#----------------------------------------------------------------------------
# Dataset readability: open it as training would and decode its first image.

def check_dataset(path):
    if path is None:
        return [('dataset', ABSENT, 'no --data given')]
    from training.dataset import ImageFolderDataset
    try:
        dataset = ImageFolderDataset(path)
        try:
            image, _label = dataset[0]
            shape = 'x'.join(str(s) for s in image.shape)
            labels = f', {dataset.label_dim} classes' if dataset.has_labels else ''
            return [('dataset', OK, f'{path}: {len(dataset)} images, {shape}{labels}')]
        finally:
            dataset.close()
    except Exception as err: # doctor reports every failure instead of raising it
        message = _first_line(err)
        return [('dataset', FAIL, message if message.startswith(path) else f'{path}: {message}')]

#----------------------------------------------------------------------------
# Cache directory (downloads, dataset statistics, kernels) and the offline metric detector.

def check_cache(min_free_bytes=1 << 30):
    root = dnnlib.util.cache_dir()
    probe = root
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK):
        return [('cache', FAIL, f'{root}: not writable (set $GANAS_CACHE to a writable directory)')]
    free = shutil.disk_usage(probe).free
    status = OK if free >= min_free_bytes else FAIL
    note = '' if status == OK else f' (less than {_gib(min_free_bytes)}: free space or set $GANAS_CACHE)'
    exists = '' if os.path.isdir(root) else ', not created yet'
    return [('cache', status, f'{root}{exists}, {_gib(free)} free{note}')]

def check_detector():
    from metrics import detectors
    try:
        path = detectors.offline_detector_path()
    except dnnlib.util.UserError:
        return [('detector', ABSENT, f'offline detector not installed ({detectors.OFFLINE_INSTALL}); '
                                     f'metrics need --detector then')]
    return [('detector', OK, f'offline detector {path}')]

def check_nvidia_files():
    """NVIDIA's files that some tools download once: in the cache already, or absent (fetched at first use)."""
    from metrics import detectors
    users = dict(inception='is50k and --detector=inception', vgg16='pr50k3*, ppl* and projector.py --loss=lpips')
    rows = []
    for alias, used_by in users.items():
        path = dnnlib.util.cached_download_path(detectors.DETECTOR_ALIASES[alias])
        if os.path.isfile(path):
            rows.append((alias, OK, f'{path} (for {used_by})'))
        else:
            rows.append((alias, ABSENT, f'not downloaded yet; {used_by} fetch it from NVIDIA once'))
    return rows

#----------------------------------------------------------------------------

def run_checks(data=None, build_ops=False):
    """All check rows [(name, status, detail)] in report order."""
    rows = []
    for check in [check_python, check_torch, check_cuda, check_toolchain, lambda: check_custom_ops(build_ops),
                  lambda: check_dataset(data), check_cache, check_detector, check_nvidia_files]:
        rows += check()
    return rows

@click.command()
@click.option('--data',      help='Dataset to check (directory or zip)', metavar='[ZIP|DIR]')
@click.option('--build-ops', help='Build the CUDA kernels of bias_act and upfirdn2d (needs CUDA)', is_flag=True)
def main(data, build_ops):
    """Report the environment and exit 1 when something is broken.

    \b
    Examples:
    python doctor.py
    python doctor.py --data=datasets/fmnist32.zip --build-ops
    """
    rows = run_checks(data=data, build_ops=build_ops)
    width = max(len(name) for name, _status, _detail in rows)
    for name, status, detail in rows:
        print(f'[{status:^6}] {name:<{width}}  {detail}')
    broken = [name for name, status, _detail in rows if status == FAIL]
    print(f'{len(broken)} problem(s): {", ".join(broken)}' if broken else 'All checks passed.')
    return 1 if broken else 0

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
