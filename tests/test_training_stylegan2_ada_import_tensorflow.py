"""TensorFlow pickles of StyleGAN2 and StyleGAN2-ADA load as ganas networks and convert with legacy.py, without
TensorFlow and without running anything they hold (training/stylegan2_ada_import.py).

The pickles are written here as NVIDIA's TensorFlow code wrote them: a tuple (G, D, Gs) of dnnlib.tflib.network.Network
objects whose pickled state holds version, name, static_kwargs, components, build_module_src, build_func_name and
variables as (name, numpy array) pairs, named and laid out as TensorFlow names and lays them out ([kh, kw, in, out]
convs, [in, out] dense layers, modulation biases around 0, the up-sampling conv's kernel flipped). Their variables are
made here from the PyTorch-layout tensors of the layout-file fixtures, by the inverse of the conversion, so the
converted networks must carry exactly those tensors and give the functional reference's outputs on them."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from cli_helpers import assert_one_line_error, run_inprocess
from test_training_stylegan2_ada_import import (LAYOUT, NEVER_RUN, assert_generate_gives_the_same_images, close, inputs,
    layout_snapshot, record_tensors, reference_D, reference_G, write_stylegan2_ada_pickle)
from torch_utils import persistence
from training import stylegan2_ada_import

#----------------------------------------------------------------------------
# A stand-in for dnnlib.tflib.network.Network: pickled under that name with the state its __getstate__ returned.

class Network:
    def __init__(self, name, static_kwargs, variables, components=None, func='G_main'):
        self.state = dict(version=4, name=name, static_kwargs=dict(static_kwargs), components=dict(components or {}),
                          build_module_src=NEVER_RUN, build_func_name=func,
                          variables=[(key, np.asarray(value, dtype=np.float32)) for key, value in variables])

    def __getstate__(self):
        return self.state

def stand_in(net):
    """A loaded TensorFlowNetwork (and its components) as Network again, to write it back."""
    out = Network.__new__(Network)
    out.state = dict(net.state, components={key: stand_in(child) for key, child in net.state['components'].items()})
    return out

def dump_tensorflow_pickle(path, networks, monkeypatch):
    """Pickle `networks` (protocol 3, as TensorFlow's Python 3.6 wrote them) with Network named as tflib names it."""
    module = types.ModuleType('dnnlib.tflib.network')
    module.Network = Network
    with monkeypatch.context() as patch:
        patch.setattr(Network, '__module__', 'dnnlib.tflib.network')
        patch.setitem(sys.modules, 'dnnlib.tflib.network', module)
        with open(path, 'wb') as f:
            pickle.dump(networks, f, protocol=3)
    return str(path)

#----------------------------------------------------------------------------
# PyTorch layout (StyleGAN2-ADA's state-dict names) -> TensorFlow variables, layer by layer.

def np32(t):
    return t.detach().numpy().astype(np.float32)

def dense(t, pt, tf):
    """FC layer: weight [out, in] -> [in, out]."""
    return [(f'{tf}/weight', np32(t[f'{pt}.weight']).T), (f'{tf}/bias', np32(t[f'{pt}.bias']))]

def conv(t, pt, tf, flip=False, bias=True):
    """Conv weight [out, in, kh, kw] -> [kh, kw, in, out]; flip: TensorFlow's up-sampling conv holds it flipped."""
    w = np32(t[f'{pt}.weight']).transpose(2, 3, 1, 0)
    out = [(f'{tf}/weight', w[::-1, ::-1] if flip else w)]
    return out + ([(f'{tf}/bias', np32(t[f'{pt}.bias']))] if bias else [])

def modulated(t, pt, tf, flip=False):
    """Modulated conv: conv, affine [in, w_dim] -> mod_weight [w_dim, in], affine bias (around 1) -> mod_bias (around 0)."""
    out = conv(t, pt, tf, flip)
    out += [(f'{tf}/mod_weight', np32(t[f'{pt}.affine.weight']).T), (f'{tf}/mod_bias', np32(t[f'{pt}.affine.bias']) - 1)]
    if f'{pt}.noise_strength' in t:
        out.append((f'{tf}/noise_strength', np32(t[f'{pt}.noise_strength'])))
    return out

def tensorflow_generator(t, kwargs, name):
    mapping = dense(t, 'mapping.embed', 'LabelEmbed') if kwargs['c_dim'] else []
    for i in range(kwargs['mapping_kwargs']['num_layers']):
        mapping += dense(t, f'mapping.fc{i}', f'Dense{i}')
    synthesis = [('4x4/Const/const', np32(t['synthesis.b4.const'])[np.newaxis])]
    layers = ['synthesis.b4.conv1'] # in the order of their noise inputs noise0, noise1, ...
    synthesis += modulated(t, 'synthesis.b4.conv1', '4x4/Conv')
    res = 4
    while res <= kwargs['img_resolution']:
        b, scope = f'synthesis.b{res}', f'{res}x{res}'
        if res > 4:
            synthesis += modulated(t, f'{b}.conv0', f'{scope}/Conv0_up', flip=True) + modulated(t, f'{b}.conv1', f'{scope}/Conv1')
            layers += [f'{b}.conv0', f'{b}.conv1']
        if f'{b}.skip.weight' in t: # 'resnet'
            synthesis += conv(t, f'{b}.skip', f'{scope}/Skip', flip=True, bias=False)
        if f'{b}.torgb.weight' in t: # every block of 'skip', the last one elsewhere
            synthesis += modulated(t, f'{b}.torgb', f'{scope}/ToRGB')
        res *= 2
    synthesis += [(f'noise{i}', np32(t[f'{layer}.noise_const'])[np.newaxis, np.newaxis]) for i, layer in enumerate(layers)]
    syn = kwargs['synthesis_kwargs']
    static = dict(latent_size=kwargs['z_dim'], label_size=kwargs['c_dim'], dlatent_size=kwargs['w_dim'],
                  resolution=kwargs['img_resolution'], num_channels=kwargs['img_channels'],
                  mapping_layers=kwargs['mapping_kwargs']['num_layers'], fmap_base=syn['channel_base'] // 2,
                  fmap_max=syn['channel_max'], num_fp16_res=syn['num_fp16_res'], conv_clamp=syn['conv_clamp'],
                  architecture=syn.get('architecture', 'skip'),
                  truncation_psi=0.5) # a sampling option, as G's pickles carry it
    components = dict(mapping=Network('G_mapping', static, mapping, func='G_mapping'),
                      synthesis=Network('G_synthesis', static, synthesis, func='G_synthesis_stylegan2'))
    own = [('lod', np.float32(0)), ('dlatent_avg', np32(t['mapping.w_avg']))]
    return Network(name, static, own, components)

def tensorflow_discriminator(t, kwargs):
    res = kwargs['img_resolution']
    variables = conv(t, f'b{res}.fromrgb', f'{res}x{res}/FromRGB')
    while res > 4:
        scope = f'{res}x{res}'
        variables += conv(t, f'b{res}.conv0', f'{scope}/Conv0') + conv(t, f'b{res}.conv1', f'{scope}/Conv1_down')
        variables += conv(t, f'b{res}.skip', f'{scope}/Skip', bias=False)
        res //= 2
    variables += conv(t, 'b4.conv', '4x4/Conv') + dense(t, 'b4.fc', '4x4/Dense0') + dense(t, 'b4.out', 'Output')
    num_mapping = 0
    if kwargs['c_dim']:
        variables += dense(t, 'mapping.embed', 'LabelEmbed')
        while f'mapping.fc{num_mapping}.weight' in t:
            variables += dense(t, f'mapping.fc{num_mapping}', f'Mapping{num_mapping}')
            num_mapping += 1
    static = dict(label_size=kwargs['c_dim'], resolution=kwargs['img_resolution'], num_channels=kwargs['img_channels'],
                  architecture='resnet', fmap_base=kwargs['channel_base'] // 2, fmap_max=kwargs['channel_max'],
                  num_fp16_res=kwargs['num_fp16_res'], conv_clamp=kwargs['conv_clamp'], mapping_layers=num_mapping,
                  mapping_lrmul=0.01, # the PyTorch D's label mapping; TensorFlow's default is 0.1
                  mbstd_group_size=kwargs['epilogue_kwargs']['mbstd_group_size'])
    return Network('D', static, variables, func='D_stylegan2')

def tensorflow_pickle(tmp_path, monkeypatch, config, name='network-snapshot-000100.pkl', G_architecture=None):
    """A TensorFlow pickle of a layout-file configuration (G skip or G_architecture, D resnet), and its StyleGAN2-ADA
    PyTorch twin."""
    snapshot = layout_snapshot(config, 'resnet', G_architecture)
    torch_path = write_stylegan2_ada_pickle(tmp_path / f'pytorch-{name}', snapshot)
    theirs = persistence.load_pickle(torch_path, foreign_records=True)
    G_kwargs, D_kwargs = theirs['G'].state['_init_kwargs'], dict(theirs['D'].state['_init_kwargs'], architecture='resnet')
    nets = (tensorflow_generator(record_tensors(theirs['G']), G_kwargs, 'G'),
            tensorflow_discriminator(record_tensors(theirs['D']), D_kwargs),
            tensorflow_generator(record_tensors(theirs['G_ema']), G_kwargs, 'Gs'))
    return dump_tensorflow_pickle(tmp_path / name, nets, monkeypatch), theirs, torch_path

#----------------------------------------------------------------------------

@pytest.mark.parametrize('config,G_architecture', [('paper256-like', None), ('cifar', None), ('paper256-like', 'orig'),
                                                   ('paper256-like', 'resnet')])
def test_tensorflow_pickle_converts_to_the_pytorch_tensors_and_outputs(tmp_path, monkeypatch, config, G_architecture):
    path, theirs, torch_path = tensorflow_pickle(tmp_path, monkeypatch, config, G_architecture=G_architecture)
    data = stylegan2_ada_import.load_network(path)
    assert sorted(data) == ['D', 'G', 'G_ema']
    from_torch = stylegan2_ada_import.load_network(torch_path)
    for key in ['G', 'D', 'G_ema']: # exactly the tensors of the PyTorch snapshot
        ours, reference = data[key].state_dict(), from_torch[key].state_dict()
        assert ours.keys() == reference.keys()
        for name in ours: # modulation biases pass through float32 - 1 + 1
            tolerance = 1e-6 if name.endswith('affine.bias') else 0
            assert torch.allclose(ours[name], reference[name], rtol=tolerance, atol=tolerance), (key, name)
    G_kwargs, D_kwargs = theirs['G'].state['_init_kwargs'], dict(theirs['D'].state['_init_kwargs'], architecture='resnet')
    assert data['G'].init_kwargs['synthesis_kwargs']['num_fp16_res'] == G_kwargs['synthesis_kwargs']['num_fp16_res']
    assert data['D'].init_kwargs['epilogue_kwargs']['mbstd_group_size'] == D_kwargs['epilogue_kwargs']['mbstd_group_size']
    z, c = inputs(G_kwargs)
    with torch.no_grad():
        for key in ['G', 'G_ema']:
            t = record_tensors(theirs[key])
            for psi in [1, 0.7]:
                assert close(data[key](z, c, truncation_psi=psi, noise_mode='const'), reference_G(t, G_kwargs, z, c, psi))
        img = data['G_ema'](z, c, noise_mode='const') * 0.2
        assert close(data['D'](img, c), reference_D(record_tensors(theirs['D']), D_kwargs, img, c))

def test_one_generator_network_is_G_ema(tmp_path, monkeypatch):
    path, theirs, _torch_path = tensorflow_pickle(tmp_path, monkeypatch, 'paper256-like')
    with open(path, 'rb') as f:
        Gs = persistence.load_pickle(f, foreign_records=True)[2]
    path = dump_tensorflow_pickle(tmp_path / 'Gs.pkl', stand_in(Gs), monkeypatch)
    assert 'dnnlib.tflib.network' not in sys.modules # the stand-in is gone: the file only names tflib's class
    data = stylegan2_ada_import.load_network(path)
    assert sorted(data) == ['G_ema']
    z, c = inputs(LAYOUT['paper256-like']['G_kwargs'])
    with torch.no_grad():
        assert close(data['G_ema'](z, c, noise_mode='const'),
                     reference_G(record_tensors(theirs['G_ema']), theirs['G_ema'].state['_init_kwargs'], z, c))

#----------------------------------------------------------------------------
# legacy.py and the tools.

def test_legacy_py_writes_a_snapshot_that_generate_loads(tmp_path, monkeypatch, capsys):
    path, _theirs, _torch_path = tensorflow_pickle(tmp_path, monkeypatch, 'cifar', name='stylegan2-cifar.pkl')
    dest = tmp_path / 'out' / 'converted.pkl'
    res = run_inprocess(capsys, 'legacy.py', f'--source={path}', f'--dest={dest}')
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == 'Done.'
    assert (tmp_path / 'out' / 'converted.safetensors').is_file()
    ours = persistence.load_pickle(dest) # ganas's own pickle: no foreign code
    assert sorted(ours) == ['D', 'G', 'G_ema']
    assert_generate_gives_the_same_images(capsys, tmp_path, dict(direct=path, converted=str(dest)), '--class=3')

def test_legacy_py_force_fp16_changes_the_settings_not_the_weights(tmp_path, monkeypatch, capsys):
    path, _theirs, torch_path = tensorflow_pickle(tmp_path, monkeypatch, 'paper256-like')
    for source, dest in [(path, 'tf-fp16.pkl'), (torch_path, 'torch-fp16.pkl')]:
        res = run_inprocess(capsys, 'legacy.py', f'--source={source}', f'--dest={tmp_path / dest}', '--force-fp16=1')
        assert res.returncode == 0, res.stderr
        data = stylegan2_ada_import.load_network(str(tmp_path / dest))
        plain = stylegan2_ada_import.load_network(source)
        for key in ['G', 'D', 'G_ema']:
            options = data[key].init_kwargs.get('synthesis_kwargs', data[key].init_kwargs)
            assert (options['num_fp16_res'], options['conv_clamp']) == (4, 256), key
            assert all(torch.equal(a, b) for a, b in zip(data[key].state_dict().values(), plain[key].state_dict().values()))
        assert [getattr(data['G_ema'].synthesis, f'b{r}').use_fp16 for r in [4, 8, 16, 32]] == [False, True, True, True]
    assert sorted(stylegan2_ada_import.load_network(str(tmp_path / 'torch-fp16.pkl'))) == \
        ['D', 'G', 'G_ema', 'augment_pipe', 'training_set_kwargs'] # a PyTorch snapshot keeps the rest

#----------------------------------------------------------------------------
# What does not convert is one line naming it.

def test_refused_tensorflow_pickles_are_one_line(tmp_path, monkeypatch, capsys):
    path, _theirs, _torch_path = tensorflow_pickle(tmp_path, monkeypatch, 'paper256-like', name='tf.pkl')
    with open(path, 'rb') as f:
        G, D, Gs = persistence.load_pickle(f, foreign_records=True)
    def write(name, nets):
        return dump_tensorflow_pickle(tmp_path / name, tuple(stand_in(net) for net in nets), monkeypatch)
    def refused(network, *fragments):
        res = run_inprocess(capsys, 'legacy.py', f'--source={network}', f'--dest={tmp_path / "out.pkl"}')
        assert_one_line_error(res, *fragments)
        assert not (tmp_path / 'out.pkl').exists()

    D.state['variables'].append(('16x16/Conv2/weight', np.zeros([3, 3, 8, 8], dtype=np.float32)))
    refused(write('extra.pkl', [G, D, Gs]), 'extra.pkl: D: TensorFlow variable 16x16/Conv2/weight [3, 3, 8, 8] has no '
                                            'place in a StyleGAN2 Discriminator')
    D.state['variables'].pop()
    cut = G.state['components']['mapping'].state['variables'].pop() # Dense1/bias
    refused(write('cut.pkl', [G, D, Gs]), "cut.pkl: G: Generator tensors do not match ganas's (missing "
                                          "['mapping.fc1.bias'], unexpected [])")
    G.state['components']['mapping'].state['variables'].append(cut)
    Gs.state['static_kwargs']['fmap_decay'] = 0.5
    refused(write('two.pkl', [G, D]), 'two.pkl: a TensorFlow pickle of 2 networks; expected G, D and Gs, or one generator')
    refused(write('decay.pkl', [G, D, Gs]), 'decay.pkl: G_ema: TensorFlow option fmap_decay=0.5 has no ganas counterpart')
    Gs.state['static_kwargs']['architecture'] = 'resnet'
    del Gs.state['static_kwargs']['fmap_decay']
    refused(write('resnet.pkl', [G, D, Gs]), "resnet.pkl: G_ema: Generator tensors do not match ganas's (missing "
                                             "['synthesis.b16.skip.weight', 'synthesis.b32.skip.weight', "
                                             "'synthesis.b8.skip.weight'], unexpected")
    D.state['version'] = 3
    refused(write('old.pkl', [D, D, D]), 'old.pkl: G: TensorFlow network format version 3 is older than 4')

    res = run_inprocess(capsys, 'legacy.py', f'--source={path}', f'--dest={tmp_path / "out.safetensors"}')
    assert_one_line_error(res, '--dest: ', 'out.safetensors: expected a .pkl name (its .safetensors twin is written '
                                           'beside it)')
    raw = (tmp_path / 'tf.pkl').read_bytes()
    (tmp_path / 'truncated.pkl').write_bytes(raw[:len(raw) // 2])
    refused(tmp_path / 'truncated.pkl', 'truncated.pkl: truncated or not a pickle')
    # Only the Network class of tflib is read as data; any other name of the pickle is refused, and nothing runs.
    (tmp_path / 'tfutil.pkl').write_bytes(b'\x80\x03cdnnlib.tflib.tfutil\nrun\n)\x81.')
    refused(tmp_path / 'tfutil.pkl', 'tfutil.pkl: a TensorFlow pickle (dnnlib.tflib.tfutil.run) with more than '
                                     "StyleGAN2's networks in it")
    (tmp_path / 'os.pkl').write_bytes(b'\x80\x03cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.')
    refused(tmp_path / 'os.pkl', 'os.pkl: pickle refers to code outside ganas (posix.system)')

#----------------------------------------------------------------------------
