"""Tests for torch_utils.checkpoint: safe snapshots, network loading, RNG and training state."""

import json
import os
import pickle
import random
import sys
import textwrap

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch

import dnnlib
from torch_utils import checkpoint, persistence

#----------------------------------------------------------------------------
# A trusted test package: a module on a temporary path, added to persistence._trusted_packages.

NETS_SRC = textwrap.dedent('''
    import torch
    from torch_utils import persistence

    @persistence.persistent_class
    class Mapping(torch.nn.Module):
        def __init__(self, z_dim, w_dim, num_layers=2, channels_dict=None):
            super().__init__()
            dims = [z_dim] + [w_dim] * num_layers
            self.layers = torch.nn.ModuleList([torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])])
            self.register_buffer('w_avg', torch.zeros(w_dim))
            self.register_buffer('counter', torch.zeros([], dtype=torch.int64))

        def forward(self, z):
            for layer in self.layers:
                z = torch.nn.functional.leaky_relu(layer(z), 0.2)
            return z + self.w_avg

    @persistence.persistent_class
    class Builder(torch.nn.Module):
        def __init__(self, inner_kwargs):
            super().__init__()
            import dnnlib
            self.inner = dnnlib.util.construct_class_by_name(**inner_kwargs)

    def not_a_class(**kwargs):
        raise AssertionError('must never be called')
''')

MODULE = 'ganas_test_nets_checkpoint'

@pytest.fixture
def nets(tmp_path, monkeypatch):
    (tmp_path / f'{MODULE}.py').write_text(NETS_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(persistence, '_trusted_packages', persistence._trusted_packages + (MODULE,))
    import importlib
    module = importlib.import_module(MODULE)
    yield module
    sys.modules.pop(MODULE, None)

def make_pair(nets):
    torch.manual_seed(0)
    G = nets.Mapping(4, 6, num_layers=3)
    D = nets.Mapping(6, 2)
    with torch.no_grad():
        G.w_avg.copy_(torch.randn(6))
        G.counter.fill_(17)
    return G, D

#----------------------------------------------------------------------------
# save_safe / load_safe.

def test_safe_round_trip_exact(nets, tmp_path):
    G, D = make_pair(nets)
    extra = dict(training_set_kwargs=dict(path='x.zip', resolution=32), genotype=dict(ops=['conv_3x3']),
                 augment_p=0.125)
    path = tmp_path / 'network-snapshot-000000.safetensors'
    checkpoint.save_safe(path, dict(G=G, D=D, G_ema=G), extra)
    data = checkpoint.load_safe(path)
    assert set(data) == {'G', 'D', 'G_ema', 'training_set_kwargs', 'genotype', 'augment_p'}
    assert data['training_set_kwargs'] == extra['training_set_kwargs'] and data['augment_p'] == 0.125
    for name, ref in [('G', G), ('D', D), ('G_ema', G)]:
        net = data[name]
        assert type(net) is nets.Mapping and net.init_args == ref.init_args and net.init_kwargs == ref.init_kwargs
        ref_state, got_state = ref.state_dict(), net.state_dict()
        assert ref_state.keys() == got_state.keys()
        for key in ref_state:
            assert got_state[key].dtype == ref_state[key].dtype and torch.equal(got_state[key], ref_state[key])
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    z = torch.randn(3, 4)
    assert torch.equal(data['G'](z), G(z))

    # The file is plain safetensors: keys per module, JSON config in the metadata.
    with safetensors.safe_open(path, framework='pt') as f:
        keys = set(f.keys())
        config = json.loads(f.metadata()['ganas'])
    assert 'G.layers.0.weight' in keys and 'D.w_avg' in keys and 'G_ema.counter' in keys
    assert config['format_version'] == 1
    assert config['modules']['G'] == dict(class_name=f'{MODULE}.Mapping', init_args=[4, 6],
                                          init_kwargs=dict(num_layers=3))
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]

def test_save_safe_refuses_non_json_kwargs(nets, tmp_path):
    net = nets.Mapping(2, 2, channels_dict={4: 8})
    with pytest.raises(TypeError, match=r'G\.init_kwargs\.channels_dict has the non-string key 4'):
        checkpoint.save_safe(tmp_path / 'a.safetensors', dict(G=net))
    net = nets.Mapping(2, 2, channels_dict=dict(x=np.float32(1)))
    with pytest.raises(TypeError, match=r'G\.init_kwargs\.channels_dict\.x is a numpy.float32'):
        checkpoint.save_safe(tmp_path / 'a.safetensors', dict(G=net))
    with pytest.raises(TypeError, match='not a @persistent_class module'):
        checkpoint.save_safe(tmp_path / 'a.safetensors', dict(G=torch.nn.Linear(1, 1)))
    assert not (tmp_path / 'a.safetensors').exists()

def write_safe_with_config(path, modules_config, tensors=None):
    config = dict(format_version=1, modules=modules_config, extra={})
    data = safetensors.torch.save(tensors or {}, metadata={'format': 'pt', 'ganas': json.dumps(config)})
    path.write_bytes(data)

@pytest.mark.parametrize('class_name,kwargs,what', [
    ('os.system', dict(command='true'), 'os.system'),
    ('evil_pkg.Net', {}, 'evil_pkg.Net'),
    (f'{MODULE}.Builder', dict(inner_kwargs=dict(class_name='subprocess.Popen', args=['true'])), 'subprocess.Popen'),
])
def test_load_safe_refuses_untrusted_class(nets, tmp_path, class_name, kwargs, what):
    path = tmp_path / 'evil.safetensors'
    write_safe_with_config(path, dict(G=dict(class_name=class_name, init_args=[], init_kwargs=kwargs)))
    with pytest.raises(dnnlib.util.UserError) as info:
        checkpoint.load_safe(path)
    assert str(info.value) == f'{path}: G refers to code outside ganas ({what}); refusing to construct it'

def test_load_safe_refuses_trusted_non_network(nets, tmp_path):
    path = tmp_path / 'odd.safetensors'
    write_safe_with_config(path, dict(G=dict(class_name=f'{MODULE}.not_a_class', init_args=[], init_kwargs={})))
    with pytest.raises(dnnlib.util.UserError, match=f'not_a_class, which is not a ganas network class'):
        checkpoint.load_safe(path)

def test_load_safe_bad_files(nets, tmp_path):
    G, _ = make_pair(nets)
    path = tmp_path / 'net.safetensors'
    checkpoint.save_safe(path, dict(G=G))
    data = path.read_bytes()
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(data[:-10])
    with pytest.raises(dnnlib.util.UserError, match=r'cut\.safetensors: truncated or not a safetensors file \('):
        checkpoint.load_safe(cut)
    plain = tmp_path / 'plain.safetensors'
    safetensors.torch.save_file({'x': torch.zeros(1)}, str(plain))
    with pytest.raises(dnnlib.util.UserError, match='without ganas metadata'):
        checkpoint.load_safe(plain)
    wrong = tmp_path / 'wrong.safetensors'
    config = dict(G=dict(class_name=f'{MODULE}.Mapping', init_args=[4, 6], init_kwargs=dict(num_layers=2)))
    write_safe_with_config(wrong, config, {f'G.{k}': v for k, v in G.state_dict().items()})
    with pytest.raises(dnnlib.util.UserError, match=r'weights of G do not fit .*Mapping'):
        checkpoint.load_safe(wrong)
    with pytest.raises(dnnlib.util.UserError, match='missing.safetensors: no such file'):
        checkpoint.load_safe(tmp_path / 'missing.safetensors')

#----------------------------------------------------------------------------
# load_network: safe file, pkl with a safe twin, plain pkl (safe unpickling), file:// URL.

def test_load_network_sources(nets, tmp_path):
    G, D = make_pair(nets)
    z = torch.randn(2, 4)
    pkl = tmp_path / 'network-snapshot-000004.pkl'
    checkpoint.save_pickle(pkl, dict(G=G, D=D, G_ema=G, training_set_kwargs=dict(resolution=32)))
    data = checkpoint.load_network(pkl)
    assert type(data['G_ema']) is nets.Mapping and torch.equal(data['G_ema'](z), G(z))
    assert data['training_set_kwargs'] == dict(resolution=32)

    # A safe twin wins over the pickle: make them differ to tell which loaded.
    twin = tmp_path / 'network-snapshot-000004.safetensors'
    G2 = nets.Mapping(4, 6, num_layers=3)
    checkpoint.save_safe(twin, dict(G_ema=G2), dict(source='twin'))
    data = checkpoint.load_network(pkl)
    assert data['source'] == 'twin' and torch.equal(data['G_ema'](z), G2(z))
    assert checkpoint.load_network(f'file://{twin}')['source'] == 'twin'

    # A foreign pickle is refused unless allowed.
    foreign = tmp_path / 'foreign.pkl'
    torch.manual_seed(3)
    foreign.write_bytes(pickle.dumps(dict(G=torch.nn.Sequential(torch.nn.Linear(1, 1)), f=np.linalg.norm)))
    with pytest.raises(persistence.PickleRefused, match=r'\(numpy\.linalg.*norm\)'):
        checkpoint.load_network(foreign)
    assert checkpoint.load_network(foreign, allow_pickle=True)['f'] is np.linalg.norm
    with pytest.raises(dnnlib.util.UserError, match='nope.pkl: no such file'):
        checkpoint.load_network(tmp_path / 'nope.pkl')

#----------------------------------------------------------------------------
# RNG state and training state.

def draw():
    return (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(), np.random.randn(), torch.rand(4).tolist())

def test_rng_state_round_trip(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    draw()
    np.random.randn() # leaves a cached gaussian in numpy's state
    random.gauss(0, 1)
    state = checkpoint.capture_rng_state()
    expected = [draw() for _ in range(3)]
    state = dict(rng=state, cur_nimg=1000, opt=dict(step=torch.tensor(5.0)))
    checkpoint.save_state(tmp_path / 'training-state.pt', state)
    assert draw() != expected[0] # the generators moved on
    loaded = checkpoint.load_state(tmp_path / 'training-state.pt')
    assert loaded['cur_nimg'] == 1000 and torch.equal(loaded['opt']['step'], torch.tensor(5.0))
    checkpoint.restore_rng_state(loaded['rng'])
    assert [draw() for _ in range(3)] == expected

def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

def test_rank_rng_states_one_process_and_ranks_the_state_lacks():
    seed_all(3)
    saved = checkpoint.gather_ranks('rng', checkpoint.capture_rng_state()) # one process: only 'rng'
    assert set(saved) == {'rng'}
    expected = draw()
    checkpoint.restore_rank_rng_state(saved, 0)
    assert draw() == expected
    two_ranks = dict(rng=saved['rng'], rng_ranks=[saved['rng'], checkpoint.capture_rng_state()])
    expected = draw()
    checkpoint.restore_rank_rng_state(two_ranks, 1) # its own entry
    assert draw() == expected
    seed_all(4)
    expected = draw()
    seed_all(4)
    checkpoint.restore_rank_rng_state(saved, 1) # a rank the saved run did not have keeps its seeded state
    assert draw() == expected

def test_load_state_errors(tmp_path):
    path = tmp_path / 'state.pt'
    checkpoint.save_state(path, dict(w=torch.randn(100, 100), rng=checkpoint.capture_rng_state()))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(dnnlib.util.UserError, match=r'state\.pt: truncated or not a training state \('):
        checkpoint.load_state(path)
    path.write_bytes(b'')
    with pytest.raises(dnnlib.util.UserError, match=r'state\.pt: truncated or not a training state \('):
        checkpoint.load_state(path)
    odd = tmp_path / 'odd.pt'
    torch.save(dict(f=np.linalg.norm), odd)
    with pytest.raises(dnnlib.util.UserError, match=r'odd\.pt: holds objects that weights-only loading refuses'):
        checkpoint.load_state(odd)

#----------------------------------------------------------------------------
