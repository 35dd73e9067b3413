"""Genotype: one versioned JSON description of a searched generator for every backbone (alphaGAN, Tian et al. 2022)."""

import dataclasses
import json
import numbers

from dnnlib.util import UserError, atomic_write
from nas.space import primitives

FORMAT_VERSION = 1
FIELDS = ('format_version', 'backbone', 'mode', 'resolution', 'channels', 'ops', 'w_idx', 'provenance')
REQUIRED_FIELDS = ('format_version', 'backbone', 'mode', 'resolution', 'channels', 'ops')
PROVENANCE_FIELDS = ('method', 'data', 'seed', 'iteration', 'alphas', 'extra')

#----------------------------------------------------------------------------
# Validation failures: one line naming the source (file), the field path and the problem.

class _Checker:
    def __init__(self, source):
        self.source = source

    def fail(self, path, msg):
        raise UserError(f'{self.source}: {path}: {msg}' if path else f'{self.source}: {msg}')

    def keys(self, path, obj, required, optional=()):
        """Check that `obj` is a dict with all `required` keys and nothing beyond `optional`."""
        if not isinstance(obj, dict):
            self.fail(path, f'expected a JSON object, got {_show(obj)}')
        for key in required:
            if key not in obj:
                self.fail(path, f'missing field {key!r}')
        for key in obj:
            if key not in required and key not in optional:
                self.fail(path, f'unknown field {key!r} (expected {", ".join([*required, *optional])})')

    def integer(self, path, value, minimum=None):
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, f'expected an integer, got {_show(value)}')
        if minimum is not None and value < minimum:
            self.fail(path, f'{value} is below {minimum}')

    def op(self, path, value, choices):
        if not isinstance(value, str):
            self.fail(path, f'expected an op name, got {_show(value)}')
        if value not in choices:
            self.fail(path, f'unknown op {value!r} (choose from {", ".join(choices)})')

def _show(value):
    text = json.dumps(value) if _is_json(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + '...'

def _is_json(value):
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False

def _default_provenance():
    return dict(method=None, data=None, seed=None, iteration=None, alphas=None, extra={})

def _check_version(check, version):
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        check.fail('format_version', f'unsupported version {_show(version)} (this ganas reads {FORMAT_VERSION})')

def _is_nested_numbers(value):
    if isinstance(value, list):
        return all(_is_nested_numbers(v) for v in value)
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

#----------------------------------------------------------------------------
# Per-backbone validators of resolution, channels, ops and w_idx, registered by backbone name.

_backbone_validators = dict() # backbone name => fn(genotype, checker)

def register_backbone(name):
    def decorator(fn):
        assert name in primitives.BACKBONES
        _backbone_validators[name] = fn
        return fn
    return decorator

def _validate_three_cells(g, check, cells):
    """Shared by the conventional and AutoGAN backbones: resolution, channels and the cell names."""
    reason = primitives.resolution_error(g.backbone, g.resolution)
    if reason is not None:
        check.fail('resolution', f'{g.resolution} {reason}')
    check.keys('channels', g.channels, required=['g_channels'], optional=['d_channels'])
    for key, value in g.channels.items():
        check.integer(f'channels.{key}', value, minimum=1)
    check.keys('ops', g.ops, required=cells)

@register_backbone('conventional')
def _validate_conventional(g, check):
    _validate_three_cells(g, check, primitives.CONVENTIONAL_CELLS)
    normal_ops = primitives.known_ops('conventional', 'normal')
    up_ops = primitives.known_ops('conventional', 'up')
    for cell in primitives.CONVENTIONAL_CELLS:
        edges = [*primitives.CONVENTIONAL_UP_EDGES, *primitives.CONVENTIONAL_NORMAL_EDGES]
        check.keys(f'ops.{cell}', g.ops[cell], required=[*edges, 'skip'])
        for edge in primitives.CONVENTIONAL_UP_EDGES:
            check.op(f'ops.{cell}.{edge}', g.ops[cell][edge], up_ops)
        for edge in primitives.CONVENTIONAL_NORMAL_EDGES:
            check.op(f'ops.{cell}.{edge}', g.ops[cell][edge], normal_ops)
        sources = primitives.CONVENTIONAL_SKIPS[cell]
        check.keys(f'ops.{cell}.skip', g.ops[cell]['skip'], required=sources)
        for src in sources:
            check.op(f'ops.{cell}.skip.{src}', g.ops[cell]['skip'][src], up_ops)
    if g.w_idx is not None:
        check.fail('w_idx', f'the conventional backbone has no W choice, expected null, got {_show(g.w_idx)}')

#----------------------------------------------------------------------------
# Genotype: what search writes and training builds from. `ops` is backbone-specific:
# conventional = {cell: {up0, up1, n0, n1, n2: op, skip: {source cell: op}}}.

@dataclasses.dataclass
class Genotype:
    backbone:       str                 # One of primitives.BACKBONES.
    mode:           str                 # One of primitives.MODES[backbone].
    resolution:     int                 # Image resolution the genotype was searched at.
    channels:       dict                # Channel settings of the search, e.g. {'g_channels': 256}.
    ops:            object              # Per-edge/per-layer op names, layout set by the backbone.
    w_idx:          list = None         # Per-layer W index (StyleGAN2 dynamic W), None = no W choice.
    provenance:     dict = None         # method, data, seed, iteration, alphas {name: nested list}, extra {}.
    format_version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.provenance is None or isinstance(self.provenance, dict):
            self.provenance = {**_default_provenance(), **(self.provenance or {})}

    def validate(self, source='genotype'):
        """Raise UserError '<source>: <field>: <problem>' if anything is off; return self."""
        check = _Checker(source)
        _check_version(check, self.format_version)
        if self.backbone not in primitives.BACKBONES:
            choices = ', '.join(primitives.BACKBONES)
            check.fail('backbone', f'unknown backbone {self.backbone!r} (choose from {choices})')
        modes = primitives.MODES[self.backbone]
        if self.mode not in modes:
            check.fail('mode',
                f'unknown mode {self.mode!r} for backbone {self.backbone!r} (choose from {", ".join(modes)})')
        check.integer('resolution', self.resolution, minimum=1)
        self._validate_provenance(check)
        _backbone_validators[self.backbone](self, check)
        if not _is_json({name: getattr(self, name) for name in FIELDS}):
            check.fail('provenance.extra', 'not representable as JSON')
        return self

    def _validate_provenance(self, check):
        check.keys('provenance', self.provenance, required=(), optional=PROVENANCE_FIELDS)
        p = {**_default_provenance(), **self.provenance}
        for key in ('method', 'data'):
            if p[key] is not None and not isinstance(p[key], str):
                check.fail(f'provenance.{key}', f'expected a string or null, got {_show(p[key])}')
        for key in ('seed', 'iteration'):
            if p[key] is not None:
                check.integer(f'provenance.{key}', p[key], minimum=0)
        if p['alphas'] is not None:
            if not isinstance(p['alphas'], dict):
                check.fail('provenance.alphas', f'expected an object of nested number lists, got {_show(p["alphas"])}')
            for name, value in p['alphas'].items():
                if not _is_nested_numbers(value):
                    check.fail(f'provenance.alphas.{name}', f'expected nested lists of numbers, got {_show(value)}')
        if not isinstance(p['extra'], dict):
            check.fail('provenance.extra', f'expected a JSON object, got {_show(p["extra"])}')

    def to_dict(self):
        """Plain JSON-able dict (deep copy) in the file's field order."""
        return json.loads(json.dumps({name: getattr(self, name) for name in FIELDS}))

    @classmethod
    def from_dict(cls, d, source='genotype'):
        """Build and validate; errors name `source` (the file) and the field."""
        check = _Checker(source)
        if not isinstance(d, dict):
            check.fail('', f'expected a JSON object at the top level, got {_show(d)}')
        if 'format_version' not in d:
            check.fail('', "missing field 'format_version'")
        _check_version(check, d['format_version'])
        check.keys('', d, required=REQUIRED_FIELDS, optional=('w_idx', 'provenance'))
        if d.get('provenance') is not None:
            check.keys('provenance', d['provenance'], required=(), optional=PROVENANCE_FIELDS)
        if not _is_json(d):
            check.fail('', 'not representable as JSON')
        d = json.loads(json.dumps(d)) # own copy, nothing shared with the caller
        return cls(**d).validate(source)

    def to_json(self, path):
        """Validate and write atomically, with short number lists kept on one line."""
        self.validate(str(path))
        with atomic_write(path, 'w') as f:
            f.write(_format_json(self.to_dict()) + '\n')

    @classmethod
    def from_json(cls, path, backbone=None):
        """Read and validate a genotype file; `backbone` (optional) is the one the caller needs."""
        source = str(path)
        try:
            with open(path, encoding='utf-8') as f:
                d = json.load(f)
        except FileNotFoundError:
            raise UserError(f'{source}: no such file') from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            where = f' at line {err.lineno} column {err.colno}' if isinstance(err, json.JSONDecodeError) else ''
            raise UserError(f'{source}: not valid JSON ({getattr(err, "msg", "not UTF-8")}{where})') from None
        genotype = cls.from_dict(d, source=source)
        if backbone is not None and genotype.backbone != backbone:
            _Checker(source).fail('backbone', f'expected {backbone!r}, got {genotype.backbone!r}')
        return genotype

#----------------------------------------------------------------------------
# JSON layout: indented objects, but lists of scalars (op rows, alpha rows) on one line.

def _format_json(value, indent=0):
    pad = ' ' * (indent + 2)
    if isinstance(value, dict) and value:
        items = [f'{pad}{json.dumps(key)}: {_format_json(v, indent + 2)}' for key, v in value.items()]
        return '{\n' + ',\n'.join(items) + '\n' + ' ' * indent + '}'
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [pad + _format_json(v, indent + 2) for v in value]
        return '[\n' + ',\n'.join(items) + '\n' + ' ' * indent + ']'
    return json.dumps(value)

#----------------------------------------------------------------------------
# StyleGAN2 backbone (alphaGAN Sec. 6, Tables 8-10). ops = {'normal': [...], 'up': [...]}: one op per normal
# layer (b4.conv1, b8.conv1, ...) and per up layer (b8.conv0, b16.conv0, ...), or a single shared op each in the
# micro modes. w_idx (dynw modes only) = the W_i (1 = first mapping layer, as in the paper) of every conv layer in
# w order and, last, of the final toRGB. channels = the network size settings the genotype was searched with.

STYLEGAN2_CHANNEL_FIELDS = ('channel_base', 'channel_max', 'num_mapping_layers')

@register_backbone('stylegan2')
def _validate_stylegan2(g, check):
    reason = primitives.resolution_error(g.backbone, g.resolution)
    if reason is not None:
        check.fail('resolution', f'{g.resolution} {reason}')
    check.keys('channels', g.channels, required=STYLEGAN2_CHANNEL_FIELDS)
    for key in STYLEGAN2_CHANNEL_FIELDS:
        check.integer(f'channels.{key}', g.channels[key], minimum=1)
    layers = primitives.stylegan2_layers(g.resolution)
    shared_ops, dynamic_w = primitives.mode_flags('stylegan2', g.mode)
    check.keys('ops', g.ops, required=['normal', 'up'])
    for kind in ('normal', 'up'):
        path = f'ops.{kind}'
        value = g.ops[kind]
        if shared_ops:
            expected, why = 1, f'mode {g.mode} shares one {kind} op across all blocks'
        else:
            expected = sum(1 for _name, k in layers if k == kind)
            why = f'one per {kind} layer at resolution {g.resolution}'
        if not isinstance(value, list):
            check.fail(path, f'expected a list of op names, got {_show(value)}')
        if len(value) != expected:
            check.fail(path, f'expected {expected} op(s) ({why}), got {len(value)}')
        for i, name in enumerate(value):
            check.op(f'{path}[{i}]', name, primitives.known_ops('stylegan2', kind))
    num_layers = g.channels['num_mapping_layers']
    if not dynamic_w:
        if g.w_idx is not None:
            check.fail('w_idx', f'mode {g.mode} has no W choice (every layer reads W_{num_layers}), expected null, '
                f'got {_show(g.w_idx)}')
        return
    slots = primitives.stylegan2_w_slots(g.resolution)
    if not isinstance(g.w_idx, list):
        check.fail('w_idx', f'expected a list of W indices, got {_show(g.w_idx)}')
    if len(g.w_idx) != len(slots):
        check.fail('w_idx', f'expected {len(slots)} W indices (every conv layer and the last toRGB at resolution '
            f'{g.resolution}), got {len(g.w_idx)}')
    for i, value in enumerate(g.w_idx):
        check.integer(f'w_idx[{i}]', value)
        if not 1 <= value <= num_layers:
            check.fail(f'w_idx[{i}]', f'W index {value} out of range 1..{num_layers} (channels.num_mapping_layers)')

def w_idx_to_layers(w_idx):
    """A genotype's w_idx (W_1..W_L, counted from 1 as in the paper) as 0-based mapping layers (MappingNetwork)."""
    return None if w_idx is None else [int(i) - 1 for i in w_idx]

def layers_to_w_idx(layers):
    """0-based mapping layers (argmax of betas, random draws) as a genotype's w_idx."""
    return [int(i) + 1 for i in layers]

def stylegan2_layer_ops(genotype, resolution):
    """One op name per synthesis conv layer, in w order, for a validated StyleGAN2 genotype built at `resolution`.
    Only a micro genotype (no per-layer choice) builds at a resolution other than the one it was searched at."""
    shared_ops, dynamic_w = primitives.mode_flags('stylegan2', genotype.mode)
    if resolution != genotype.resolution and (dynamic_w or not shared_ops): # per-layer choices fix the resolution
        raise UserError(f'genotype: resolution: a {genotype.mode} genotype searched at {genotype.resolution} '
            f'cannot build a {resolution}x{resolution} generator (only micro genotypes transfer)')
    counters = {'normal': 0, 'up': 0}
    ops = []
    for _name, kind in primitives.stylegan2_layers(resolution):
        row = genotype.ops[kind]
        ops.append(row[0] if shared_ops else row[counters[kind]])
        counters[kind] += 1
    return ops

#----------------------------------------------------------------------------
# AutoGAN backbone (Gong et al. 2019, Fig. 2). ops = {cell: {conv: 'post'|'pre', norm: 'none'|'batch'|'instance',
# up: 'bilinear'|'nearest'|'deconv', shortcut: bool, skip: {earlier cell: bool}}}; channels = {'g_channels': C}.

@register_backbone('autogan')
def _validate_autogan(g, check):
    _validate_three_cells(g, check, primitives.AUTOGAN_CELLS)
    for i, cell in enumerate(primitives.AUTOGAN_CELLS):
        names = [name for name, _choices in primitives.AUTOGAN_TOKENS]
        check.keys(f'ops.{cell}', g.ops[cell], required=[*names, 'skip'])
        for name, choices in primitives.AUTOGAN_TOKENS:
            value = g.ops[cell][name]
            if isinstance(value, bool) != isinstance(choices[0], bool) or value not in choices:
                check.fail(f'ops.{cell}.{name}', f'unknown choice {_show(value)} (choose from '
                    f'{", ".join(json.dumps(c) for c in choices)})')
        sources = primitives.AUTOGAN_CELLS[:i]
        check.keys(f'ops.{cell}.skip', g.ops[cell]['skip'], required=sources)
        for src in sources:
            if not isinstance(g.ops[cell]['skip'][src], bool):
                check.fail(f'ops.{cell}.skip.{src}', f'expected true or false, got {_show(g.ops[cell]["skip"][src])}')
    if g.w_idx is not None:
        check.fail('w_idx', f'the autogan backbone has no W choice, expected null, got {_show(g.w_idx)}')

#----------------------------------------------------------------------------
