"""StyleGAN2-ADA's own network pickles load as ganas networks with the same outputs, without running the source they
embed (training/stylegan2_ada_import.py). The pickles are written here in StyleGAN2-ADA's format: every persistent
object as _reconstruct_persistent_obj(meta), meta = type, version 6, module_src, class_name, state (the object's
__dict__), no module name; their tensors are exactly those of tests/data/stylegan2_ada_layout.txt (read from
StyleGAN2-ADA's own networks). The outputs are compared with a functional StyleGAN2 written below from the published
formulas, which reads every tensor by its name in the file: loading a tensor into the wrong place changes the output."""

import copy
import json
import os
import pickle

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F

import dnnlib
from cli_helpers import assert_one_line_error, run_inprocess
from test_metrics_detectors import TinyInception
from test_metrics_metric_main import random_images, write_zip
from torch_utils import checkpoint, persistence
from training import augment, networks_stylegan2, stylegan2_ada_import

NEVER_RUN = 'raise RuntimeError("the embedded source of a StyleGAN2-ADA pickle must not run")\n'
LAYOUT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'stylegan2_ada_layout.txt')

#----------------------------------------------------------------------------
# The layout file: per configuration the init kwargs of G and D and every tensor as (name, kind, shape, dtype).

def read_layout():
    """{'paper256-like' | 'cifar' | 'augment_pipe': {'G_kwargs', 'D_kwargs', 'tensors': [(name, kind, shape, dtype)]}}"""
    layout, section = {}, None
    with open(LAYOUT_PATH, encoding='utf-8') as f:
        for line in f:
            if line.startswith('## '):
                section = layout.setdefault(line[3:].split()[0], dict(tensors=[]))
            elif line.startswith(('G init_kwargs: ', 'D init_kwargs: ')):
                section[f'{line[0]}_kwargs'] = json.loads(line.split(': ', 1)[1])
            elif line.startswith('  '):
                name, kind, rest = line.split(maxsplit=2)
                shape, dtype = rest.rsplit(maxsplit=1)
                section['tensors'].append((name, kind, json.loads(shape), dtype))
    return layout

LAYOUT = read_layout()
CONFIGS = ['paper256-like', 'cifar']

def test_layout_file_lists_both_configurations():
    assert sorted(LAYOUT) == ['augment_pipe', 'cifar', 'paper256-like']
    assert LAYOUT['cifar']['D_kwargs']['architecture'] == 'orig' and 'architecture' not in LAYOUT['paper256-like']['D_kwargs']
    assert [len(LAYOUT[c]['tensors']) for c in CONFIGS + ['augment_pipe']] == [112, 126, 3]

#----------------------------------------------------------------------------
# Writing a snapshot of ganas networks in StyleGAN2-ADA's format and layout.

def legacy_kwargs(obj, kwargs, flat_synthesis=False):
    """Constructor options as StyleGAN2-ADA's legacy.py writes them: its explicit defaults; flat_synthesis: as StyleGAN3's
    copy of the StyleGAN2 Generator takes them, synthesis options at the top."""
    kwargs = copy.deepcopy(dict(kwargs))
    if isinstance(obj, networks_stylegan2.Generator):
        kwargs['synthesis_kwargs'] = dnnlib.EasyDict(kwargs.get('synthesis_kwargs', {}), architecture='skip',
            resample_filter=[1, 3, 3, 1], use_noise=True, activation='lrelu')
        if flat_synthesis:
            kwargs.update(kwargs.pop('synthesis_kwargs'))
        kwargs['mapping_kwargs'] = dnnlib.EasyDict(kwargs.get('mapping_kwargs', {}), embed_features=None,
            layer_features=None, activation='lrelu', lr_multiplier=0.01, w_avg_beta=0.995)
    if isinstance(obj, networks_stylegan2.Discriminator):
        kwargs.setdefault('architecture', 'resnet')
    return dnnlib.EasyDict(kwargs)

class StyleGAN2ADAPickler(pickle.Pickler):
    legacy = False          # Write legacy.py's explicit default options.
    flat_synthesis = False  # Write the Generator's options as StyleGAN3's copy of it takes them.

    def reducer_override(self, obj):
        if isinstance(obj, type) or not persistence.is_persistent(obj):
            return NotImplemented
        state = dict(obj.__dict__)
        kwargs = dnnlib.EasyDict(state['_init_kwargs'])
        kwargs.pop('genotype', None)
        state['_init_kwargs'] = legacy_kwargs(obj, kwargs, self.flat_synthesis) if self.legacy else kwargs
        buffers = dict(state['_buffers'])
        if 'w_avg_all' in buffers: # StyleGAN2-ADA's mapping tracks the last layer only
            buffers = {'w_avg': buffers.pop('w_avg_all')[-1].clone(), **buffers}
        if isinstance(obj, augment.AugmentPipe): # its filter banks are persistent float32 buffers there
            buffers = dict(p=buffers['p'], Hz_geom=buffers['geom_filter'].float(),
                           Hz_fbank=buffers['band_filters'].float())
            state['_non_persistent_buffers_set'] = set()
        if isinstance(obj, networks_stylegan2.DiscriminatorBlock): # every block holds its filter there
            state['_non_persistent_buffers_set'] = set()
        state['_buffers'] = buffers
        meta = dict(type='class', version=6, module_src=NEVER_RUN, class_name=type(obj).__name__, state=state)
        return persistence._reconstruct_persistent_obj, (meta,)

def write_stylegan2_ada_pickle(path, snapshot, legacy=False, flat_synthesis=False):
    with open(path, 'wb') as f:
        pickler = StyleGAN2ADAPickler(f)
        pickler.legacy = legacy
        pickler.flat_synthesis = flat_synthesis
        pickler.dump(snapshot)
    return str(path)

def randomize(net, bias_std=1.0):
    """Every parameter and w_avg drawn at random (a new network has zero biases and noise strengths, which would hide
    a tensor loaded into the wrong place)."""
    with torch.no_grad():
        for name, tensor in list(net.named_parameters()) + [(n, b) for n, b in net.named_buffers() if 'w_avg' in n]:
            std = bias_std if name.endswith('bias') else 0.3 if name.endswith(('noise_strength', 'w_avg_all')) else 1
            tensor.copy_(torch.randn_like(tensor) * std)
    return net

def layout_snapshot(config, D_architecture=None, G_architecture=None):
    """A snapshot with the networks of one configuration of the layout file, random weights. Where the configuration
    clamps convolutions, biases reach past the clamp so that the clamp changes the outputs."""
    torch.manual_seed(3)
    G_kwargs, D_kwargs = copy.deepcopy(LAYOUT[config]['G_kwargs']), dict(LAYOUT[config]['D_kwargs'])
    if D_architecture is not None:
        D_kwargs['architecture'] = D_architecture
    if G_architecture is not None:
        G_kwargs['synthesis_kwargs']['architecture'] = G_architecture
    bias_std = 1 if G_kwargs['synthesis_kwargs']['conv_clamp'] is None else 150
    G = randomize(networks_stylegan2.Generator(**G_kwargs), bias_std).train()
    D = randomize(networks_stylegan2.Discriminator(**D_kwargs), bias_std).train()
    pipe = augment.AugmentPipe(**augment.AUGPIPE_SPECS['bgc'])
    pipe.p.fill_(0.3)
    return dict(G=G, D=D, G_ema=randomize(copy.deepcopy(G), bias_std).eval(), augment_pipe=pipe,
                training_set_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path='cifar10.zip'))

def record_tensors(record, prefix=''):
    """name -> tensor of a PersistentRecord tree, as its state_dict() would list them."""
    state = record.state
    out = {prefix + name: v for name, v in state['_parameters'].items() if v is not None}
    out.update({prefix + name: v for name, v in state['_buffers'].items()
                if v is not None and name not in state['_non_persistent_buffers_set']})
    for name, child in state['_modules'].items():
        out.update(record_tensors(child, f'{prefix}{name}.'))
    return out

def layout_of(path):
    """The pickle's tensors as layout-file rows, in state_dict order."""
    data = persistence.load_pickle(path, foreign_records=True)
    rows = []
    for key in ['G', 'D', 'augment_pipe']:
        for name, t in record_tensors(data[key]).items():
            kind = 'param' if isinstance(t, torch.nn.Parameter) else 'buffer'
            rows.append((f'{key}.{name}', kind, list(t.shape), str(t.dtype).replace('torch.', '')))
    return data, rows

#----------------------------------------------------------------------------
# A functional StyleGAN2 (Karras et al., CVPR 2020; StyleGAN2-ADA's networks) on the tensors of a snapshot, by name.

SQRT2 = np.sqrt(2)
FIR = torch.tensor([1., 3., 3., 1.])
FIR2D = torch.outer(FIR, FIR) / FIR.sum() ** 2 # the normalised separable [1,3,3,1] filter of every resample_filter

def act(x, activation, gain=1, clamp=None):
    """bias_act after the bias: lrelu (slope 0.2) with its gain sqrt(2), times `gain`, clamped to +-clamp * gain."""
    if activation == 'lrelu':
        x = F.leaky_relu(x, 0.2) * SQRT2
    x = x * gain
    return x.clamp(-clamp * gain, clamp * gain) if clamp is not None else x

def fir(x, up=1, down=1, pad=(0, 0), gain=1):
    """upfirdn2d: insert up-1 zeros after each pixel, pad (before, after), convolve with FIR2D * gain, keep every
    down-th pixel."""
    N, C, H, W = x.shape
    if up > 1:
        z = x.new_zeros([N, C, H * up, W * up])
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, (FIR2D * gain).flip([0, 1]).expand(C, 1, 4, 4), groups=C)
    return x[:, :, ::down, ::down]

def fc(t, name, x, activation='linear', lr_multiplier=1):
    """Equalised-lr FC layer: weight * lr / sqrt(fan_in), bias * lr."""
    w, b = t[f'{name}.weight'], t[f'{name}.bias']
    x = x @ (w * (lr_multiplier / np.sqrt(w.shape[1]))).t() + b * lr_multiplier
    return act(x, activation)

def conv(t, name, x, activation='lrelu', down=1, gain=1, clamp=None):
    """Equalised-lr conv (cross-correlation, 'same' padding), FIR-filtered stride-2 down-sampling where down=2."""
    w = t[f'{name}.weight'] * (1 / np.sqrt(t[f'{name}.weight'][0].numel()))
    k = w.shape[-1]
    if down == 2:
        x = fir(x, pad=(k // 2 + 1, k // 2 + 1)) if k > 1 else fir(x, down=2, pad=(1, 1))
        x = F.conv2d(x, w, stride=2 if k > 1 else 1)
    else:
        x = F.conv2d(x, w, padding=k // 2)
    if f'{name}.bias' in t:
        x = x + t[f'{name}.bias'].reshape(1, -1, 1, 1)
    return act(x, activation, gain, clamp)

def norm2(x):
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()

def mapping(t, prefix, z, c, lr_multiplier=0.01):
    x = [norm2(z)] if z is not None else []
    if c is not None:
        x.append(norm2(fc(t, f'{prefix}embed', c)))
    x = torch.cat(x, dim=1)
    idx = 0
    while f'{prefix}fc{idx}.weight' in t:
        x = fc(t, f'{prefix}fc{idx}', x, 'lrelu', lr_multiplier)
        idx += 1
    return x

def modulated(t, name, x, w, demodulate=True, up=1, style_gain=1):
    """Modulated conv (StyleGAN2 Eqs. 1-3), one sample at a time; up=2: zero-insertion, FIR (gain 4) and a true
    convolution (the transposed conv of the paper)."""
    styles = fc(t, f'{name}.affine', w) * style_gain
    weight = t[f'{name}.weight']
    out = []
    for n in range(x.shape[0]):
        wn = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            wn = wn * (wn.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        xn = x[n:n + 1]
        if up == 2:
            out.append(F.conv2d(fir(xn, up=2, pad=(3, 2), gain=4), wn.flip([2, 3])))
        else:
            out.append(F.conv2d(xn, wn, padding=weight.shape[-1] // 2))
    return torch.cat(out)

def synthesis_layer(t, name, x, w, clamp, up=1, gain=1):
    x = modulated(t, name, x, w, up=up) + t[f'{name}.noise_const'] * t[f'{name}.noise_strength'] # noise_mode='const'
    return act(x + t[f'{name}.bias'].reshape(1, -1, 1, 1), 'lrelu', gain, clamp)

def upsample(x):
    """StyleGAN2-ADA's upsample2d: zero-insertion and the FIR filter with gain 4."""
    return fir(x, up=2, pad=(2, 1), gain=4)

def reference_G(t, kwargs, z, c, psi=1):
    """The generator in the architecture its tensors name (StyleGAN2 Fig. 7): const, per block conv0 (up) and conv1;
    where the block has a 1x1 skip ('resnet'), the up-sampled input through it plus conv1, both scaled by sqrt(0.5);
    where it has a toRGB (every block of 'skip', the last one of 'orig' and 'resnet'), its image added to the
    up-sampled image of the block below."""
    clamp = kwargs['synthesis_kwargs']['conv_clamp']
    w = mapping(t, 'mapping.', z, c if kwargs['c_dim'] else None)
    w = t['mapping.w_avg'].lerp(w, psi)
    x = t['synthesis.b4.const'].unsqueeze(0).repeat(z.shape[0], 1, 1, 1)
    img, res = None, 4
    while f'synthesis.b{res}.conv1.weight' in t: # every layer reads the same w (no mixing)
        b = f'synthesis.b{res}'
        if f'{b}.skip.weight' in t:
            skip = conv(t, f'{b}.skip', upsample(x), 'linear', gain=np.sqrt(0.5)) # a 1x1 conv commutes with the FIR
            x = synthesis_layer(t, f'{b}.conv0', x, w, clamp, up=2)
            x = skip + synthesis_layer(t, f'{b}.conv1', x, w, clamp, gain=np.sqrt(0.5))
        else:
            if res > 4:
                x = synthesis_layer(t, f'{b}.conv0', x, w, clamp, up=2)
            x = synthesis_layer(t, f'{b}.conv1', x, w, clamp)
        if f'{b}.torgb.weight' in t:
            y = modulated(t, f'{b}.torgb', x, w, demodulate=False, style_gain=1 / np.sqrt(x.shape[1]))
            y = act(y + t[f'{b}.torgb.bias'].reshape(1, -1, 1, 1), 'linear', clamp=clamp)
            img = y if img is None else upsample(img) + y
        res *= 2
    return img

def mbstd(x, group_size):
    """Minibatch stddev (Karras et al. 2018): sample i in group i % (N / G), one feature averaged over C, H, W."""
    N, _, H, W = x.shape
    G = min(group_size, N)
    groups = N // G
    y = torch.empty(N)
    for g in range(groups):
        members = x[g::groups]
        y[g::groups] = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
    return torch.cat([x, y.reshape(N, 1, 1, 1).expand(N, 1, H, W)], dim=1)

def reference_D(t, kwargs, img, c):
    """'orig', 'skip' or 'resnet' blocks from the image resolution down to 8, then the 4x4 epilogue."""
    arch, clamp = kwargs.get('architecture', 'resnet'), kwargs['conv_clamp']
    x, res = None, kwargs['img_resolution']
    while res > 4:
        b = f'b{res}'
        if f'{b}.fromrgb.weight' in t:
            y = conv(t, f'{b}.fromrgb', img, clamp=clamp)
            x = y if x is None else x + y
        if arch == 'skip':
            img = fir(img, down=2, pad=(1, 1))
        if arch == 'resnet':
            skip = conv(t, f'{b}.skip', x, 'linear', down=2, gain=np.sqrt(0.5))
            x = skip + conv(t, f'{b}.conv1', conv(t, f'{b}.conv0', x, clamp=clamp), down=2, gain=np.sqrt(0.5),
                            clamp=clamp)
        else:
            x = conv(t, f'{b}.conv1', conv(t, f'{b}.conv0', x, clamp=clamp), down=2, clamp=clamp)
        res //= 2
    if arch == 'skip':
        x = x + conv(t, 'b4.fromrgb', img)
    x = conv(t, 'b4.conv', mbstd(x, kwargs['epilogue_kwargs']['mbstd_group_size']), clamp=clamp)
    x = fc(t, 'b4.out', fc(t, 'b4.fc', x.flatten(1), 'lrelu'))
    if kwargs['c_dim']:
        cmap = mapping(t, 'mapping.', None, c)
        x = (x * cmap).sum(dim=1, keepdim=True) / np.sqrt(cmap.shape[1])
    return x

def close(ours, reference):
    """Equal up to float32 rounding, relative to the largest output (the clamped configuration reaches hundreds)."""
    return bool((ours - reference).abs().max() <= 1e-4 * reference.abs().max() + 1e-5)

def inputs(kwargs, n=8):
    torch.manual_seed(1)
    z = torch.randn([n, kwargs['z_dim']])
    c = torch.eye(kwargs['c_dim'])[torch.arange(n) % kwargs['c_dim']] if kwargs['c_dim'] else torch.zeros([n, 0])
    return z, c

#----------------------------------------------------------------------------

@pytest.mark.parametrize('config', CONFIGS)
def test_fixtures_carry_exactly_the_tensors_of_the_layout_file(tmp_path, config):
    path = write_stylegan2_ada_pickle(tmp_path / 'network-snapshot-000100.pkl', layout_snapshot(config))
    data, rows = layout_of(path)
    assert rows == LAYOUT[config]['tensors'] + LAYOUT['augment_pipe']['tensors']
    assert record_tensors(data['G_ema']).keys() == record_tensors(data['G']).keys()
    assert data['G'].state['_init_kwargs'] == LAYOUT[config]['G_kwargs']
    assert data['D'].state['_init_kwargs'] == LAYOUT[config]['D_kwargs']

@pytest.mark.parametrize('config,D_architecture', [('paper256-like', None), ('cifar', None), ('paper256-like', 'skip')])
def test_loaded_networks_give_the_outputs_of_the_reference(tmp_path, config, D_architecture):
    path = write_stylegan2_ada_pickle(tmp_path / 'network-snapshot-000100.pkl', layout_snapshot(config, D_architecture))
    theirs = persistence.load_pickle(path, foreign_records=True)
    data = stylegan2_ada_import.load_network(path)
    assert sorted(data) == ['D', 'G', 'G_ema', 'augment_pipe', 'training_set_kwargs']
    assert data['training_set_kwargs'].path == 'cifar10.zip'
    G_kwargs = theirs['G'].state['_init_kwargs']
    D_kwargs = theirs['D'].state['_init_kwargs']
    z, c = inputs(G_kwargs)
    with torch.no_grad():
        for key in ['G', 'G_ema']:
            t = record_tensors(theirs[key])
            for psi in [1, 0.7]: # truncation reads w_avg
                ours = data[key](z, c, truncation_psi=psi, noise_mode='const')
                assert close(ours, reference_G(t, G_kwargs, z, c, psi)), (key, psi)
        img = data['G'](z, c, noise_mode='const') * 0.2
        t = record_tensors(theirs['D'])
        assert close(data['D'](img, c), reference_D(t, D_kwargs, img, c))

        # The comparison sees every tensor: two of the same shape exchanged, the outputs differ.
        tG, tD = record_tensors(theirs['G_ema']), record_tensors(theirs['D'])
        swapped = dict(tG, **{'synthesis.b8.conv1.weight': tG['synthesis.b16.conv0.weight'],
                              'synthesis.b16.conv0.weight': tG['synthesis.b8.conv1.weight']})
        assert not close(data['G_ema'](z, c, noise_mode='const'), reference_G(swapped, G_kwargs, z, c))
        swapped = dict(tD, **{'b16.conv0.weight': tD['b8.conv0.weight'], 'b8.conv0.weight': tD['b16.conv0.weight']})
        assert not close(data['D'](img, c), reference_D(swapped, D_kwargs, img, c))
        if G_kwargs['synthesis_kwargs']['conv_clamp'] is not None: # the clamp is active on these weights
            unclamped = dict(G_kwargs, synthesis_kwargs=dict(G_kwargs['synthesis_kwargs'], conv_clamp=None))
            assert not close(reference_G(tG, unclamped, z, c), reference_G(tG, G_kwargs, z, c))
    pipe = data['augment_pipe']
    assert isinstance(pipe, augment.AugmentPipe) and float(pipe.p) == pytest.approx(0.3)
    assert pipe.init_kwargs == augment.AUGPIPE_SPECS['bgc']

@pytest.mark.parametrize('config', CONFIGS)
@pytest.mark.parametrize('G_architecture', ['orig', 'resnet'])
def test_orig_and_resnet_generators_give_the_outputs_of_the_reference(tmp_path, config, G_architecture):
    snapshot = layout_snapshot(config, G_architecture=G_architecture)
    with torch.no_grad(): # a lone toRGB at the weights of the clamped configuration would saturate every pixel
        for key in ['G', 'G_ema']:
            torgb = snapshot[key].synthesis.b32.torgb
            torgb.weight.mul_(0.01), torgb.bias.normal_(), torgb.affine.bias.normal_()
    path = write_stylegan2_ada_pickle(tmp_path / f'{G_architecture}.pkl', snapshot)
    theirs = persistence.load_pickle(path, foreign_records=True)
    G_kwargs = theirs['G'].state['_init_kwargs']
    t = record_tensors(theirs['G_ema'])
    # StyleGAN2-ADA's layout: a toRGB in the last block only; 'resnet' has a bias-free 1x1 skip in every block but b4.
    assert sorted(name for name in t if name.endswith('.torgb.weight')) == ['synthesis.b32.torgb.weight']
    skips = {name: tuple(t[name].shape) for name in t if name.endswith('.skip.weight')}
    assert not any(name.endswith('.skip.bias') for name in t)
    assert skips == ({} if G_architecture == 'orig' else {'synthesis.b8.skip.weight': (64, 64, 1, 1),
        'synthesis.b16.skip.weight': (64, 64, 1, 1), 'synthesis.b32.skip.weight': (32, 64, 1, 1)})
    skip_G = networks_stylegan2.Generator(**LAYOUT[config]['G_kwargs'])
    assert snapshot['G'].synthesis.num_ws == skip_G.synthesis.num_ws == 2 * 5 - 2 # 2 log2(32) - 2 in every architecture

    data = stylegan2_ada_import.load_network(path)
    assert data['G_ema'].init_kwargs['synthesis_kwargs']['architecture'] == G_architecture
    z, c = inputs(G_kwargs)
    with torch.no_grad():
        for key in ['G', 'G_ema']:
            ours = data[key](z, c, noise_mode='const')
            assert close(ours, reference_G(record_tensors(theirs[key]), G_kwargs, z, c)), key
        # The comparison sees every tensor: two of the same shape exchanged, or the skips left out, the outputs differ.
        swapped = dict(t, **{'synthesis.b8.conv1.weight': t['synthesis.b16.conv0.weight'],
                             'synthesis.b16.conv0.weight': t['synthesis.b8.conv1.weight']})
        assert not close(ours, reference_G(swapped, G_kwargs, z, c))
        if G_architecture == 'resnet':
            unskipped = {name: tensor for name, tensor in t.items() if name not in skips}
            assert not close(ours, reference_G(unskipped, G_kwargs, z, c))

def test_fp16_settings_are_honoured(tmp_path):
    """num_fp16_res and conv_clamp change no tensor: the rebuilt blocks and layers carry them (FP16 in the
    num_fp16_res highest resolutions, never below 8)."""
    path = write_stylegan2_ada_pickle(tmp_path / 'cifar.pkl', layout_snapshot('cifar'))
    data = stylegan2_ada_import.load_network(path)
    G, D = data['G_ema'], data['D']
    assert [getattr(G.synthesis, f'b{r}').use_fp16 for r in [4, 8, 16, 32]] == [False, True, True, True]
    assert [getattr(D, f'b{r}').use_fp16 for r in [32, 16, 8]] == [True, True, True]
    assert G.synthesis.b16.conv0.conv_clamp == 256 and G.synthesis.b32.torgb.conv_clamp == 256
    assert D.b32.conv1.conv_clamp == 256 and D.b4.conv.conv_clamp == 256
    paper = stylegan2_ada_import.load_network(write_stylegan2_ada_pickle(tmp_path / 'p.pkl', layout_snapshot('paper256-like')))
    assert not any(getattr(paper['G'].synthesis, f'b{r}').use_fp16 for r in [4, 8, 16, 32])
    assert paper['D'].b32.conv1.conv_clamp is None

@pytest.mark.parametrize('c_dim,flat_synthesis', [(0, False), (3, False), (0, True)])
def test_legacy_options_load_with_the_same_outputs(tmp_path, c_dim, flat_synthesis):
    """The explicit defaults legacy.py writes, and StyleGAN3's flat Generator options."""
    torch.manual_seed(3)
    G = randomize(networks_stylegan2.Generator(z_dim=8, c_dim=c_dim, w_dim=8, img_resolution=16, img_channels=3,
        mapping_kwargs=dnnlib.EasyDict(num_layers=2),
        synthesis_kwargs=dnnlib.EasyDict(channel_base=64, channel_max=8, num_fp16_res=0, conv_clamp=256))).eval()
    path = write_stylegan2_ada_pickle(tmp_path / 'legacy.pkl', dict(G_ema=G), legacy=True, flat_synthesis=flat_synthesis)
    with pytest.raises(persistence.PickleRefused, match='embedded source of class'):
        persistence.load_pickle(path) # as data only when asked for
    loaded = stylegan2_ada_import.load_network(path)['G_ema']
    assert loaded.init_kwargs.synthesis_kwargs['architecture'] == 'skip' # an option ganas takes as it is
    assert 'layer_features' not in loaded.init_kwargs.mapping_kwargs
    z, c = inputs(dict(z_dim=8, c_dim=c_dim))
    with torch.no_grad():
        assert torch.equal(loaded(z, c, truncation_psi=0.7, noise_mode='const'), G(z, c, truncation_psi=0.7, noise_mode='const'))
    assert torch.equal(loaded.mapping.w_avg_all[0], torch.zeros(8)) # tracked by StyleGAN2-ADA for the last layer only

#----------------------------------------------------------------------------
# What does not load is one line naming it.

def rewrite_record(path, key, edit):
    """Load a fixture as records, apply edit(record) to snapshot[key], write it back."""
    data = persistence.load_pickle(path, foreign_records=True)
    edit(data[key])
    with open(path, 'wb') as f:
        RecordPickler(f).dump(data)

class RecordPickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, persistence.PersistentRecord):
            meta = dict(type='class', version=6, module_src=NEVER_RUN, class_name=obj.class_name, state=obj.state)
            return persistence._reconstruct_persistent_obj, (meta,)
        return NotImplemented

def test_a_constant_filter_other_than_ganas_is_one_line(tmp_path):
    path = write_stylegan2_ada_pickle(tmp_path / 'box.pkl', layout_snapshot('cifar'))
    def box_filter(D):
        D.state['_modules']['b16'].state['_buffers']['resample_filter'] = torch.full([2, 2], 0.25)
    rewrite_record(path, 'D', box_filter)
    with pytest.raises(dnnlib.util.UserError, match=r"box.pkl: D: b16.resample_filter holds the filter \[2, 2\] "
                                                    r"\[0.25, 0.25, 0.25, 0.25\], where ganas uses \[4, 4\]"):
        stylegan2_ada_import.load_network(path)
    path = write_stylegan2_ada_pickle(tmp_path / 'fbank.pkl', layout_snapshot('cifar'))
    rewrite_record(path, 'augment_pipe', lambda pipe: pipe.state['_buffers']['Hz_fbank'].mul_(2))
    with pytest.raises(dnnlib.util.UserError, match=r'fbank.pkl: augment_pipe: Hz_fbank holds the filter \[4, 43\]'):
        stylegan2_ada_import.load_network(path)

def test_a_missing_tensor_is_one_line(tmp_path):
    path = write_stylegan2_ada_pickle(tmp_path / 'cut.pkl', layout_snapshot('paper256-like'))
    rewrite_record(path, 'D', lambda D: D.state['_modules']['b16'].state['_modules'].pop('skip'))
    with pytest.raises(dnnlib.util.UserError, match=r"cut.pkl: D: Discriminator tensors do not match ganas's "
                                                    r"\(missing \['b16.skip.weight'\], unexpected \[\]\)"):
        stylegan2_ada_import.load_network(path)

def test_options_ganas_cannot_build_are_one_line(tmp_path):
    path = write_stylegan2_ada_pickle(tmp_path / 'cascade-g.pkl', layout_snapshot('paper256-like'))
    rewrite_record(path, 'G', lambda G: G.state['_init_kwargs']['synthesis_kwargs'].update(architecture='cascade'))
    with pytest.raises(dnnlib.util.UserError, match=r"cascade-g.pkl: G: cannot rebuild Generator from its options "
                                                    r"\(AssertionError: architecture 'cascade': expected one of "
                                                    r"\['orig', 'skip', 'resnet'\]\)"):
        stylegan2_ada_import.load_network(path)
    path = write_stylegan2_ada_pickle(tmp_path / 'cascade.pkl', layout_snapshot('paper256-like'))
    rewrite_record(path, 'D', lambda D: D.state['_init_kwargs'].update(architecture='cascade'))
    with pytest.raises(dnnlib.util.UserError, match=r"cascade.pkl: D: cannot rebuild Discriminator from its options "
                                                    r"\(AssertionError: architecture 'cascade': expected one of "
                                                    r"\['orig', 'skip', 'resnet'\]\)"):
        stylegan2_ada_import.load_network(path)

def test_a_stylegan3_generator_is_one_line(tmp_path, capsys):
    """StyleGAN3's -t/-r Generator: a synthesis network with a SynthesisInput and alias-free layers (L0_36_512...)."""
    path = write_stylegan2_ada_pickle(tmp_path / 'stylegan3-t.pkl', dict(G_ema=layout_snapshot('cifar')['G_ema']))
    def alias_free(G):
        synthesis = G.state['_modules']['synthesis']
        synthesis.state['_modules'] = dict(input=persistence.PersistentRecord('SynthesisInput', dict(
            _parameters={}, _buffers=dict(freqs=torch.randn(64, 2)), _modules={}, _non_persistent_buffers_set=set())))
    rewrite_record(path, 'G_ema', alias_free)
    res = run_inprocess(capsys, 'generate.py', f'--network={path}', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert_one_line_error(res, '--network: ', 'stylegan3-t.pkl: G_ema: a StyleGAN3 (alias-free, -t/-r configuration) '
                                             'Generator is not supported (ganas builds StyleGAN2 networks)')

def test_unknown_stylegan2_ada_class_is_refused_in_one_line(tmp_path, capsys):
    class Foreign(torch.nn.Module):
        pass
    snapshot = dict(G_ema=persistence.persistent_class(Foreign)())
    path = write_stylegan2_ada_pickle(tmp_path / 'foreign.pkl', snapshot)
    res = run_inprocess(capsys, 'generate.py', f'--network={path}', f'--outdir={tmp_path / "out"}', '--device=cpu')
    assert_one_line_error(res, '--network: ', 'foreign.pkl: G_ema: StyleGAN2-ADA class Foreign has no ganas counterpart')

#----------------------------------------------------------------------------
# The tools take such snapshots with no extra flag.

@pytest.mark.parametrize('config,extra', [('paper256-like', []), ('cifar', ['--class=1'])])
def test_generate_takes_a_stylegan2_ada_snapshot(tmp_path, capsys, config, extra):
    snapshot = layout_snapshot(config)
    path = write_stylegan2_ada_pickle(tmp_path / 'network-snapshot-000100.pkl', snapshot)
    checkpoint.save_safe(str(tmp_path / 'ours.safetensors'), dict(G_ema=snapshot['G_ema']))
    assert_generate_gives_the_same_images(capsys, tmp_path, dict(theirs=path, ours=str(tmp_path / 'ours.safetensors')),
                                          *extra)

def assert_generate_gives_the_same_images(capsys, tmp_path, networks, *extra):
    """generate.py --seeds=0-1 --trunc=0.7 writes equal 32x32 images from each network ({outdir name: network})."""
    for out, network in networks.items():
        res = run_inprocess(capsys, 'generate.py', f'--network={network}', '--seeds=0-1', '--trunc=0.7', *extra,
                            f'--outdir={tmp_path / out}', '--device=cpu')
        assert res.returncode == 0, res.stderr
    first, *others = networks
    for seed in range(2):
        image = np.asarray(PIL.Image.open(tmp_path / first / f'seed{seed:04d}.png'))
        assert image.shape == (32, 32, 3)
        for other in others:
            assert np.array_equal(image, np.asarray(PIL.Image.open(tmp_path / other / f'seed{seed:04d}.png')))

def test_projector_takes_a_stylegan2_ada_snapshot(tmp_path, capsys):
    path = write_stylegan2_ada_pickle(tmp_path / 'ffhq.pkl', layout_snapshot('paper256-like'))
    PIL.Image.fromarray(np.full([32, 32, 3], 128, dtype=np.uint8)).save(tmp_path / 'target.png')
    res = run_inprocess(capsys, 'projector.py', f'--network={path}', f'--target={tmp_path / "target.png"}',
                        '--loss=mse', '--num-steps=2', f'--outdir={tmp_path / "proj"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert (tmp_path / 'proj' / 'projected_w.npz').is_file()

@pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')
def test_style_mixing_and_calc_metrics_take_a_stylegan2_ada_snapshot(tmp_path, capsys, monkeypatch):
    path = write_stylegan2_ada_pickle(tmp_path / 'network-snapshot-000100.pkl', layout_snapshot('cifar'))
    res = run_inprocess(capsys, 'style_mixing.py', f'--network={path}', '--rows=1-2', '--cols=3', '--class=2',
                        f'--outdir={tmp_path / "mix"}', '--device=cpu')
    assert res.returncode == 0, res.stderr
    assert np.asarray(PIL.Image.open(tmp_path / 'mix' / 'grid.png')).shape == (3 * 32, 2 * 32, 3)
    # calc_metrics reads G and the snapshot's training set, and compares their resolutions before any detector runs.
    write_zip(tmp_path / 'cifar10.zip', random_images(0, 4, res=8))
    monkeypatch.chdir(tmp_path) # the snapshot's training_set_kwargs.path is relative
    torch.jit.save(torch.jit.script(TinyInception()), str(tmp_path / 'tiny.pt'))
    res = run_inprocess(capsys, 'calc_metrics.py', '--metrics=fid2k', f'--network={path}', '--detector=tiny.pt')
    assert_one_line_error(res, '8x8, the generator makes 32x32 images')

#----------------------------------------------------------------------------
