"""Network snapshots (pickle, and safetensors + JSON config as nanoGPT keeps model_args) and training state with RNG."""

import json
import os
import pickle
import random
import re
import shutil

import numpy as np
import safetensors
import safetensors.torch
import torch

import dnnlib
from . import distributed
from . import persistence

#----------------------------------------------------------------------------
# Version of the JSON config stored in the safetensors metadata under _metadata_key.

_safe_format_version = 1
_metadata_key = 'ganas'
_one_line = persistence._one_line # one-line error summary shared with load_pickle()

#----------------------------------------------------------------------------
# StyleGAN2-ADA-compatible pickle, written atomically.

def save_pickle(path, obj):
    with dnnlib.util.atomic_write(path) as f:
        pickle.dump(obj, f)

#----------------------------------------------------------------------------
# JSON checks: configs must survive a JSON round trip unchanged (no int keys silently turned into strings).

def _check_json(value, where):
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not np.isfinite(value):
            raise TypeError(f'{where} is {value}, which JSON cannot hold')
        return
    if isinstance(value, (list, tuple)):
        for idx, item in enumerate(value):
            _check_json(item, f'{where}[{idx}]')
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f'{where} has the non-string key {key!r}')
            _check_json(item, f'{where}.{key}')
        return
    raise TypeError(f'{where} is a {type(value).__module__}.{type(value).__qualname__}, which JSON cannot hold')

def _class_name(module):
    cls = type(module)
    module_name = getattr(cls, '_persistent_module_name', cls.__module__) # embedded copies keep their origin
    return f'{module_name}.{cls.__qualname__}'

def _is_trusted_name(name):
    return isinstance(name, str) and name.split('.')[0] in persistence._trusted_packages

def _untrusted_names(value):
    """Every class_name/func_name value inside `value` that points outside the trusted packages."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ('class_name', 'func_name') and not _is_trusted_name(item):
                found.append(str(item))
            found += _untrusted_names(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found += _untrusted_names(item)
    return found

#----------------------------------------------------------------------------
# Safe snapshot: one .safetensors file with every module's state_dict under '<name>.' and, in its metadata,
# JSON with each module's class name and constructor arguments plus `extra`.

def save_safe(path, modules, extra=None):
    """Write `modules` ({'G': G, 'D': D, ...}, persistent classes) and `extra` (JSON) to `path` atomically."""
    extra = dict(extra or {})
    _check_json(extra, 'extra')
    config = dict(format_version=_safe_format_version, modules=dict(), extra=extra)
    tensors = dict()
    for name, module in modules.items():
        if not isinstance(name, str) or '.' in name or name in extra:
            raise ValueError(f'save_safe: module name {name!r} must be a string without dots, distinct from extra keys')
        if not (isinstance(module, torch.nn.Module) and persistence.is_persistent(module)):
            raise TypeError(f'save_safe: {name} is a {type(module).__qualname__}, not a @persistent_class module')
        class_name = _class_name(module)
        if not _is_trusted_name(class_name):
            raise TypeError(f'save_safe: {name} is a {class_name}, outside ganas; a safe file could not rebuild it')
        init_args, init_kwargs = module.init_args, module.init_kwargs
        _check_json(list(init_args), f'{name}.init_args')
        _check_json(dict(init_kwargs), f'{name}.init_kwargs')
        config['modules'][name] = dict(class_name=class_name, init_args=list(init_args), init_kwargs=dict(init_kwargs))
        for key, tensor in module.state_dict().items():
            tensors[f'{name}.{key}'] = tensor.detach().cpu().clone(memory_format=torch.contiguous_format)
    metadata = {'format': 'pt', _metadata_key: json.dumps(config, allow_nan=False)}
    data = safetensors.torch.save(tensors, metadata=metadata)
    with dnnlib.util.atomic_write(path) as f:
        f.write(data)

#----------------------------------------------------------------------------
# Load a safe snapshot without running stored code: only ganas @persistent_class modules are constructed.

def _read_safe(path):
    if not os.path.isfile(path):
        raise dnnlib.util.UserError(f'{path}: no such file')
    try:
        with safetensors.safe_open(path, framework='pt', device='cpu') as f:
            metadata = f.metadata() or dict()
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as err: # safetensors raises its own error type for every malformed file
        raise dnnlib.util.UserError(f'{path}: truncated or not a safetensors file ({_one_line(err)})') from err
    if _metadata_key not in metadata:
        raise dnnlib.util.UserError(f'{path}: safetensors file without ganas metadata; '
                                    f'it holds weights but no network config')
    try:
        config = json.loads(metadata[_metadata_key])
        version = config['format_version']
        modules, extra = config['modules'], config['extra']
        assert isinstance(modules, dict) and isinstance(extra, dict)
    except (ValueError, KeyError, TypeError, AssertionError) as err:
        raise dnnlib.util.UserError(f'{path}: malformed ganas metadata ({_one_line(err)})') from err
    if version != _safe_format_version:
        raise dnnlib.util.UserError(f'{path}: safe format version {version} is not {_safe_format_version}; '
                                    f'use the ganas version that wrote it')
    return modules, extra, tensors

def _build_module(path, name, spec):
    class_name = spec.get('class_name') if isinstance(spec, dict) else None
    untrusted = ([] if _is_trusted_name(class_name) else [str(class_name)]) + _untrusted_names(spec.get('init_kwargs'))
    if untrusted:
        raise dnnlib.util.UserError(f'{path}: {name} refers to code outside ganas ({untrusted[0]}); '
                                    f'refusing to construct it')
    cls = persistence.former_name_class(class_name, spec.get('init_kwargs'))
    try:
        cls = cls or dnnlib.util.get_obj_by_name(class_name)
    except (ImportError, AttributeError) as err:
        raise dnnlib.util.UserError(f'{path}: {name} needs {class_name}, which this ganas does not have') from err
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module) and persistence.is_persistent(cls)):
        raise dnnlib.util.UserError(f'{path}: {name} refers to {class_name}, which is not a ganas network class')
    try:
        return cls(*spec.get('init_args', []), **spec.get('init_kwargs', {}))
    except (TypeError, ValueError, AssertionError) as err:
        raise dnnlib.util.UserError(f'{path}: cannot construct {name} as {class_name} ({_one_line(err)})') from err

def load_safe(path, device='cpu'):
    """Return {name: module (eval mode, requires_grad off), **extra} from a file written by save_safe()."""
    path = os.fspath(path)
    modules, extra, tensors = _read_safe(path)
    result = dict()
    for name, spec in modules.items():
        module = _build_module(path, name, spec)
        prefix = name + '.'
        state = {key[len(prefix):]: tensors.pop(key) for key in list(tensors) if key.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise dnnlib.util.UserError(f'{path}: weights of {name} do not fit {spec["class_name"]} '
                                        f'({_one_line(err)})') from err
        result[name] = module.eval().requires_grad_(False).to(device)
    if tensors:
        raise dnnlib.util.UserError(f'{path}: tensors {", ".join(sorted(tensors)[:3])} '
                                    f'belong to no module in the config')
    result.update(extra)
    return result

#----------------------------------------------------------------------------
# Load networks from a .safetensors file, a .pkl (preferring its safe twin) or a URL.

def load_network(path_or_url, allow_pickle=False, device='cpu', convert_records=None):
    """Return the snapshot dict ({'G': ..., 'D': ..., 'G_ema': ..., ...}) with modules moved to `device`.

    A .pkl whose safe twin (same stem, .safetensors) exists loads the twin; other pickles load through
    persistence.load_pickle(), which refuses foreign code unless allow_pickle. convert_records(data, path), when
    given, rebuilds the persistent objects of another code base's pickle, read as data (persistence.PersistentRecord),
    without running their code, with or without allow_pickle (training.stylegan2_ada_import passes StyleGAN2-ADA's).
    """
    path = dnnlib.util.open_url(path_or_url, return_filename=True)
    if path.endswith('.safetensors'):
        return load_safe(path, device=device)
    twin = os.path.splitext(path)[0] + '.safetensors'
    if os.path.isfile(twin):
        return load_safe(twin, device=device)
    try:
        data = persistence.load_pickle(path, foreign_records=(convert_records is not None))
    except persistence.PickleRefused:
        if not allow_pickle:
            raise
        data = persistence.load_pickle(path, allow_pickle=True)
    if persistence.holds_records(data):
        try:
            data = convert_records(data, path)
        except dnnlib.util.UserError:
            if not allow_pickle:
                raise
            data = persistence.load_pickle(path, allow_pickle=True) # the file's own code builds what ganas cannot
    if not isinstance(data, dict):
        raise dnnlib.util.UserError(f'{path}: expected a dict of networks (G, D, G_ema, ...), '
                                    f'got a {type(data).__name__}')
    return {key: value.to(device) if isinstance(value, torch.nn.Module) else value for key, value in data.items()}

#----------------------------------------------------------------------------
# RNG state of python, numpy, torch and every CUDA device, as tensors and plain types so that
# load_state() can use weights_only=True.

def capture_rng_state():
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(key=torch.from_numpy(np_state['state']['key'].astype(np.int64)), pos=int(np_state['state']['pos']),
                   has_gauss=int(np_state['has_gauss']), gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    )
    return state

def gather_ranks(name, value):
    """{name: process 0's value, name + '_ranks': every process's, several processes only}: a per-process part of a
    run's saved state (RNG states, running means); collective: every process calls it."""
    values = distributed.gather_object(value)
    return {name: values[0], f'{name}_ranks': values} if len(values) > 1 else {name: values[0]}

def rank_value(state, name, rank):
    """Process `rank`'s value saved by gather_ranks(), or None where the saved run had no such process (which then
    keeps its own, e.g. the RNG state it was seeded with, so that no two processes draw the same numbers)."""
    values = state.get(f'{name}_ranks', [state[name]])
    return values[rank] if rank < len(values) else None

def restore_rng_state(state):
    """Restore capture_rng_state()'s result; CUDA states apply to the devices present (none on a CPU machine)."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state['numpy']
    np.random.set_state(('MT19937', np_state['key'].numpy().astype(np.uint32), np_state['pos'],
                         np_state['has_gauss'], np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if torch.cuda.is_available():
        for device, cuda_state in enumerate(state['cuda'][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, device=device)

def restore_rank_rng_state(state, rank):
    """Restore process `rank`'s RNG state from a state holding gather_ranks('rng', ...), where it has one."""
    rng_state = rank_value(state, 'rng', rank)
    if rng_state is not None:
        restore_rng_state(rng_state)

#----------------------------------------------------------------------------
# Training state (optimisers, counters, RNG): torch.save atomically, loaded with weights_only=True.

def save_state(path, state):
    with dnnlib.util.atomic_write(path) as f:
        torch.save(state, f)

def load_state(path):
    """Load save_state()'s file on CPU; a file holding more than tensors and plain types is refused."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise dnnlib.util.UserError(f'{path}: no such file')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if 'weights only' in str(err).lower() or 'weights_only' in str(err):
            raise dnnlib.util.UserError(f'{path}: holds objects that weights-only loading refuses '
                                        f'({_one_line(err)})') from err
        raise dnnlib.util.UserError(f'{path}: truncated or not a training state ({_one_line(err)})') from err
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise dnnlib.util.UserError(f'{path}: truncated or not a training state ({_one_line(err)})') from err

#----------------------------------------------------------------------------
# Checkpoints of a run directory: training writes network-snapshot-NNNNNN.{pkl,safetensors} plus
# training-state-NNNNNN.pt (NNNNNN = kimg); searches write search-state-NNNNNN.pt (NNNNNN = iteration).

_checkpoint_patterns = {
    'training': re.compile(r'^(?:network-snapshot|training-state)-(\d+)\.(?:pkl|safetensors|pt)$'),
    'search':   re.compile(r'^search-state-(\d+)\.pt$'),
}

def checkpoint_files(run_dir, index, kind):
    """Every file of checkpoint `index` in `run_dir`, existing or not: snapshot pkl, safetensors and state
    for training, the state alone for a search."""
    if kind == 'search':
        return [os.path.join(run_dir, f'search-state-{index:06d}.pt')]
    stem = os.path.join(run_dir, f'network-snapshot-{index:06d}')
    return [stem + '.pkl', stem + '.safetensors', os.path.join(run_dir, f'training-state-{index:06d}.pt')]

def _run_kind(run_dir, kind):
    names = os.listdir(run_dir) if os.path.isdir(run_dir) else []
    if kind is None:
        kind = 'training' if any(_checkpoint_patterns['training'].match(n) for n in names) else 'search'
    if kind not in _checkpoint_patterns:
        raise ValueError(f'kind must be None, "training" or "search", got {kind!r}')
    indices = sorted({int(m.group(1)) for m in map(_checkpoint_patterns[kind].match, names) if m})
    return kind, indices

#----------------------------------------------------------------------------
# Validate one checkpoint by reading every byte that resume would read, without constructing networks
# from a pickle when its safe twin exists. Returns (path to resume from, None) or (None, reason).

def _validate_checkpoint(run_dir, index, kind):
    files = checkpoint_files(run_dir, index, kind)
    state_path = files[-1]
    if not os.path.isfile(state_path):
        return None, f'{os.path.basename(state_path)} is missing'
    try:
        if kind == 'training':
            pkl, safe = files[0], files[1]
            if os.path.isfile(safe):
                _read_safe(safe)
            elif os.path.isfile(pkl):
                persistence.load_pickle(pkl)
            else:
                return None, f'network-snapshot-{index:06d} is missing'
        load_state(state_path)
    except dnnlib.util.UserError as err:
        return None, _one_line(err)
    if kind == 'training':
        return (files[1] if not os.path.isfile(files[0]) else files[0]), None
    return state_path, None

#----------------------------------------------------------------------------
# `--resume` without a path: the newest valid checkpoint of a run directory.

def find_resume_checkpoint(run_dir, kind=None, log=print):
    """Return the path to resume from (network-snapshot-NNNNNN.pkl, or .safetensors when no pickle was
    written, for training; search-state-NNNNNN.pt for a search), or None when `run_dir` holds no checkpoint.

    `kind` None guesses training vs search from the file names. Checkpoints are tried newest first; each
    one skipped for being truncated, corrupt or incomplete is reported to `log` in one line. Raises
    UserError when checkpoints exist but none is valid.
    """
    run_dir = os.fspath(run_dir)
    kind, indices = _run_kind(run_dir, kind)
    skipped = []
    for index in reversed(indices):
        path, reason = _validate_checkpoint(run_dir, index, kind)
        if path is not None:
            return path
        skipped.append(index)
        log(f'warning: {kind} checkpoint {index:06d} in {run_dir} is unusable ({reason}); trying the previous one')
    if skipped:
        raise dnnlib.util.UserError(f'{run_dir}: none of its {len(skipped)} {kind} checkpoints is readable; '
                                    f'cannot resume')
    return None

#----------------------------------------------------------------------------
# `--resume` alone: the newest valid checkpoint among the run directories NNNNN-<desc> of one configuration.

def find_latest_checkpoint(outdir, desc, kind, log=print, matches=None):
    """Return find_resume_checkpoint() of the newest run directory `<outdir>/NNNNN-<desc>` (desc None: any name)
    for which `matches(run_dir)` holds (None: every one) that holds a valid checkpoint, or None. A run killed before
    its first checkpoint, or one whose checkpoints are all unreadable, is reported to `log` and passed over for the
    one before it."""
    outdir = os.fspath(outdir)
    pattern = re.compile(r'^(\d+)-' + (re.escape(desc) if desc is not None else '.+') + r'$')
    names = os.listdir(outdir) if os.path.isdir(outdir) else []
    runs = sorted(((int(m.group(1)), m.group(0)) for m in map(pattern.match, names) if m), reverse=True)
    for _number, name in runs:
        run_dir = os.path.join(outdir, name)
        if not os.path.isdir(run_dir) or (matches is not None and not matches(run_dir)):
            continue
        try:
            path = find_resume_checkpoint(run_dir, kind=kind, log=log)
        except dnnlib.util.UserError:
            log(f'warning: {run_dir} has no readable {kind} checkpoint; trying the run before it')
            continue
        if path is not None:
            return path
        log(f'warning: {run_dir} holds no {kind} checkpoint; trying the run before it')
    return None

#----------------------------------------------------------------------------
# `--keep`: delete all but the newest K checkpoints and the best one by a metric.

def _best_index(run_dir, metric):
    """Index of the snapshot with the best value in metric-<metric>.jsonl (lowest, or highest for IS)."""
    path = os.path.join(run_dir, f'metric-{metric}.jsonl')
    if not os.path.isfile(path):
        return None
    higher_is_better = metric.startswith('is')
    best = None
    with open(path) as f:
        for line in f:
            try:
                entry = json.loads(line)
                value = float(entry['results'][metric] if metric in entry['results']
                              else next(iter(entry['results'].values())))
                m = re.search(r'-(\d+)\.(?:pkl|safetensors)$', entry['snapshot_pkl'] or '')
            except (ValueError, KeyError, TypeError, StopIteration):
                continue # a line cut short by a crash, or one without a snapshot
            if m is None or not np.isfinite(value):
                continue
            if best is None or (value > best[0] if higher_is_better else value < best[0]):
                best = (value, int(m.group(1)))
    return None if best is None else best[1]

def prune_checkpoints(run_dir, keep, best=None, kind=None):
    """Delete the files of every checkpoint in `run_dir` except the newest `keep` and the best one.

    `best`: None, a checkpoint index to keep, or a metric name whose metric-<name>.jsonl picks it.
    Returns the deleted paths, sorted.
    """
    if keep < 1:
        raise ValueError(f'keep must be at least 1, got {keep}')
    run_dir = os.fspath(run_dir)
    kind, indices = _run_kind(run_dir, kind)
    if isinstance(best, str):
        best = _best_index(run_dir, best)
    kept = set(indices[-keep:]) | ({best} if best is not None else set())
    deleted = []
    for index in indices:
        if index in kept:
            continue
        for path in checkpoint_files(run_dir, index, kind):
            if os.path.isfile(path):
                os.remove(path)
                deleted.append(path)
    return sorted(deleted)

#----------------------------------------------------------------------------
# Free-disk check before writing a checkpoint, so that a full disk never leaves a run without one.

def _format_bytes(num):
    for unit in ['B', 'KiB', 'MiB', 'GiB']:
        if num < 1024:
            return f'{num:.1f} {unit}' if unit != 'B' else f'{num} B'
        num /= 1024
    return f'{num:.1f} TiB'

def tensor_bytes(value):
    """Bytes of every tensor in `value` (a module, tensor, or dicts and lists of them): the size of a checkpoint
    of it, give or take the pickle framing."""
    if isinstance(value, torch.nn.Module):
        value = value.state_dict()
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(item) for item in value)
    return 0

def check_free_disk(path, needed_bytes):
    """Raise UserError when the disk holding `path` (or its nearest existing parent) has less than
    `needed_bytes` free; return the free byte count otherwise."""
    target = os.path.abspath(os.fspath(path))
    while not os.path.exists(target) and os.path.dirname(target) != target:
        target = os.path.dirname(target)
    free = shutil.disk_usage(target).free
    if free < needed_bytes:
        raise dnnlib.util.UserError(f'{path}: needs {_format_bytes(needed_bytes)} but only {_format_bytes(free)} '
                                    f'is free on its disk; free some space or keep fewer checkpoints (--keep)')
    return free

#----------------------------------------------------------------------------
