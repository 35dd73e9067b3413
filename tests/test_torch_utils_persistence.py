"""Tests for torch_utils.persistence: pickles carry their source, safe loading runs none of it."""

import collections
import copy
import io
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import dnnlib
from torch_utils import persistence

#----------------------------------------------------------------------------
# A module defining a persistent network; when its source is executed as an embedded copy it leaves a
# marker file, so tests can tell whether embedded code ran.

NETS_SRC = textwrap.dedent('''
    import os
    import torch
    from torch_utils import persistence

    if __name__.startswith('_ganas_embedded'):
        open(os.environ['EMBEDDED_MARKER'], 'w').close()

    @persistence.persistent_class
    class TinyNet(torch.nn.Module):
        def __init__(self, in_features, out_features, hidden=8, scale=(1.0, 2.0)):
            super().__init__()
            self.fc = torch.nn.Linear(in_features, hidden)
            self.blocks = torch.nn.ModuleList([torch.nn.Linear(hidden, hidden), torch.nn.LeakyReLU(0.2)])
            self.out = torch.nn.Linear(hidden, out_features)
            self.register_buffer('offset', torch.linspace(-1, 1, out_features))
            self.scale = scale

        def forward(self, x):
            x = self.fc(x)
            for block in self.blocks:
                x = block(x)
            return self.out(x) * self.scale[1] + self.offset
''')

def write_nets_module(directory, name):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, f'{name}.py'), 'w') as f:
        f.write(NETS_SRC)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def run_python(code, cwd, env_extra, extra_path=()):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*extra_path, ROOT]), **env_extra) # ganas, installed or not
    res = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout

#----------------------------------------------------------------------------
# Round trip through a fresh process in which the defining module cannot be imported.

def test_pickle_loads_without_defining_module(tmp_path):
    defs = tmp_path / 'defs'
    write_nets_module(defs, 'tiny_nets')
    marker = tmp_path / 'embedded_ran'
    env = dict(EMBEDDED_MARKER=str(marker))
    run_python('''
        import pickle, torch, tiny_nets
        torch.manual_seed(1)
        net = tiny_nets.TinyNet(3, 2, hidden=5)
        x = torch.randn(4, 3)
        with open('net.pkl', 'wb') as f:
            pickle.dump(dict(G=net), f)
        torch.save(dict(x=x, y=net(x).detach()), 'ref.pt')
    ''', cwd=tmp_path, env_extra=env, extra_path=[str(defs)])
    assert not marker.exists()

    out = run_python('''
        import importlib.util, pickle, torch
        from torch_utils import persistence
        assert importlib.util.find_spec('tiny_nets') is None
        ref = torch.load('ref.pt')
        with open('net.pkl', 'rb') as f:
            net = pickle.load(f)['G']
        net2 = persistence.load_pickle('net.pkl', allow_pickle=True)['G']
        torch.save(dict(y=net(ref['x']).detach(), y2=net2(ref['x']).detach()), 'out.pt')
        print(type(net).__module__, dict(net.init_kwargs), net.init_args, type(net) is type(net2))
        try:
            persistence.load_pickle('net.pkl')
        except persistence.PickleRefused as err:
            print(err)
    ''', cwd=tmp_path, env_extra=env)
    lines = out.splitlines()
    assert lines[0].startswith('_ganas_embedded_')
    assert lines[0].endswith("{'hidden': 5} (3, 2) True")
    assert lines[1] == ('net.pkl: pickle refers to code outside ganas (tiny_nets.TinyNet); '
                        'pass --allow-pickle only if you trust it')
    assert marker.exists() # trusted loading executed the embedded source
    ref = torch.load(tmp_path / 'ref.pt')
    got = torch.load(tmp_path / 'out.pt')
    assert torch.equal(got['y'], ref['y']) and torch.equal(got['y2'], ref['y'])

#----------------------------------------------------------------------------
# Safe loading: a persistent class from a trusted package is rebuilt from the installed module.

@pytest.fixture
def trusted_nets(tmp_path, monkeypatch):
    name = 'ganas_test_nets_persistence'
    write_nets_module(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv('EMBEDDED_MARKER', str(tmp_path / 'embedded_ran'))
    monkeypatch.setattr(persistence, '_trusted_packages', persistence._trusted_packages + (name,))
    import importlib
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)

def test_safe_load_uses_installed_class(trusted_nets, tmp_path):
    torch.manual_seed(2)
    net = trusted_nets.TinyNet(3, 2)
    path = tmp_path / 'net.pkl'
    with open(path, 'wb') as f:
        pickle.dump(dict(G=net, note='x'), f)
    data = persistence.load_pickle(path)
    assert type(data['G']) is trusted_nets.TinyNet
    assert data['G'].init_kwargs == {} and data['G'].init_args == (3, 2)
    x = torch.randn(5, 3)
    assert torch.equal(data['G'](x), net(x))
    assert data['note'] == 'x'
    assert not (tmp_path / 'embedded_ran').exists()

def test_safe_load_refuses_untrusted_persistent_class(trusted_nets, tmp_path, monkeypatch):
    net = trusted_nets.TinyNet(3, 2)
    data = pickle.dumps(net)
    monkeypatch.setattr(persistence, '_trusted_packages', ('dnnlib', 'torch_utils', 'training', 'metrics', 'nas'))
    with pytest.raises(persistence.PickleRefused, match=r'\(ganas_test_nets_persistence\.TinyNet\)'):
        persistence.load_pickle(io.BytesIO(data))

class _ForeignPersistent:
    """Pickles like a StyleGAN2-ADA network: reconstruct function plus meta with embedded source only."""
    def __init__(self, src, module_name=None):
        self.meta = dict(type='class', version=6, module_src=src, class_name='Generator', state={})
        if module_name is not None:
            self.meta['module_name'] = module_name
    def __reduce__(self):
        return (persistence._reconstruct_persistent_obj, (self.meta,))

@pytest.mark.parametrize('module_name,what', [
    (None, 'embedded source of class Generator'),
    ('evil_pkg.nets', 'evil_pkg.nets.Generator'),
    ('training.no_such_module', 'training.no_such_module.Generator'),
    ('torch_utils.persistence', 'torch_utils.persistence.Generator'),
])
def test_safe_load_refuses_foreign_persistent(tmp_path, module_name, what):
    marker = tmp_path / 'ran'
    src = f'open({str(marker)!r}, "w").close()\nclass Generator:\n    pass\n'
    path = tmp_path / 'foreign.pkl'
    path.write_bytes(pickle.dumps({'G_ema': _ForeignPersistent(src, module_name)}))
    with pytest.raises(persistence.PickleRefused) as info:
        persistence.load_pickle(path)
    assert str(info.value) == (f'{path}: pickle refers to code outside ganas ({what}); '
                               f'pass --allow-pickle only if you trust it')
    assert not marker.exists()

def test_tensorflow_network_pickle_is_named_in_one_line(tmp_path):
    path = tmp_path / 'stylegan2-cat-config-f.pkl' # GLOBAL dnnlib.tflib.network Network, NEWOBJ, as its pickles begin
    path.write_bytes(b'\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81.')
    with pytest.raises(dnnlib.util.UserError) as info:
        persistence.load_pickle(path)
    assert not isinstance(info.value, persistence.PickleRefused) # --allow-pickle would not help
    assert str(info.value) == (f'{path}: a TensorFlow network pickle (dnnlib.tflib.network.Network, StyleGAN or '
                               f'StyleGAN2); convert it with legacy.py first')
    assert isinstance(persistence.load_pickle(path, foreign_records=True), persistence.TensorFlowNetwork) # as data

def test_stylegan2_ada_style_meta_loads_when_trusted(tmp_path):
    marker = tmp_path / 'ran'
    src = (f'open({str(marker)!r}, "w").close()\n'
           f'from torch_utils import persistence\n'
           f'@persistence.persistent_class\n'
           f'class Generator:\n'
           f'    pass\n')
    path = tmp_path / 'sg2ada.pkl'
    path.write_bytes(pickle.dumps({'G_ema': _ForeignPersistent(src)}))
    G = persistence.load_pickle(path, allow_pickle=True)['G_ema']
    assert marker.exists() and type(G).__name__ == 'Generator' and persistence.is_persistent(G)
    assert type(G).__module__.startswith('_ganas_embedded_')
    assert type(pickle.loads(pickle.dumps(G))) is type(G) # re-pickles with its embedded source

#----------------------------------------------------------------------------
# Safe loading refuses payloads that would run code, without running them.

class _Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args
    def __reduce__(self):
        return (self.func, self.args)

def _payloads(marker):
    import subprocess as sp
    return [
        (os.system, (f'touch {marker}',), f'{os.system.__module__}.system'),
        (sp.call, (['touch', str(marker)],), 'subprocess.call'),
        (eval, (f'open({str(marker)!r}, "w")',), 'builtins.eval'),
        (getattr, ('abc', 'upper'), 'builtins.getattr'),
        (dnnlib.util.call_func_by_name, (), 'dnnlib.util.call_func_by_name'),
    ]

@pytest.mark.parametrize('idx', range(5))
def test_safe_load_refuses_code_payload(tmp_path, idx):
    marker = tmp_path / 'pwned'
    func, args, what = _payloads(marker)[idx]
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps({'G': torch.zeros(2), 'x': _Payload(func, args)}))
    with pytest.raises(persistence.PickleRefused) as info:
        persistence.load_pickle(path)
    message = str(info.value)
    assert message == f'{path}: pickle refers to code outside ganas ({what}); pass --allow-pickle only if you trust it'
    assert '\n' not in message and isinstance(info.value, dnnlib.util.UserError)
    assert not marker.exists()

def test_payload_is_live_with_allow_pickle(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps(_Payload(os.system, (f'touch {marker}',))))
    persistence.load_pickle(path, allow_pickle=True)
    assert marker.exists() # so the refusal above is what kept it from running

def test_code_hidden_in_storage_bytes_refused(tmp_path):
    marker = tmp_path / 'pwned'
    inner = io.BytesIO()
    torch.save(_Payload(os.system, (f'touch {marker}',)), inner, _use_new_zipfile_serialization=False)
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps({'w': _Payload(torch.storage._load_from_bytes, (inner.getvalue(),))}))
    with pytest.raises(persistence.PickleRefused, match=r'\(code inside a tensor storage record\)'):
        persistence.load_pickle(path)
    assert not marker.exists()
    persistence.load_pickle(path, allow_pickle=True)
    assert marker.exists() # torch's own _load_from_bytes runs it

#----------------------------------------------------------------------------
# Damaged files: one line naming the file.

@pytest.mark.parametrize('allow_pickle', [False, True])
def test_truncated_pickle_message(tmp_path, allow_pickle):
    data = pickle.dumps({'w': torch.randn(64, 64), 'b': np.arange(100)})
    for name, content in [('cut.pkl', data[:len(data) // 2]), ('cut2.pkl', data[:-1]), ('empty.pkl', b''),
                          ('text.pkl', b'not a pickle at all\n')]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(dnnlib.util.UserError) as info:
            persistence.load_pickle(path, allow_pickle=allow_pickle)
        message = str(info.value)
        assert message.startswith(f'{path}: truncated or not a pickle (') and message.endswith(')'), message
        assert '\n' not in message and not isinstance(info.value, persistence.PickleRefused)
    with pytest.raises(dnnlib.util.UserError, match='missing.pkl: no such file'):
        persistence.load_pickle(tmp_path / 'missing.pkl')

class _BadTensor:
    def __init__(self, storage, size):
        self.storage, self.size = storage, size
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.size, (1,), False, collections.OrderedDict()))

def test_tensor_record_outside_storage_refused(tmp_path):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore') # TypedStorage deprecation
        storage = torch.arange(4.0).storage()
    data = pickle.dumps(_BadTensor(storage, (1000,)))
    assert pickle.loads(data).numel() == 1000 # plain pickle grows the storage: uninitialised memory
    with pytest.raises(dnnlib.util.UserError, match=r'malformed tensor record'):
        persistence.load_pickle(io.BytesIO(data))
    assert torch.equal(persistence.load_pickle(io.BytesIO(pickle.dumps(_BadTensor(storage, (3,))))), torch.arange(3.0))

#----------------------------------------------------------------------------
# Everything a network pickle holds besides code loads safely and equals plain unpickling.

@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_safe_load_of_tensors_arrays_and_containers(protocol):
    base = torch.randn(6, 5)
    obj = dict(
        f32=base, view=base.t()[1:], f16=torch.randn(3).half(), bf16=torch.randn(3).bfloat16(),
        i64=torch.arange(7), b=torch.tensor([True, False]), empty=torch.zeros(0, 3),
        param=torch.nn.Parameter(torch.ones(2), requires_grad=False),
        arr=np.arange(12, dtype=np.float32).reshape(3, 4), arr_i=np.array([1, -2], dtype=np.int16),
        np_scalar=np.float64(2.5), np_dtype=np.dtype('uint8'), od=collections.OrderedDict(a=1, b=[2, 3]),
        ed=dnnlib.EasyDict(c=1), s={1, 2}, fs=frozenset('ab'), c=1 + 2j, raw=b'\x00\xff', ba=bytearray(b'xy'),
        dtype=torch.float16, device=torch.device('cpu'), size=torch.Size([2, 3]), layer=torch.nn.Linear(2, 3),
    )
    data = pickle.dumps(obj, protocol=protocol)
    got = persistence.load_pickle(io.BytesIO(data))
    ref = pickle.loads(data)
    assert got.keys() == ref.keys()
    for key, value in ref.items():
        if isinstance(value, torch.nn.Module):
            assert type(got[key]) is type(value) and torch.equal(got[key].weight, value.weight)
        elif isinstance(value, torch.Tensor):
            assert type(got[key]) is type(value) and got[key].dtype == value.dtype
            assert torch.equal(got[key], value) and got[key].requires_grad == value.requires_grad
        elif isinstance(value, np.ndarray):
            assert got[key].dtype == value.dtype and np.array_equal(got[key], value)
        else:
            assert type(got[key]) is type(value) and got[key] == value, key

#----------------------------------------------------------------------------
# The decorator records constructor arguments once, as deep copies.

def test_init_kwargs_recorded_by_outermost_class():
    @persistence.persistent_class
    class Base(torch.nn.Module):
        def __init__(self, width, cfg=None):
            super().__init__()
            self.width = width

    @persistence.persistent_class
    class Derived(Base):
        def __init__(self, cfg):
            super().__init__(width=cfg['width'] * 2, cfg=None)

    cfg = dict(width=3, tags=['a'])
    obj = Derived(cfg)
    cfg['tags'].append('b')
    assert obj.init_args == (dict(width=3, tags=['a']),) and obj.init_kwargs == {} and obj.width == 6
    assert persistence.is_persistent(obj) and persistence.is_persistent(Derived)
    assert not persistence.is_persistent(torch.nn.Linear(1, 1)) and not persistence.is_persistent({})
    assert Derived.__name__ == 'Derived' and Derived.__qualname__.endswith('Derived')

def test_deepcopy_keeps_class_and_copies_tensors():
    @persistence.persistent_class
    class Local(torch.nn.Module): # not reachable by name: deepcopy must not need the source
        def __init__(self, width):
            super().__init__()
            self.fc = torch.nn.Linear(2, width)

    net = Local(width=3)
    twin = copy.deepcopy(net)
    assert type(twin) is Local and twin.init_kwargs == dict(width=3)
    assert torch.equal(twin.fc.weight, net.fc.weight) and twin.fc.weight.data_ptr() != net.fc.weight.data_ptr()
    with torch.no_grad():
        twin.fc.weight.add_(1)
    assert not torch.equal(twin.fc.weight, net.fc.weight)

def test_undecorated_subclass_refuses_to_pickle():
    @persistence.persistent_class
    class Base(torch.nn.Module):
        pass

    class Plain(Base):
        pass

    with pytest.raises(TypeError, match='decorate it with @persistent_class too'):
        pickle.dumps(Plain())

#----------------------------------------------------------------------------
