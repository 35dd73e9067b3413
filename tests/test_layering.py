"""Imports go one way (STYLE.md): dnnlib -> torch_utils -> layers -> nas space -> training/metrics -> supernets
-> loops -> CLIs. A module may import only from its own group or groups to its left."""

import ast
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ['dnnlib', 'torch_utils', 'training', 'metrics', 'nas']
CLIS = {os.path.basename(path)[:-len('.py')] for path in glob.glob(os.path.join(ROOT, '*.py'))} # every root script

#----------------------------------------------------------------------------

def group_of(module):
    """Rank of a dotted module name of this repo in the import order; None for third-party modules."""
    parts = module.split('.')
    top = parts[0]
    if top in CLIS:
        return 7
    if top == 'dnnlib':
        return 0
    if top == 'torch_utils':
        return 1
    if top == 'training':
        name = parts[1] if len(parts) > 1 else ''
        if name == 'layers':
            return 2
        if name == 'training_loop':
            return 6
        return 4
    if top == 'metrics':
        return 4
    if top == 'nas':
        sub = parts[1] if len(parts) > 1 else ''
        name = parts[2] if len(parts) > 2 else ''
        if sub == 'genotype' or (sub == 'space' and name in ('', 'primitives', 'ops', 'ops_modulated', 'mixed')):
            return 3
        if sub == 'space':
            return 5
        return 6
    return None

def module_name(path):
    rel = os.path.relpath(path, ROOT)[:-len('.py')]
    parts = rel.split(os.sep)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)

def imported_modules(path):
    """Absolute dotted names of everything `path` imports (relative imports resolved)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    package = module_name(path).split('.')
    if not path.endswith('__init__.py'):
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = '.'.join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            names.append(mod)
            names += [f'{mod}.{alias.name}' for alias in node.names] # `from nas.space import supernet_x`
    return names

def source_files():
    files = [os.path.join(ROOT, f'{name}.py') for name in CLIS]
    for pkg in PACKAGES:
        for dirpath, _dirnames, filenames in os.walk(os.path.join(ROOT, pkg)):
            files += [os.path.join(dirpath, f) for f in filenames if f.endswith('.py')]
    return sorted(files)

#----------------------------------------------------------------------------

def test_group_of_follows_style_guide():
    assert group_of('dnnlib.util') < group_of('torch_utils.ops.bias_act') < group_of('training.layers')
    assert group_of('training.layers') < group_of('nas.genotype') < group_of('training.networks_stylegan2')
    assert group_of('nas.space.mixed') < group_of('metrics.metric_main') < group_of('nas.space.supernet_stylegan2')
    assert group_of('nas.space.supernet_stylegan2') < group_of('training.training_loop') == group_of('nas.search.alphagan')
    assert group_of('nas.search.search_loop') < group_of('train')
    assert group_of('numpy') is None

@pytest.mark.parametrize('path', source_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_imports_point_one_way(path):
    own = group_of(module_name(path))
    backwards = [m for m in imported_modules(path) if group_of(m) is not None and group_of(m) > own]
    assert not backwards, f'{os.path.relpath(path, ROOT)} (group {own}) imports later groups: {backwards}'


def named_modules(path):
    """Dotted names of this repo's modules that string constants of `path` spell out (e.g. a class_name to construct)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    names = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return [name for name in names if re.fullmatch(r'[A-Za-z_]\w*(\.[A-Za-z_]\w*)+', name) and name.split('.')[0] in PACKAGES]

@pytest.mark.parametrize('path', source_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_no_class_named_by_string_against_the_import_order(path):
    own = group_of(module_name(path))
    backwards = [m for m in named_modules(path) if group_of(m) > own]
    assert not backwards, f'{os.path.relpath(path, ROOT)} (group {own}) names later groups by string: {backwards}'

#----------------------------------------------------------------------------
