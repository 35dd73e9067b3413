"""Network pickles of NVIDIA's StyleGAN2-ADA (PyTorch; also StyleGAN3's StyleGAN2 networks) rebuilt as ganas networks
with the same weights, read as data: the source embedded in them is never run, so they load without --allow-pickle.
The tensor layout followed is the one of tests/data/stylegan2_ada_layout.txt."""

import torch

import dnnlib
from torch_utils import checkpoint
from torch_utils import persistence
from training.augment import AugmentPipe
from training.networks_stylegan2 import Discriminator
from training.networks_stylegan2 import Generator

#----------------------------------------------------------------------------
# StyleGAN2-ADA class -> ganas class with the same constructor, parameter names and layouts (StyleGAN2 'skip' G;
# 'orig', 'skip' or 'resnet' D). Options of StyleGAN2-ADA's constructors that ganas has only in their default form may
# appear in the pickles' init kwargs (its legacy.py writes them out); they are dropped when they hold that form.

_CLASSES = {
    'Generator':        Generator,
    'Discriminator':    Discriminator,
    'AugmentPipe':      AugmentPipe,
}
_ONLY_DEFAULT = { # (class, path of the option) -> the one value ganas builds
    ('Generator', ('synthesis_kwargs', 'architecture')):    'skip',
}
_GENERATOR_OPTIONS = ['z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels', 'mapping_kwargs', 'synthesis_kwargs']
_SAME_AS_W_DIM = [('Generator', ('mapping_kwargs', 'layer_features')), ('Discriminator', ('mapping_kwargs', 'layer_features'))]

# Buffers that only hold a constant filter, by the last part of their name -> ganas's buffer of the same module that
# holds the filter ganas uses there. They are checked against it and dropped, never copied.
_CONSTANT_FILTERS = {
    'resample_filter':  'resample_filter',  # FIR filter of up/down-sampling layers and blocks
    'Hz_geom':          'geom_filter',      # AugmentPipe: sym6 wavelet around the geometric warp
    'Hz_fbank':         'band_filters',     # AugmentPipe: the four band-pass filters of image-space filtering
}

# Layers only StyleGAN3's alias-free generators have (its -t and -r configurations): class name -> what it is.
_STYLEGAN3_CLASSES = {'SynthesisInput': 'a StyleGAN3 (alias-free, -t/-r configuration) Generator'}

def convert_snapshot(data, source):
    """Snapshot dict with every StyleGAN2-ADA network (G, D, G_ema, augment_pipe) rebuilt as ganas's."""
    return {key: _convert(value, f'{source}: {key}') if isinstance(value, persistence.PersistentRecord) else value
            for key, value in data.items()}

def load_network(path_or_url, allow_pickle=False, device='cpu'):
    """checkpoint.load_network() for every snapshot the tools take: ganas's own and StyleGAN2-ADA's."""
    return checkpoint.load_network(path_or_url, allow_pickle=allow_pickle, device=device,
                                   convert_records=convert_snapshot)

#----------------------------------------------------------------------------
# One network: its constructor arguments, then its tensors by state-dict name.

def _plain(value):
    """EasyDicts (and nested containers) of the pickle as plain dicts and lists."""
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

def _init_kwargs(record, where):
    args, kwargs = record.state.get('_init_args', ()), record.state.get('_init_kwargs')
    if len(args) != 0 or not isinstance(kwargs, dict):
        raise dnnlib.util.UserError(f'{where}: {record.class_name} has no keyword constructor arguments to rebuild it from')
    kwargs = _plain(kwargs)
    if record.class_name == 'Generator': # StyleGAN3's copy of this Generator takes its synthesis options flat
        flat = {key: kwargs.pop(key) for key in list(kwargs) if key not in _GENERATOR_OPTIONS}
        kwargs['synthesis_kwargs'] = dict(kwargs.get('synthesis_kwargs', {}), **flat)
    for (class_name, path), value in _ONLY_DEFAULT.items():
        parent = _lookup(kwargs, path[:-1]) if class_name == record.class_name else None
        if isinstance(parent, dict) and path[-1] in parent:
            if parent[path[-1]] != value:
                raise dnnlib.util.UserError(f'{where}: {".".join(path)}={parent[path[-1]]!r} is not supported '
                                            f'(ganas builds StyleGAN2\'s {value!r} {record.class_name})')
            del parent[path[-1]]
    for class_name, path in _SAME_AS_W_DIM:
        parent = _lookup(kwargs, path[:-1]) if class_name == record.class_name else None
        if isinstance(parent, dict) and parent.get(path[-1], None) in [None, kwargs.get('w_dim')]:
            parent.pop(path[-1], None)
    return kwargs

def _lookup(kwargs, path):
    for key in path:
        kwargs = kwargs.get(key) if isinstance(kwargs, dict) else None
    return kwargs

def _records(record, prefix=''):
    """(state-dict prefix, record) of a record and every persistent child below it."""
    yield prefix, record
    for name, child in record.state.get('_modules', {}).items():
        if isinstance(child, persistence.PersistentRecord):
            yield from _records(child, prefix + name + '.')

def _tensors(record, where):
    """State-dict entries (name -> tensor) of a record and its children, skipping non-persistent buffers."""
    out = {}
    for prefix, rec in _records(record):
        state = rec.state
        skip = state.get('_non_persistent_buffers_set', set())
        out.update({prefix + name: value for name, value in state.get('_parameters', {}).items() if value is not None})
        out.update({prefix + name: value for name, value in state.get('_buffers', {}).items()
                    if value is not None and name not in skip})
        for name, child in state.get('_modules', {}).items():
            if child is not None and not isinstance(child, persistence.PersistentRecord):
                raise dnnlib.util.UserError(f'{where}: {prefix}{name} is a {type(child).__name__}, '
                                            f'not a StyleGAN2-ADA layer')
    return out

def _drop_constant_filters(net, tensors, where):
    """Check every constant filter of the file against the one ganas uses in the same place, then drop it; a filter
    ganas has no place for stays, to be reported as unexpected."""
    ours = dict(net.named_buffers())
    for name in list(tensors):
        module, _, leaf = name.rpartition('.')
        if leaf not in _CONSTANT_FILTERS:
            continue
        own_name = f'{module}.{_CONSTANT_FILTERS[leaf]}' if module else _CONSTANT_FILTERS[leaf]
        if own_name not in ours:
            continue
        theirs, own = tensors.pop(name).to(torch.float64), ours[own_name].to(torch.float64)
        if theirs.shape != own.shape or not torch.allclose(theirs, own, rtol=1e-5, atol=1e-7):
            raise dnnlib.util.UserError(f'{where}: {name} holds the filter {_short(theirs)}, where ganas uses '
                                        f'{_short(own)}')

def _short(filt):
    values = [round(v, 4) for v in filt.flatten().tolist()]
    return f'{list(filt.shape)} {values[:6]}{"..." if len(values) > 6 else ""}'

def _convert(record, where):
    for _prefix, rec in _records(record):
        if rec.class_name in _STYLEGAN3_CLASSES:
            raise dnnlib.util.UserError(f'{where}: {_STYLEGAN3_CLASSES[rec.class_name]} is not supported '
                                        f'(ganas builds StyleGAN2 networks)')
    if record.class_name not in _CLASSES:
        raise dnnlib.util.UserError(f'{where}: StyleGAN2-ADA class {record.class_name} has no ganas counterpart')
    kwargs = _init_kwargs(record, where)
    try:
        net = _CLASSES[record.class_name](**kwargs)
    except (TypeError, AssertionError, ValueError) as err:
        raise dnnlib.util.UserError(f'{where}: cannot rebuild {record.class_name} from its options '
                                    f'({persistence._one_line(err)})') from None
    tensors = _tensors(record, where)
    _drop_constant_filters(net, tensors, where)
    if record.class_name == 'Generator' and 'mapping.w_avg' in tensors:
        # StyleGAN2-ADA tracks the last mapping layer's average only: it becomes the last row of w_avg_all; the
        # other rows (read by dynamic-W genotypes only) stay zero as in a new network and are tracked in training.
        tensors['mapping.w_avg_all'] = tensors.pop('mapping.w_avg')
    own = {name: value for name, value in net.state_dict().items()
           if name.rpartition('.')[2] not in _CONSTANT_FILTERS.values()}
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise dnnlib.util.UserError(f'{where}: {record.class_name} tensors do not match ganas\'s '
                                    f'(missing {missing[:3]}, unexpected {unexpected[:3]})')
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            target = own[name]
            if name == 'mapping.w_avg_all':
                target[-1].copy_(value)
            elif target.shape != value.shape:
                raise dnnlib.util.UserError(f'{where}: {name} has shape {list(value.shape)}, '
                                            f'ganas\'s has {list(target.shape)}')
            else:
                target.copy_(value)
            if name in params:
                params[name].requires_grad_(value.requires_grad)
    return net.train(bool(record.state.get('training', True))) # eval mode changes the conv path (fused modconv)

#----------------------------------------------------------------------------
