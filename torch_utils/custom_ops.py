"""Build the CUDA kernels of torch_utils/ops at first use with ninja, cache them on disk, fall back once."""

import glob
import hashlib
import os
import socket
import threading
import time
import warnings

import torch

import dnnlib

#----------------------------------------------------------------------------

verbosity = 'brief' # 'none', 'brief' (one line per build) or 'full' (compiler output).

_plugins = dict()               # Module name -> loaded module, or None after a failed build.
_plugins_lock = threading.Lock() # One build attempt per process, even with threads.
_ops_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ops')
_lock_timeout = 600             # Seconds to wait for a build held by a live process on another host.

#----------------------------------------------------------------------------
# Return the compiled module for `sources` (file names in torch_utils/ops, `headers` included), or None
# when it cannot be built. Tries once per process: later calls return the cached module or the cached failure.

def get_plugin(module_name, sources, headers=(), **build_kwargs):
    with _plugins_lock:
        if module_name in _plugins:
            return _plugins[module_name]
        try:
            module = _build_plugin(module_name, [os.path.join(_ops_dir, s) for s in sources],
                                   [os.path.join(_ops_dir, h) for h in headers], **build_kwargs)
        except Exception as err: # any failure (no GPU, no nvcc, compiler error) means the reference path
            warnings.warn(f'Could not build the CUDA kernels {module_name!r} ({type(err).__name__}: '
                          f'{str(err).strip().splitlines()[-1] if str(err).strip() else ""}); '
                          f'falling back to the slower reference implementation (impl="ref"); set '
                          f'torch_utils.custom_ops.verbosity = "full" to see the compiler output.', RuntimeWarning)
            module = None
        _plugins[module_name] = module
        return module

#----------------------------------------------------------------------------
# Build directory: one per module, torch version, CUDA version, GPU architecture and source digest,
# so an upgrade or an edit never loads a stale binary.

def build_dir(module_name, paths):
    digest = hashlib.md5()
    for path in sorted(paths):
        with open(path, 'rb') as f:
            digest.update(os.path.basename(path).encode() + b'\0' + f.read())
    arch = 'sm%d%d' % torch.cuda.get_device_capability() if torch.cuda.is_available() else 'nogpu'
    tag = f'torch{torch.__version__}-cuda{torch.version.cuda}-{arch}'.replace('+', '_')
    return dnnlib.util.cache_dir('torch_extensions', tag, f'{module_name}-{digest.hexdigest()[:12]}')

#----------------------------------------------------------------------------

def _build_plugin(module_name, source_paths, header_paths, **build_kwargs):
    import torch.utils.cpp_extension as cpp # imported here: it is slow and CPU-only runs never need it
    if not torch.cuda.is_available():
        raise RuntimeError('no CUDA device')
    if torch.version.cuda is None:
        raise RuntimeError('this PyTorch build has no CUDA support')
    if cpp.CUDA_HOME is None:
        raise RuntimeError('nvcc not found (set CUDA_HOME)')
    cpp.verify_ninja_availability()

    out_dir = build_dir(module_name, list(source_paths) + list(header_paths))
    os.makedirs(out_dir, exist_ok=True)
    with _FileLock(os.path.join(out_dir, 'ganas.lock')):
        # We hold the lock, so torch's own baton file can only be left over from a killed build.
        for stale in glob.glob(os.path.join(out_dir, 'lock')):
            os.remove(stale)
        if verbosity != 'none':
            print(f'Setting up CUDA kernels {module_name!r} in {out_dir} ...', flush=True)
        return cpp.load(name=module_name, sources=source_paths, build_directory=out_dir,
                        verbose=(verbosity == 'full'), **build_kwargs)

#----------------------------------------------------------------------------
# Cross-process lock file holding 'host pid'. A lock left by a dead process on this host is removed;
# one from another host is trusted for `_lock_timeout` seconds.

class _FileLock:
    def __init__(self, path, poll=0.5):
        self.path = path
        self.poll = poll

    def __enter__(self):
        start = time.time()
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._is_stale() or time.time() - start > _lock_timeout:
                    self._remove()
                else:
                    time.sleep(self.poll)
                continue
            with os.fdopen(fd, 'w') as f:
                f.write(f'{socket.gethostname()} {os.getpid()}\n')
            return self

    def __exit__(self, *exc):
        self._remove()

    def _remove(self):
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def _is_stale(self):
        try:
            with open(self.path) as f:
                text = f.read()
            age = time.time() - os.path.getmtime(self.path)
        except FileNotFoundError:
            return False # just released: try again
        try:
            host, pid = text.split()
            pid = int(pid)
        except ValueError: # empty or garbled: being written right now, or its writer died at once
            return age > 10
        if host != socket.gethostname():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False # alive, owned by another user
        return False

#----------------------------------------------------------------------------
