"""Persistent classes whose pickles carry source and constructor arguments (StyleGAN2-ADA), plus safe unpickling."""

import _compat_pickle
import builtins
import collections
import copy
import hashlib
import importlib
import inspect
import io
import os
import pickle
import sys
import types

import numpy as np
import torch

import dnnlib

#----------------------------------------------------------------------------
# Module state: the meta layout version, the packages whose installed classes safe loading may rebuild,
# and registries of decorated classes and module sources.

_version = 6 # meta layout of StyleGAN2-ADA pickles (type, version, module_src, class_name, state) plus module_name
_trusted_packages = ('dnnlib', 'torch_utils', 'training', 'metrics', 'nas')
_decorators = set()         # registry: every class returned by persistent_class()
_module_src = dict()        # cache: module name -> its source, captured when its first class is decorated
_src_to_module = dict()     # cache: sha256 of embedded source -> module executed from it
_embedded_origin = dict()   # cache: embedded module name -> name of the module the source came from (or None)
_former_names = dict()      # registry: former 'module.Class' of a moved class -> [(class, init kwarg that marks it)]

#----------------------------------------------------------------------------
# Is `obj` a persistent class, or an instance of one?

def is_persistent(obj):
    try:
        if obj in _decorators:
            return True
    except TypeError:
        pass # unhashable instances
    return type(obj) in _decorators

#----------------------------------------------------------------------------
# Class decorator: instances remember deep copies of their constructor arguments, and pickle as
# (_reconstruct_persistent_obj, meta) where meta embeds the defining module's source.

def persistent_class(orig_class):
    """Make `orig_class` persistent; use as `@persistence.persistent_class` on an nn.Module subclass."""
    assert isinstance(orig_class, type)
    if is_persistent(orig_class):
        return orig_class
    module_name = orig_class.__module__
    origin = _embedded_origin.get(module_name) or module_name # an embedded copy keeps its original module name
    src = _module_source(module_name) # captured now so that later edits of the file do not leak into pickles

    class Decorator(orig_class):
        _persistent_module_name = origin
        _persistent_class_name = orig_class.__name__
        _persistent_src = src

        def __init__(self, *args, **kwargs):
            record = type(self) is Decorator # only the outermost persistent class records its arguments
            if record:
                init_args = copy.deepcopy(args) # copied before __init__ can mutate them
                init_kwargs = copy.deepcopy(kwargs)
            super().__init__(*args, **kwargs)
            if record:
                self._init_args = init_args
                self._init_kwargs = init_kwargs

        @property
        def init_args(self):
            return copy.deepcopy(self._init_args)

        @property
        def init_kwargs(self):
            return dnnlib.EasyDict(copy.deepcopy(self._init_kwargs))

        def __reduce__(self):
            cls = type(self)
            if cls not in _decorators:
                raise TypeError(f'{cls.__module__}.{cls.__qualname__} subclasses a persistent class; '
                                f'decorate it with @persistent_class too')
            if cls._persistent_src is None:
                raise TypeError(f'cannot pickle {cls.__qualname__}: '
                                f'the source of module {cls.__module__} is unavailable')
            meta = dict(type='class', version=_version, module_src=cls._persistent_src,
                        class_name=cls._persistent_class_name, module_name=cls._persistent_module_name,
                        state=_get_state(self))
            return (_reconstruct_persistent_obj, (meta,))

        def __deepcopy__(self, memo):
            # Copy in-process without a source round trip, so G_ema = deepcopy(G) keeps G's class.
            cls = type(self)
            obj = cls.__new__(cls)
            memo[id(self)] = obj
            _set_state(obj, copy.deepcopy(_get_state(self), memo))
            return obj

    Decorator.__name__ = orig_class.__name__
    Decorator.__qualname__ = orig_class.__qualname__
    Decorator.__module__ = orig_class.__module__
    Decorator.__doc__ = orig_class.__doc__
    _decorators.add(Decorator)
    return Decorator

def _module_source(module_name):
    if module_name not in _module_src:
        try:
            _module_src[module_name] = inspect.getsource(sys.modules[module_name])
        except (KeyError, OSError, TypeError):
            _module_src[module_name] = None # e.g. an interactive session; pickling will say so
    return _module_src[module_name]

#----------------------------------------------------------------------------
# Classes that moved keep loading under their former names: the class that moved registers the name its pickles
# and safe files were written with (a lower layer never names the higher one it moved to). With marker_kwarg,
# only records whose init kwargs hold that argument (not None) are the moved class, e.g. a StyleGAN2 Generator
# with a genotype; the others stay with the class of the former name.

def register_former_name(former_name, cls, marker_kwarg=None):
    """Build `cls` (a persistent class) for records of `former_name` ('module.Class')."""
    assert is_persistent(cls) and isinstance(former_name, str) and '.' in former_name
    _former_names.setdefault(former_name, []).append((cls, marker_kwarg))

def former_name_class(name, init_kwargs):
    """The class registered for records named `name` with these init kwargs, or None."""
    for cls, marker_kwarg in _former_names.get(name, []):
        if marker_kwarg is None or (isinstance(init_kwargs, dict) and init_kwargs.get(marker_kwarg) is not None):
            return cls
    return None

#----------------------------------------------------------------------------
# Trusted unpickling (plain pickle.load or allow_pickle=True): rebuild from the installed class when
# its source is the embedded one, else execute the embedded source into a fresh module. State goes
# through __getstate__/__setstate__ where the class has them.

def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get('type') != 'class':
        raise pickle.UnpicklingError('malformed persistent object record')
    if meta.get('version') != _version:
        raise pickle.UnpicklingError(f'persistent object format version {meta.get("version")} is not {_version}')
    class_name = meta['class_name']
    module_name = meta.get('module_name')
    cls = None
    if module_name in sys.modules and _module_src.get(module_name) == meta['module_src']:
        cls = sys.modules[module_name].__dict__.get(class_name)
    if not is_persistent(cls):
        module = _module_from_src(meta['module_src'], module_name)
        cls = persistent_class(module.__dict__[class_name])
    return _restore(cls, meta['state'])

def _module_from_src(src, origin):
    key = hashlib.sha256(src.encode('utf-8')).hexdigest()
    module = _src_to_module.get(key)
    if module is None:
        name = f'_ganas_embedded_{key[:16]}'
        module = types.ModuleType(name)
        sys.modules[name] = module # classes and dataclasses look their module up by name
        _module_src[name] = src
        _embedded_origin[name] = origin
        try:
            exec(compile(src, f'<embedded source of {origin or name}>', 'exec'), module.__dict__) # trusted mode only
        except BaseException:
            del sys.modules[name]
            raise
        _src_to_module[key] = module
    return module

def _get_state(obj):
    getstate = getattr(obj, '__getstate__', None) # object.__getstate__ exists from Python 3.11
    state = getstate() if getstate is not None else obj.__dict__
    if state is None:
        return dict() # object.__getstate__() gives None for an empty __dict__
    return dict(state) if isinstance(state, dict) else state

def _set_state(obj, state):
    setstate = getattr(obj, '__setstate__', None)
    if callable(setstate):
        setstate(state)
    else:
        obj.__dict__.update(state)

def _restore(cls, state):
    obj = cls.__new__(cls)
    _set_state(obj, state)
    return obj

#----------------------------------------------------------------------------
# Errors of load_pickle(): one line naming the file.

class PickleRefused(dnnlib.util.UserError):
    """A pickle refers to code that safe loading will not run."""
    def __init__(self, file_name, what):
        super().__init__(f'{file_name}: pickle refers to code outside ganas ({what}); '
                         f'pass --allow-pickle only if you trust it')
        self.file_name = file_name
        self.what = what

def _one_line(err):
    text = ' '.join(str(err).split())
    text = text if len(text) <= 200 else text[:197] + '...'
    return f'{type(err).__name__}: {text}' if text else type(err).__name__

#----------------------------------------------------------------------------
# Safe replacements for the functions that plain pickles of tensors call. torch.storage._load_from_bytes
# runs torch.load(weights_only=False); ours uses weights_only=True. Tensor records are bounds-checked
# because set_() would otherwise grow a storage and expose uninitialised memory.

def _check(condition, what):
    if not condition:
        raise pickle.UnpicklingError(f'malformed {what} record')

def _is_int_tuple(x, minimum=0):
    return isinstance(x, (tuple, list, torch.Size)) and all(type(v) is int and v >= minimum for v in x)

def _safe_load_from_bytes(b):
    """Raises pickle.UnpicklingError when the nested torch.save data is malformed or names any code."""
    _check(isinstance(b, (bytes, bytearray)), 'storage')
    storage = torch.load(io.BytesIO(b), weights_only=True, map_location='cpu')
    _check(isinstance(storage, torch.storage.TypedStorage), 'storage')
    return storage

def _safe_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    _check(isinstance(storage, torch.storage.TypedStorage), 'tensor')
    _check(type(storage_offset) is int and storage_offset >= 0, 'tensor')
    _check(_is_int_tuple(size) and _is_int_tuple(stride) and len(size) == len(stride), 'tensor')
    _check(isinstance(requires_grad, bool) and not backward_hooks, 'tensor')
    _check(metadata is None or isinstance(metadata, dict), 'tensor')
    _check(all(isinstance(v, bool) for v in (metadata or {}).values()), 'tensor')
    if all(s > 0 for s in size):
        extent = storage_offset + sum((s - 1) * t for s, t in zip(size, stride)) + 1
        _check(extent <= storage._size(), 'tensor')
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, tuple(size), tuple(stride), requires_grad,
                                           collections.OrderedDict(), metadata)

def _safe_rebuild_parameter(data, requires_grad, backward_hooks):
    _check(isinstance(data, torch.Tensor) and isinstance(requires_grad, bool) and not backward_hooks, 'parameter')
    return torch.nn.Parameter(data, requires_grad)

def _safe_rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    param = _safe_rebuild_parameter(data, requires_grad, backward_hooks)
    parts = state if isinstance(state, tuple) else (state,)
    for part in parts:
        _check(part is None or isinstance(part, dict), 'parameter')
        for key, value in (part or {}).items():
            _check(isinstance(key, str) and not key.startswith('_'), 'parameter') # plain attributes only
            _check(value is None or isinstance(value, (bool, int, float, str)), 'parameter')
            setattr(param, key, value)
    return param

def _safe_codecs_encode(obj, encoding='utf-8'):
    _check(isinstance(obj, str) and encoding in ('latin1', 'latin-1'), 'bytes') # protocol 2 writes bytes this way
    return obj.encode('latin1')

#----------------------------------------------------------------------------
# The whitelist of globals that safe unpickling resolves: (module, name) -> object.

def _safe_globals():
    np_core = getattr(np, '_core', None) or np.core # numpy 2 renamed numpy.core to numpy._core
    table = {
        ('collections', 'OrderedDict'):                 collections.OrderedDict,
        ('dnnlib.util', 'EasyDict'):                    dnnlib.util.EasyDict,
        ('_codecs', 'encode'):                          _safe_codecs_encode,
        ('torch._utils', '_rebuild_tensor_v2'):         _safe_rebuild_tensor_v2,
        ('torch._utils', '_rebuild_parameter'):         _safe_rebuild_parameter,
        ('torch._utils', '_rebuild_parameter_with_state'): _safe_rebuild_parameter_with_state,
        ('torch', 'Size'):                              torch.Size,
        ('torch', 'device'):                            torch.device,
        ('numpy', 'ndarray'):                           np.ndarray,
        ('numpy', 'dtype'):                             np.dtype,
    }
    for name in ('set', 'frozenset', 'slice', 'complex', 'range', 'bytearray'):
        table[('builtins', name)] = getattr(builtins, name)
    for prefix in ('numpy._core', 'numpy.core'): # pickles written under numpy 1.x and 2.x
        table[(prefix + '.multiarray', '_reconstruct')] = np_core.multiarray._reconstruct
        table[(prefix + '.multiarray', 'scalar')] = np_core.multiarray.scalar
        if hasattr(np_core.numeric, '_frombuffer'):
            table[(prefix + '.numeric', '_frombuffer')] = np_core.numeric._frombuffer
    spectral_norm = importlib.import_module('torch.nn.utils.spectral_norm') # the package attribute is the function
    for name in ('SpectralNorm', 'SpectralNormStateDictHook', 'SpectralNormLoadStateDictPreHook'):
        table[('torch.nn.utils.spectral_norm', name)] = getattr(spectral_norm, name)
    return table

_safe_globals_table = None # cache: built on first safe load

def _safe_global(module, name):
    global _safe_globals_table
    if _safe_globals_table is None:
        _safe_globals_table = _safe_globals()
    obj = _safe_globals_table.get((module, name))
    if obj is not None:
        return obj
    if module == 'torch' and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    if module.startswith('torch.nn.modules.') and module in sys.modules: # torch's own layers and containers
        obj = getattr(sys.modules[module], name, None)
        if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
            return obj
    return None

#----------------------------------------------------------------------------
# A persistent object of a pickle written by StyleGAN2-ADA's own code (its records embed their source and name no
# module), kept as data when load_pickle(foreign_records=True) asks for it: the embedded source is never run.

class PersistentRecord:
    def __init__(self, class_name, state):
        self.class_name = class_name    # Name of the class in the embedded source, e.g. 'Generator'.
        self.state = state              # The object's __dict__: _parameters, _buffers, _modules, _init_kwargs, ...

def holds_records(data):
    """Whether an unpickled pickle holds another code base's networks read as data: a snapshot dict with
    PersistentRecords, or a TensorFlow pickle's networks (one TensorFlowNetwork or a tuple of them)."""
    if isinstance(data, dict):
        return any(isinstance(value, PersistentRecord) for value in data.values())
    networks = data if isinstance(data, tuple) else (data,)
    return len(networks) > 0 and all(isinstance(net, TensorFlowNetwork) for net in networks)

#----------------------------------------------------------------------------
# A network of a TensorFlow-era pickle (StyleGAN2 and StyleGAN2-ADA's TensorFlow code: dnnlib.tflib.network.Network)
# as the state it pickled: version, name, static_kwargs, components (name -> network), build_module_src,
# build_func_name, variables ((name, numpy array) pairs). Kept as data when load_pickle(foreign_records=True) asks for
# it; the graph-building source it carries is never run.

_TENSORFLOW_NETWORK = ('dnnlib.tflib.network', 'Network')

class TensorFlowNetwork:
    state = None # Until the pickle sets it.

    def __setstate__(self, state):
        _check(isinstance(state, dict), 'TensorFlow network')
        self.state = state # The pickled state, a plain dict.

#----------------------------------------------------------------------------
# Restricted unpickler: whitelisted globals only; persistent objects are rebuilt from the installed class
# of the same module and name inside _trusted_packages, never from their embedded source.

# TensorFlow-era network pickles (StyleGAN, StyleGAN2 and StyleGAN2-ADA's TensorFlow code) name this package: they hold
# TensorFlow graphs, not code ganas could run, so they are named for what they are.
_TENSORFLOW_PACKAGE = 'dnnlib.tflib'

class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, file, file_name, foreign_records=False):
        super().__init__(file)
        self.file_name = file_name
        self.foreign_records = foreign_records

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING: # Python 2 names, as protocols 0-2 write them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) == ('torch_utils.persistence', '_reconstruct_persistent_obj'):
            return self._reconstruct
        if (module, name) == ('torch.storage', '_load_from_bytes'):
            return self._load_from_bytes
        if (module, name) == _TENSORFLOW_NETWORK and self.foreign_records:
            return TensorFlowNetwork
        if module == _TENSORFLOW_PACKAGE or module.startswith(_TENSORFLOW_PACKAGE + '.'):
            raise dnnlib.util.UserError(f'{self.file_name}: a TensorFlow pickle ({module}.{name}) with more than '
                                        f'StyleGAN2\'s networks in it, which ganas does not load'
                                        if self.foreign_records else
                                        f'{self.file_name}: a TensorFlow network pickle ({module}.{name}, StyleGAN or '
                                        f'StyleGAN2); convert it with legacy.py first')
        obj = _safe_global(module, name)
        if obj is None:
            raise PickleRefused(self.file_name, f'{module}.{name}')
        return obj

    def _load_from_bytes(self, b):
        try:
            return _safe_load_from_bytes(b)
        except pickle.UnpicklingError as err:
            if 'weights only' in str(err).lower(): # torch's restricted unpickler met a global it refuses
                raise PickleRefused(self.file_name, 'code inside a tensor storage record') from err
            raise

    def _reconstruct(self, meta):
        _check(isinstance(meta, dict) and meta.get('type') == 'class', 'persistent object')
        class_name = meta.get('class_name')
        module_name = meta.get('module_name')
        _check(isinstance(class_name, str), 'persistent object')
        if not isinstance(module_name, str):
            if self.foreign_records and meta.get('version') == _version and isinstance(meta.get('state'), dict):
                return PersistentRecord(class_name, meta['state'])
            raise PickleRefused(self.file_name, f'embedded source of class {class_name}')
        _check(isinstance(meta.get('state'), dict), 'persistent object')
        cls = former_name_class(f'{module_name}.{class_name}', meta['state'].get('_init_kwargs'))
        if cls is None:
            cls = _installed_persistent_class(module_name, class_name)
        if cls is None:
            raise PickleRefused(self.file_name, f'{module_name}.{class_name}')
        return _restore(cls, meta['state'])

def _installed_persistent_class(module_name, class_name):
    if module_name.split('.')[0] not in _trusted_packages:
        return None
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError):
        return None
    cls = module.__dict__.get(class_name)
    return cls if isinstance(cls, type) and cls in _decorators else None

#----------------------------------------------------------------------------
# Load a pickle: safely by default, or with plain pickle (which runs embedded code) when allowed.

def load_pickle(file_or_path, allow_pickle=False, foreign_records=False):
    """Unpickle a path or binary file object.

    Args:
        file_or_path:     Path or binary file object.
        allow_pickle:     False = refuse anything but tensors, arrays, plain containers and ganas persistent
                          classes (rebuilt from the installed code); True = plain pickle.load, which runs
                          whatever code the pickle names, so only for trusted files.
        foreign_records:  Safe mode only: return StyleGAN2-ADA's persistent objects as PersistentRecord
                          instead of refusing them.

    Returns:
        The unpickled object.

    Raises:
        PickleRefused: the pickle refers to other code (safe mode).
        dnnlib.util.UserError: missing, empty, truncated or not a pickle.
    """
    if isinstance(file_or_path, (str, os.PathLike)):
        path = os.fspath(file_or_path)
        if not os.path.isfile(path):
            raise dnnlib.util.UserError(f'{path}: no such file')
        with open(path, 'rb') as f:
            return load_pickle(f, allow_pickle=allow_pickle, foreign_records=foreign_records)
    file_name = getattr(file_or_path, 'name', '<stream>')
    try:
        if allow_pickle:
            return pickle.load(file_or_path)
        return _SafeUnpickler(file_or_path, file_name, foreign_records).load()
    except dnnlib.util.UserError:
        raise
    except (ImportError, AttributeError) as err:
        if allow_pickle:
            raise dnnlib.util.UserError(f'{file_name}: cannot unpickle ({_one_line(err)})') from err
        raise dnnlib.util.UserError(f'{file_name}: truncated or not a pickle ({_one_line(err)})') from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            RuntimeError, OverflowError, MemoryError, UnicodeDecodeError) as err:
        raise dnnlib.util.UserError(f'{file_name}: truncated or not a pickle ({_one_line(err)})') from err

#----------------------------------------------------------------------------
