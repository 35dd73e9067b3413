"""Imports point one way (README, Layout): dnnlib -> torch_utils -> training, metrics -> nas -> CLIs. A module
imports only from its own layer or the layers to its left, and names no class of a layer to its right by string."""

import ast
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ['dnnlib', 'torch_utils', 'training', 'metrics', 'nas']
LAYERS = {'dnnlib': 0, 'torch_utils': 1, 'training': 2, 'metrics': 2, 'nas': 3}
CLIS = {os.path.basename(path)[:-len('.py')] for path in glob.glob(os.path.join(ROOT, '*.py'))} # every root script
CLI_LAYER = 4

# Within nas: the pipelines import one way, each only from those before it (demo -> benchmark -> pipeline).
PIPELINES = ['nas.pipeline', 'nas.benchmark', 'nas.demo']

# Dotted names of this repo's modules inside string literals ('training.networks_stylegan2.Generator').
DOTTED_NAME = re.compile(r'^(' + '|'.join(PACKAGES) + r')(\.[A-Za-z_][A-Za-z0-9_]*)+$')

#----------------------------------------------------------------------------

def layer_of(module):
    """Layer of a dotted module name of this repo; None for third-party modules."""
    top = module.split('.')[0]
    if top in CLIS:
        return CLI_LAYER
    return LAYERS.get(top)

def module_name(path):
    rel = os.path.relpath(path, ROOT)[:-len('.py')]
    parts = rel.split(os.sep)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)

def parse(path):
    with open(path, encoding='utf-8') as f:
        return ast.parse(f.read(), filename=path)

def imported_modules(path):
    """Absolute dotted names of everything `path` imports (relative imports resolved)."""
    package = module_name(path).split('.')
    if not path.endswith('__init__.py'):
        package = package[:-1]
    names = []
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                names.append('.'.join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module)
    return names

def imported_names(path):
    """imported_modules(path) plus `module.name` for every `from module import name`."""
    names = imported_modules(path)
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [f'{node.module}.{alias.name}' for alias in node.names]
    return names

def named_modules(path):
    """Dotted names of this repo's modules or classes that string literals in `path` spell out."""
    return [node.value for node in ast.walk(parse(path))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED_NAME.match(node.value)]

def source_files():
    files = [os.path.join(ROOT, f'{name}.py') for name in CLIS]
    for pkg in PACKAGES:
        for dirpath, _dirnames, filenames in os.walk(os.path.join(ROOT, pkg)):
            files += [os.path.join(dirpath, f) for f in filenames if f.endswith('.py')]
    return sorted(files)

def later_layers(path, names):
    own = layer_of(module_name(path))
    return [m for m in names if layer_of(m) is not None and layer_of(m) > own]

#----------------------------------------------------------------------------

def test_layers_follow_the_rule():
    assert layer_of('dnnlib.util') < layer_of('torch_utils.ops.bias_act') < layer_of('training.layers')
    assert layer_of('training.networks_stylegan2') == layer_of('metrics.metric_main') == \
        layer_of('training.training_loop')
    assert layer_of('training.training_loop') < layer_of('nas.genotype') == layer_of('nas.backbones.stylegan2')
    assert layer_of('nas.search.search_loop') < layer_of('train') == layer_of('search')
    assert layer_of('numpy') is None

@pytest.mark.parametrize('path', source_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_imports_point_one_way(path):
    backwards = later_layers(path, imported_modules(path))
    assert not backwards, f'{os.path.relpath(path, ROOT)} imports later layers: {backwards}'

@pytest.mark.parametrize('path', source_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_no_class_of_a_later_layer_named_by_string(path):
    backwards = later_layers(path, named_modules(path))
    assert not backwards, f'{os.path.relpath(path, ROOT)} names later layers by string: {backwards}'

def test_pipelines_import_one_way():
    imports = {name: imported_names(os.path.join(ROOT, *name.split('.')) + '.py') for name in PIPELINES}
    assert 'nas.pipeline' in imports['nas.benchmark'] and 'nas.benchmark' in imports['nas.demo'] # the check sees them
    for index, name in enumerate(PIPELINES):
        later = [m for m in imports[name] if any(m == p or m.startswith(p + '.') for p in PIPELINES[index + 1:])]
        assert not later, f'{name} imports a pipeline that builds on it: {later}'

def test_the_checks_see_what_they_look_for():
    training = os.path.join(ROOT, 'training', 'training_loop.py')
    assert later_layers(training, ['nas.backbones.stylegan2.Generator', 'training.loss.HingeLoss']) == \
        ['nas.backbones.stylegan2.Generator']
    assert DOTTED_NAME.match('nas.space.ops_modulated.build_op') and not DOTTED_NAME.match('nas is a package')

#----------------------------------------------------------------------------
