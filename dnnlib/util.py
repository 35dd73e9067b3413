"""Torch-free utilities: configs, class construction, bad-input handling, URL cache, run dirs, logging."""

import contextlib
import hashlib
import importlib
import json
import os
import re
import shlex
import sys
import tempfile
import time
import urllib.parse

import click

#----------------------------------------------------------------------------
# Dictionary whose keys are also attributes; configs are plain JSON-able EasyDicts.

class EasyDict(dict):
    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        del self[name]

#----------------------------------------------------------------------------
# Construct objects from dotted names, as configs carry `class_name`.

def get_obj_by_name(name):
    """Return the object named 'package.module.attr', importing the longest importable module prefix."""
    parts = name.split('.')
    for i in range(len(parts) - 1, 0, -1):
        module_name = '.'.join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and not module_name.startswith(err.name):
                raise # a real import error inside the module, not a wrong prefix
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    return importlib.import_module(name)

def call_func_by_name(*args, func_name, **kwargs):
    return get_obj_by_name(func_name)(*args, **kwargs)

def construct_class_by_name(*args, class_name, **kwargs):
    return call_func_by_name(*args, func_name=class_name, **kwargs)

#----------------------------------------------------------------------------
# Bad input: library code raises UserError, the CLIs print one line and exit 2.

class UserError(Exception):
    """A problem with the user's input (file, option, format); the message names it in one line."""

def torchrun_world_size():
    """Number of processes torchrun started for this run (1 when this is a plain `python script.py`)."""
    return int(os.environ.get('WORLD_SIZE', '1'))

TORCHRUN_ERROR_GRACE_S = 30 # how long a torchrun process other than 0 waits for process 0 to report the same error

def cli_main(command, args=None):
    """Run a click command so that every bad input ends in one 'Error: ...' line on stderr and exit code 2. Under
    torchrun every process checks the same options, so process 0 prints the line and the others first wait: torchrun
    ends them when process 0 exits, unless their error is their own, which they then print naming the process (one
    that exited at once could make torchrun end process 0 before it said why: 5 of 20 runs here). Every process ends
    through exit_without_teardown."""
    torchrun = torchrun_world_size() > 1
    try:
        rv = command.main(args=args, standalone_mode=False)
        exit_code = rv if isinstance(rv, int) else 0
    except click.exceptions.Abort:
        print('Aborted.', file=sys.stderr)
        exit_code = 1
    except (click.ClickException, UserError) as err:
        message = err.format_message() if isinstance(err, click.ClickException) else str(err)
        rank = os.environ.get('RANK', '0')
        if torchrun and rank != '0':
            time.sleep(TORCHRUN_ERROR_GRACE_S)
            message = f'process {rank}: {message}'
        print(f'Error: {message}', file=sys.stderr)
        exit_code = 2
    except SystemExit as err: # a launcher's exit code
        if not torchrun or not isinstance(err.code, (int, type(None))):
            raise
        exit_code = err.code or 0
    if torchrun:
        exit_without_teardown(exit_code)
    sys.exit(exit_code)

def exit_without_teardown(exit_code):
    """End a process of a torch.distributed group once its work is done and its files are closed, skipping the
    interpreter's teardown: C++ objects of torch.distributed destroyed then can call std::terminate ("terminate called
    without an active exception", the exit code lost to SIGABRT) even after destroy_process_group, as 1 of 29
    two-process CPU trainings did here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)

#----------------------------------------------------------------------------
# Small parsers and formatters shared by the CLIs.

def parse_int_list(s):
    """Parse '0-3,7,10-11' into [0, 1, 2, 3, 7, 10, 11]; a list passes through."""
    if isinstance(s, list):
        return s
    values = []
    for part in s.split(','):
        m = re.fullmatch(r'\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?', part)
        if m is None:
            raise UserError(f'cannot parse "{s}" as a list of integers like 0-63,100')
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UserError(f'range "{part.strip()}" in "{s}" runs backwards')
        values.extend(range(lo, hi + 1))
    return values

class IntListParamType(click.ParamType):
    """click type of parse_int_list whose errors name the option: "Invalid value for '--seeds': ..."."""
    name = 'list'

    def convert(self, value, param, ctx):
        try:
            return parse_int_list(value)
        except UserError as err:
            self.fail(str(err), param, ctx)

INT_LIST = IntListParamType()

_AMOUNT_SUFFIXES = {'': 1, 'k': 10**3, 'm': 10**6, 'g': 10**9} # decimal: 1.5G = 1,500,000,000

def parse_amount(s):
    """Parse a positive count with an optional decimal suffix, '250k', '3M', '1.5G' or '12345', into an int."""
    m = re.fullmatch(r'\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgG]?)\s*', str(s))
    value = round(float(m.group(1)) * _AMOUNT_SUFFIXES[m.group(2).lower()]) if m is not None else 0
    if value < 1:
        raise UserError(f'cannot parse "{s}" as a positive count like 3M, 1.5G or 250k')
    return value

class AmountParamType(click.ParamType):
    """click type of parse_amount whose errors name the option."""
    name = 'amount'

    def convert(self, value, param, ctx):
        try:
            return value if isinstance(value, int) else parse_amount(value)
        except UserError as err:
            self.fail(str(err), param, ctx)

AMOUNT = AmountParamType()

def bool_option(*param_decls, help, default=False, **kwargs): # pylint: disable=redefined-builtin
    """A click option of StyleGAN2-ADA's BOOL kind: `--mirror=1`, `--mirror=false`, `--mirror yes` (click's boolean
    words: 1/0, true/false, yes/no, on/off, t/f, y/n), and `--mirror` alone still means true."""
    if default is not None: # None: the caller's help says what happens when it is not given
        help = f'{help}  [default: {"true" if default else "false"}]'
    return click.option(*param_decls, help=help, type=click.BOOL, is_flag=False,
                        flag_value=True, default=default, metavar='BOOL', **kwargs)

def format_time(seconds):
    """Human-readable duration: '42s', '3m 05s', '2h 07m', '1d 03h'."""
    s = int(round(seconds))
    if s < 60:
        return f'{s}s'
    if s < 60 * 60:
        return f'{s // 60}m {s % 60:02d}s'
    if s < 24 * 60 * 60:
        return f'{s // 3600}h {(s // 60) % 60:02d}m'
    return f'{s // 86400}d {(s // 3600) % 24:02d}h'

#----------------------------------------------------------------------------
# Atomic file writing: readers see the old file or the complete new one, never a partial one.

def chmod_as_created(path, directory=False):
    """Give a file or directory from mkstemp/mkdtemp (always private, 0600/0700) the mode that open() or mkdir()
    would have given it under the current umask, so outputs stay readable by whoever could read the old ones."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if directory else 0o666) & ~umask)

@contextlib.contextmanager
def atomic_write(path, mode='wb'):
    """Open a temporary file next to `path`; on success fsync it and rename it over `path`."""
    path = os.fspath(path)
    dirname = os.path.dirname(os.path.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=dirname)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        chmod_as_created(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise

def create_run_dir(run_dir, options_name, options):
    """Make a new run directory holding the run's options as JSON (`options_name`) and its command.txt."""
    os.makedirs(run_dir)
    with atomic_write(os.path.join(run_dir, options_name), 'w') as f:
        json.dump(options, f, indent=2)
    record_command(run_dir)

def record_command(run_dir, argv=None):
    """Write the command line that started this run to <run_dir>/command.txt (reports quote it to reproduce the run);
    a run that torchrun started is recorded with its torchrun."""
    argv = sys.argv if argv is None else argv
    world_size = torchrun_world_size()
    launcher = ['torchrun', f'--nproc_per_node={world_size}'] if world_size > 1 else ['python']
    with atomic_write(os.path.join(run_dir, 'command.txt'), 'w') as f:
        f.write(shlex.join([*launcher, *argv]) + '\n')

#----------------------------------------------------------------------------
# Cache directory and open_url: plain paths, file:// and http(s):// with a download cache.

def cache_dir(*subdirs):
    """$GANAS_CACHE, else ~/.cache/ganas, joined with `subdirs`."""
    root = os.environ.get('GANAS_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'ganas')
    return os.path.join(root, *subdirs)

def is_url(obj):
    return isinstance(obj, str) and re.match(r'^[a-z][a-z0-9+.-]*://', obj) is not None

def cached_download_path(url):
    """Where open_url keeps the download of an http(s) `url`: cache_dir('downloads')/<md5 of url>_<file name>."""
    url_hash = hashlib.md5(url.encode('utf-8')).hexdigest()
    url_name = re.sub(r'[^0-9a-zA-Z._-]', '_', os.path.basename(urllib.parse.urlparse(url).path)) or 'download'
    return os.path.join(cache_dir('downloads'), f'{url_hash}_{url_name}')

def open_url(url, cache=True, num_attempts=3, verbose=True, return_filename=False):
    """Open a local path, file:// URL or http(s):// URL as a binary file object (or return its local filename).

    Downloads are stored under cache_dir('downloads') keyed by the URL's hash, written atomically,
    so a second call, or a call with no network, reuses them.
    """
    url = os.fspath(url)
    if not is_url(url):
        if not os.path.isfile(url):
            raise UserError(f'{url}: no such file')
        return url if return_filename else open(url, 'rb')
    if url.startswith('file://'):
        path = urllib.parse.unquote(urllib.parse.urlparse(url).path)
        return open_url(path, return_filename=return_filename)

    cache_file = cached_download_path(url)
    if cache and os.path.isfile(cache_file):
        return cache_file if return_filename else open(cache_file, 'rb')
    if not cache and return_filename:
        raise ValueError('return_filename=True requires cache=True')

    import requests # imported here so that plain-path use needs no network stack
    data = None
    for attempt in range(num_attempts):
        try:
            if verbose:
                print(f'Downloading {url} ...', end='', flush=True)
            with requests.get(url, timeout=60) as res:
                res.raise_for_status()
                data = res.content
            if verbose:
                print(' done')
            break
        except requests.RequestException as err:
            if verbose:
                print(' failed')
            if attempt == num_attempts - 1:
                raise UserError(f'{url}: download failed ({err.__class__.__name__}); '
                                f'download it by hand and pass the local path instead') from err
            time.sleep(1 + attempt)
    if cache:
        with atomic_write(cache_file) as f:
            f.write(data)
        if return_filename:
            return cache_file
    import io
    return io.BytesIO(data)

#----------------------------------------------------------------------------
# Numbered run directories: <outdir>/00000-<desc>, as StyleGAN2-ADA names them.

def sub_dirs(outdir):
    """Names of the directories in `outdir` (none when it does not exist): taken before and after a run, the
    difference is the run directory that the run made."""
    if not os.path.isdir(outdir):
        return set()
    return {name for name in os.listdir(outdir) if os.path.isdir(os.path.join(outdir, name))}

def next_run_dir(outdir, desc):
    """Path of the next numbered run directory under `outdir` (not created)."""
    numbered = [re.match(r'^(\d+)', name) for name in sub_dirs(outdir)]
    run_id = max((int(m.group(1)) for m in numbered if m is not None), default=-1) + 1
    return os.path.join(outdir, f'{run_id:05d}-{desc}')

def make_run_dir(outdir, desc):
    """Create and return the next numbered run directory under `outdir`."""
    run_dir = next_run_dir(outdir, desc)
    os.makedirs(run_dir, exist_ok=False)
    return run_dir

#----------------------------------------------------------------------------
# Logger: tee stdout and stderr into a file (log.txt of a run) while it is active.

class Logger:
    def __init__(self, file_name=None, file_mode='a', should_flush=True):
        self.file = open(file_name, file_mode) if file_name is not None else None
        self.should_flush = should_flush
        self.stdout = sys.stdout
        self.stderr = sys.stderr
        sys.stdout = self
        sys.stderr = self

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def write(self, text):
        if isinstance(text, bytes):
            text = text.decode()
        if len(text) == 0:
            return
        if self.file is not None:
            self.file.write(text)
        self.stdout.write(text)
        if self.should_flush:
            self.flush()

    def flush(self):
        if self.file is not None:
            self.file.flush()
        self.stdout.flush()

    def isatty(self):
        return False # keep tqdm and friends from drawing control sequences into log.txt

    def close(self):
        self.flush()
        if sys.stdout is self:
            sys.stdout = self.stdout
        if sys.stderr is self:
            sys.stderr = self.stderr
        if self.file is not None:
            self.file.close()
            self.file = None

#----------------------------------------------------------------------------
