"""Network pickles of NVIDIA's StyleGAN2-ADA (PyTorch; also StyleGAN3's StyleGAN2 networks) and of StyleGAN2 and
StyleGAN2-ADA's TensorFlow code rebuilt as ganas networks with the same weights, read as data: the source embedded in
them is never run, so they load without --allow-pickle and without TensorFlow. The tensor layout followed is the one of
tests/data/stylegan2_ada_layout.txt."""

import copy
import re

import numpy as np
import torch

import dnnlib
from torch_utils import checkpoint
from torch_utils import persistence
from training.augment import AugmentPipe
from training.networks_stylegan2 import Discriminator
from training.networks_stylegan2 import Generator

#----------------------------------------------------------------------------
# StyleGAN2-ADA class -> ganas class with the same constructor, parameter names and layouts (G and D in any of
# StyleGAN2's 'orig', 'skip' and 'resnet' architectures).

_CLASSES = {
    'Generator':        Generator,
    'Discriminator':    Discriminator,
    'AugmentPipe':      AugmentPipe,
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
    """Snapshot dict with every StyleGAN2-ADA network (G, D, G_ema, augment_pipe) rebuilt as ganas's; a TensorFlow
    pickle's networks become one."""
    if not isinstance(data, dict):
        return convert_tensorflow_pickle(data, source)
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
    return _ganas_kwargs(record.class_name, _plain(kwargs))

def _ganas_kwargs(class_name, kwargs):
    """StyleGAN2-ADA's constructor options of a class as ganas's counterpart takes them."""
    if class_name == 'Generator': # StyleGAN3's copy of this Generator takes its synthesis options flat
        flat = {key: kwargs.pop(key) for key in list(kwargs) if key not in _GENERATOR_OPTIONS}
        kwargs['synthesis_kwargs'] = dict(kwargs.get('synthesis_kwargs', {}), **flat)
    for owner, path in _SAME_AS_W_DIM:
        parent = _lookup(kwargs, path[:-1]) if owner == class_name else None
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
    return _build(record.class_name, _init_kwargs(record, where), _tensors(record, where), where,
                  training=bool(record.state.get('training', True)))

def _build(class_name, kwargs, tensors, where, training):
    """The ganas network of a StyleGAN2-ADA class from its options (as ganas takes them) and its state-dict tensors."""
    try:
        net = _CLASSES[class_name](**kwargs)
    except (TypeError, AssertionError, ValueError) as err:
        raise dnnlib.util.UserError(f'{where}: cannot rebuild {class_name} from its options '
                                    f'({persistence._one_line(err)})') from None
    _drop_constant_filters(net, tensors, where)
    if class_name == 'Generator' and 'mapping.w_avg' in tensors:
        # StyleGAN2-ADA tracks the last mapping layer's average only: it becomes the last row of w_avg_all; the
        # other rows (read by dynamic-W genotypes only) stay zero as in a new network and are tracked in training.
        tensors['mapping.w_avg_all'] = tensors.pop('mapping.w_avg')
    own = {name: value for name, value in net.state_dict().items()
           if name.rpartition('.')[2] not in _CONSTANT_FILTERS.values()}
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise dnnlib.util.UserError(f'{where}: {class_name} tensors do not match ganas\'s '
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
    return net.train(training) # eval mode changes the conv path (fused modconv)

#----------------------------------------------------------------------------
# TensorFlow pickles of StyleGAN2 and StyleGAN2-ADA (its TensorFlow code): a tuple (G, D, Gs) of networks, or one
# generator, read by persistence.load_pickle() as TensorFlowNetwork data. Their options and variables become
# StyleGAN2-ADA's PyTorch options and state-dict tensors (the correspondence of its legacy.py), then ganas networks as
# above. TensorFlow stores conv weights [kh, kw, in, out] and dense weights [in, out]; its modulation bias starts at 0
# where PyTorch's starts at 1; its up-sampling conv applies the kernel flipped.

_TF_VERSION = 4 # oldest tflib Network state that pickles its variables this way

# TensorFlow option -> (path in StyleGAN2-ADA's PyTorch options, default). fmap_base counts half the channels.
_TF_G_OPTIONS = {
    'latent_size':          (('z_dim',), 512),
    'label_size':           (('c_dim',), 0),
    'dlatent_size':         (('w_dim',), 512),
    'resolution':           (('img_resolution',), 1024),
    'num_channels':         (('img_channels',), 3),
    'mapping_layers':       (('mapping_kwargs', 'num_layers'), 8),
    'label_fmaps':          (('mapping_kwargs', 'embed_features'), None),
    'mapping_fmaps':        (('mapping_kwargs', 'layer_features'), None),
    'mapping_nonlinearity': (('mapping_kwargs', 'activation'), 'lrelu'),
    'mapping_lrmul':        (('mapping_kwargs', 'lr_multiplier'), 0.01),
    'w_avg_beta':           (('mapping_kwargs', 'w_avg_beta'), 0.995),
    'fmap_base':            (('synthesis_kwargs', 'channel_base'), 16384),
    'fmap_max':             (('synthesis_kwargs', 'channel_max'), 512),
    'num_fp16_res':         (('synthesis_kwargs', 'num_fp16_res'), 0),
    'conv_clamp':           (('synthesis_kwargs', 'conv_clamp'), None),
    'architecture':         (('synthesis_kwargs', 'architecture'), 'skip'),
    'resample_kernel':      (('synthesis_kwargs', 'resample_filter'), [1, 3, 3, 1]),
    'use_noise':            (('synthesis_kwargs', 'use_noise'), True),
    'nonlinearity':         (('synthesis_kwargs', 'activation'), 'lrelu'),
}
_TF_D_OPTIONS = {
    'label_size':           (('c_dim',), 0),
    'resolution':           (('img_resolution',), 1024),
    'num_channels':         (('img_channels',), 3),
    'architecture':         (('architecture',), 'resnet'),
    'fmap_base':            (('channel_base',), 16384),
    'fmap_max':             (('channel_max',), 512),
    'num_fp16_res':         (('num_fp16_res',), 0),
    'conv_clamp':           (('conv_clamp',), None),
    'mapping_fmaps':        (('cmap_dim',), None),
    'nonlinearity':         (('block_kwargs', 'activation'), 'lrelu'),
    'resample_kernel':      (('block_kwargs', 'resample_filter'), [1, 3, 3, 1]),
    'freeze_layers':        (('block_kwargs', 'freeze_layers'), 0),
    'mapping_layers':       (('mapping_kwargs', 'num_layers'), 0),
    'mapping_lrmul':        (('mapping_kwargs', 'lr_multiplier'), 0.1),
    'mbstd_group_size':     (('epilogue_kwargs', 'mbstd_group_size'), None),
    'mbstd_num_features':   (('epilogue_kwargs', 'mbstd_num_channels'), 1),
}
# Options that only steer TensorFlow's training graph or sampling, not the weights.
_TF_RUNTIME_OPTIONS = {'G': ['truncation_psi', 'truncation_cutoff', 'style_mixing_prob', 'structure'], 'D': ['structure']}

def _tf_options(net, class_name, where):
    table = _TF_G_OPTIONS if class_name == 'Generator' else _TF_D_OPTIONS
    static = net.state.get('static_kwargs')
    if not isinstance(static, dict):
        raise dnnlib.util.UserError(f'{where}: the TensorFlow network has no options (static_kwargs)')
    unknown = sorted(set(static) - set(table) - set(_TF_RUNTIME_OPTIONS[class_name[0]]))
    if unknown:
        raise dnnlib.util.UserError(f'{where}: TensorFlow option {unknown[0]}={static[unknown[0]]!r} has no ganas '
                                    f'counterpart')
    kwargs = {}
    for tf_name, (path, default) in table.items():
        value = _plain(static.get(tf_name, default))
        if tf_name == 'fmap_base':
            value *= 2
        if tf_name == 'w_avg_beta' and value is None:
            value = 1 # not tracked: a beta of 1 keeps w_avg as it is
        parent = kwargs
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[path[-1]] = value
    if class_name == 'Discriminator': # one activation everywhere; the label mapping is cmap_dim wide throughout
        kwargs['mapping_kwargs']['activation'] = kwargs['epilogue_kwargs']['activation'] = kwargs['block_kwargs']['activation']
    return _ganas_kwargs(class_name, kwargs)

def _tf_variables(net, where, prefix=''):
    """TensorFlow variable name (components prefixed by their name and '/') -> numpy array."""
    state = net.state
    if not isinstance(state, dict) or not isinstance(state.get('variables'), (list, tuple)):
        raise dnnlib.util.UserError(f'{where}: the TensorFlow network has no variables')
    out = {}
    for item in state['variables']:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise dnnlib.util.UserError(f'{where}: malformed TensorFlow variable {persistence._one_line(item)}')
        name, value = item
        if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind != 'f':
            raise dnnlib.util.UserError(f'{where}: TensorFlow variable {prefix}{name} is not a float array')
        out[prefix + name] = np.asarray(value)
    for name, child in (state.get('components') or {}).items():
        if not isinstance(child, persistence.TensorFlowNetwork):
            raise dnnlib.util.UserError(f'{where}: TensorFlow component {prefix}{name} is not a network')
        out.update(_tf_variables(child, where, f'{prefix}{name}/'))
    return out

# Variable layouts -> StyleGAN2-ADA's PyTorch layout.
def _same(v):       return v
def _dense(v):      return v.T                                      # [in, out] -> [out, in]
def _conv(v):       return v.transpose(3, 2, 0, 1)                  # [kh, kw, in, out] -> [out, in, kh, kw]
def _conv_up(v):    return v[::-1, ::-1].transpose(3, 2, 0, 1)      # TensorFlow's transposed conv: kernel flipped
def _mod_bias(v):   return v + 1

def _tf_layer(prefix, leaf, conv=_conv):
    """(PyTorch name, layout) of one variable of a TensorFlow layer: conv or modulated conv, dense."""
    return {'weight': (f'{prefix}.weight', conv), 'bias': (f'{prefix}.bias', _same),
            'noise_strength': (f'{prefix}.noise_strength', _same), 'mod_weight': (f'{prefix}.affine.weight', _dense),
            'mod_bias': (f'{prefix}.affine.bias', _mod_bias)}.get(leaf)

def _tf_noise(index):
    res = 2 ** ((int(index) + 5) // 2) # noise i feeds layer i: conv0 of a block when odd, conv1 when even
    return f'synthesis.b{res}.conv{1 - int(index) % 2}.noise_const', lambda v: v[0, 0]

# (pattern of the TensorFlow name, groups -> (PyTorch name, layout) or None for an unknown leaf).
_TF_G_VARIABLES = [
    (r'dlatent_avg',                        lambda: ('mapping.w_avg', _same)),
    (r'mapping/LabelEmbed/(\w+)',           lambda leaf: _tf_layer('mapping.embed', leaf, _dense)),
    (r'mapping/Dense(\d+)/(\w+)',           lambda i, leaf: _tf_layer(f'mapping.fc{i}', leaf, _dense)),
    (r'synthesis/4x4/Const/const',          lambda: ('synthesis.b4.const', lambda v: v[0])),
    (r'synthesis/noise(\d+)',               _tf_noise),
    (r'synthesis/4x4/Conv/(\w+)',           lambda leaf: _tf_layer('synthesis.b4.conv1', leaf)),
    (r'synthesis/(\d+)x\1/Conv0_up/(\w+)',  lambda r, leaf: _tf_layer(f'synthesis.b{r}.conv0', leaf, _conv_up)),
    (r'synthesis/(\d+)x\1/Conv1/(\w+)',     lambda r, leaf: _tf_layer(f'synthesis.b{r}.conv1', leaf)),
    (r'synthesis/(\d+)x\1/ToRGB/(\w+)',     lambda r, leaf: _tf_layer(f'synthesis.b{r}.torgb', leaf)),
    (r'synthesis/(\d+)x\1/Skip/(weight)',    lambda r, leaf: _tf_layer(f'synthesis.b{r}.skip', leaf, _conv_up)),
]
_TF_D_VARIABLES = [
    (r'(\d+)x\1/FromRGB/(\w+)',             lambda r, leaf: _tf_layer(f'b{r}.fromrgb', leaf)),
    (r'(\d+)x\1/Conv0/(\w+)',               lambda r, leaf: _tf_layer(f'b{r}.conv0', leaf)),
    (r'(\d+)x\1/Conv1_down/(\w+)',          lambda r, leaf: _tf_layer(f'b{r}.conv1', leaf)),
    (r'(\d+)x\1/Skip/(weight)',             lambda r, leaf: _tf_layer(f'b{r}.skip', leaf)),
    (r'4x4/Conv/(\w+)',                     lambda leaf: _tf_layer('b4.conv', leaf)),
    (r'4x4/Dense0/(\w+)',                   lambda leaf: _tf_layer('b4.fc', leaf, _dense)),
    (r'Output/(\w+)',                       lambda leaf: _tf_layer('b4.out', leaf, _dense)),
    (r'LabelEmbed/(\w+)',                   lambda leaf: _tf_layer('mapping.embed', leaf, _dense)),
    (r'Mapping(\d+)/(\w+)',                 lambda i, leaf: _tf_layer(f'mapping.fc{i}', leaf, _dense)),
]
_TF_IGNORED = re.compile(r'(.*/)?lod') # the progressive-growing level (0 once grown), read by no StyleGAN2 layer

def _tf_tensors(net, class_name, where):
    table = _TF_G_VARIABLES if class_name == 'Generator' else _TF_D_VARIABLES
    tensors = {}
    for tf_name, value in _tf_variables(net, where).items():
        if _TF_IGNORED.fullmatch(tf_name):
            continue
        target = None
        for pattern, rule in table:
            match = re.fullmatch(pattern, tf_name)
            if match:
                target = rule(*match.groups())
                break
        if target is None:
            raise dnnlib.util.UserError(f'{where}: TensorFlow variable {tf_name} {list(value.shape)} has no place in '
                                        f'a StyleGAN2 {class_name}')
        name, layout = target
        tensors[name] = torch.from_numpy(np.array(layout(value), dtype=np.float32, order='C'))
    return tensors

def _convert_tensorflow(net, class_name, where):
    version = net.state.get('version') if isinstance(net.state, dict) else None
    if not isinstance(version, int) or version < _TF_VERSION:
        raise dnnlib.util.UserError(f'{where}: TensorFlow network format version {version} is older than '
                                    f'{_TF_VERSION}, which ganas reads')
    return _build(class_name, _tf_options(net, class_name, where), _tf_tensors(net, class_name, where), where,
                  training=False)

def convert_tensorflow_pickle(data, source):
    """Snapshot dict (G, D, G_ema; or G_ema alone for one generator) of a TensorFlow pickle's networks."""
    if isinstance(data, persistence.TensorFlowNetwork):
        return dict(G_ema=_convert_tensorflow(data, 'Generator', f'{source}: G_ema'))
    if len(data) != 3:
        raise dnnlib.util.UserError(f'{source}: a TensorFlow pickle of {len(data)} networks; expected G, D and Gs, '
                                    f'or one generator')
    return {key: _convert_tensorflow(net, class_name, f'{source}: {key}')
            for key, net, class_name in zip(['G', 'D', 'G_ema'], data, ['Generator', 'Discriminator', 'Generator'])}

#----------------------------------------------------------------------------
# legacy.py --force-fp16: StyleGAN2-ADA's FP16 settings (the 4 highest resolutions in FP16, convolutions clamped to
# +-256) on G, D and G_ema, with the same weights.

def force_fp16(data):
    out = dict(data)
    for key in ['G', 'D', 'G_ema']:
        net = data.get(key)
        if net is None:
            continue
        kwargs = copy.deepcopy(dict(net.init_kwargs))
        options = kwargs.setdefault('synthesis_kwargs', {}) if key.startswith('G') else kwargs
        options.update(num_fp16_res=4, conv_clamp=256)
        new = type(net)(**kwargs).train(net.training).requires_grad_(False)
        new.load_state_dict(net.state_dict())
        out[key] = new
    return out

#----------------------------------------------------------------------------
