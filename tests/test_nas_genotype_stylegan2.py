"""StyleGAN2 genotypes (alphaGAN Sec. 6, Tables 8-9): validation messages, the default genotype is StyleGAN2 config-f,
parameter counts of paper Table 8, derived generators built from a genotype (ops, dynamic W), pickling."""

import copy
import io
import json
import math
import os
import pickle

import pytest
import torch

from dnnlib.util import UserError
from nas.backbones import stylegan2 as nets
from nas.genotype import Genotype
from nas.genotype import stylegan2_layer_ops
from nas.space import primitives
from torch_utils import checkpoint
from torch_utils import persistence

DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'nas', 'genotypes',
    'stylegan2_default.json')
TINY = dict(z_dim=16, w_dim=16, img_channels=3, mapping_kwargs=dict(num_layers=4),
    synthesis_kwargs=dict(channel_base=256, channel_max=16, num_fp16_res=0))

def example(mode='macro_dynw', res=32):
    """A 32x32 genotype: 4 normal layers (b4..b32 conv1), 3 up layers (b8..b32 conv0), 8 W slots."""
    macro = mode.startswith('macro')
    return dict(format_version=1, backbone='stylegan2', mode=mode, resolution=res,
        channels=dict(channel_base=4096, channel_max=64, num_mapping_layers=4),
        ops=dict(normal=['conv_5x5', 'conv_1x1', 'conv_3x3', 'conv_5x5'] if macro else ['conv_5x5'],
                 up=['nearest_conv', 'bilinear_conv', 'deconv'] if macro else ['bilinear_conv']),
        w_idx=[2, 4, 1, 3, 3, 1, 2, 4] if mode.endswith('_dynw') else None,
        provenance=dict(method='alphagan', seed=0, iteration=5))

def num_params(module):
    return sum(p.numel() for p in module.parameters())

#----------------------------------------------------------------------------

def test_example_layout_and_round_trip(tmp_path):
    assert len(primitives.stylegan2_layers(32)) == 7 # b4.conv1 + 3 blocks x 2
    g = Genotype.from_dict(example())
    g.to_json(tmp_path / 'g.json')
    assert Genotype.from_json(tmp_path / 'g.json', backbone='stylegan2') == g
    assert '"normal": ["conv_5x5", "conv_1x1", "conv_3x3", "conv_5x5"]' in (tmp_path / 'g.json').read_text()

def test_default_genotype_is_stylegan2():
    g = Genotype.from_json(DEFAULT, backbone='stylegan2')
    assert (g.mode, g.ops, g.w_idx) == ('micro', {'normal': ['conv_3x3'], 'up': ['deconv']}, None)
    assert g.channels == dict(channel_base=32768, channel_max=512, num_mapping_layers=8)

def _set(d, path, value):
    d = copy.deepcopy(d)
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d

_DELETE = object()
NORMAL = 'conv_1x1, conv_3x3, conv_5x5'
UP = 'deconv, nearest_conv, bilinear_conv'

ERROR_CASES = [
    (['ops', 'normal', 2], 'conv_7x7', f"found.json: ops.normal[2]: unknown op 'conv_7x7' (choose from {NORMAL})"),
    (['ops', 'up', 0], 'conv_3x3', f"found.json: ops.up[0]: unknown op 'conv_3x3' (choose from {UP})"),
    (['ops', 'normal'], ['conv_1x1'] * 3, 'found.json: ops.normal: expected 4 op(s) (one per normal layer at '
        'resolution 32), got 3'),
    (['ops', 'up'], 'deconv', 'found.json: ops.up: expected a list of op names, got "deconv"'),
    (['ops', 'skip'], [], "found.json: ops: unknown field 'skip' (expected normal, up)"),
    (['resolution'], 64, 'found.json: ops.normal: expected 5 op(s) (one per normal layer at resolution 64), got 4'),
    (['resolution'], 48, 'found.json: resolution: 48 is not a power of two >= 4'),
    (['w_idx', 3], 5, 'found.json: w_idx[3]: W index 5 out of range 1..4 (channels.num_mapping_layers)'),
    (['w_idx', 0], 0, 'found.json: w_idx[0]: W index 0 out of range 1..4 (channels.num_mapping_layers)'),
    (['w_idx', 1], 'W2', 'found.json: w_idx[1]: expected an integer, got "W2"'),
    (['w_idx'], [1] * 7, 'found.json: w_idx: expected 8 W indices (every conv layer and the last toRGB at resolution '
        '32), got 7'),
    (['w_idx'], None, 'found.json: w_idx: expected a list of W indices, got null'),
    (['mode'], 'macro', 'found.json: w_idx: mode macro has no W choice (every layer reads W_4), expected null, '
        'got [2, 4, 1, 3, 3, 1, 2, 4]'),
    (['mode'], 'micro_dynw', "found.json: ops.normal: expected 1 op(s) (mode micro_dynw shares one normal op "
        "across all blocks), got 4"),
    (['mode'], 'cell', "found.json: mode: unknown mode 'cell' for backbone 'stylegan2' (choose from micro, "
        "micro_dynw, macro, macro_dynw)"),
    (['channels', 'num_mapping_layers'], _DELETE, "found.json: channels: missing field 'num_mapping_layers'"),
    (['channels', 'channel_base'], 0, 'found.json: channels.channel_base: 0 is below 1'),
]

@pytest.mark.parametrize('path, value, message', ERROR_CASES)
def test_validation_message_names_the_field(tmp_path, monkeypatch, path, value, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'found.json').write_text(json.dumps(_set(example(), path, value)))
    with pytest.raises(UserError) as info:
        Genotype.from_json('found.json')
    assert str(info.value) == message
    assert '\n' not in str(info.value)

def test_wrong_backbone_for_the_caller(tmp_path):
    Genotype.from_dict(example()).to_json(tmp_path / 'found.json')
    with pytest.raises(UserError, match=r"found\.json: backbone: expected 'conventional', got 'stylegan2'$"):
        Genotype.from_json(tmp_path / 'found.json', backbone='conventional')
    conventional = Genotype.from_json(os.path.join(os.path.dirname(DEFAULT), 'alphagan_s_cifar10.json'))
    with pytest.raises(UserError, match=r"^genotype: backbone: expected 'stylegan2', got 'conventional'$"):
        nets.Generator(img_resolution=32, genotype=conventional.to_dict(), **TINY)

#----------------------------------------------------------------------------
# Parameter counts. Config-f sizes (StyleGAN2; alphaGAN Table 8 "StyleGAN2" rows): 29.33 / 30.03 / 30.37 M
# at 128 / 256 / 1024. conv_5x5 on every normal layer (Table 8 micro rows, church and FFHQ) adds 16 weights per
# input/output channel pair of each normal layer: 52.32 M at 256, 52.73 M at 1024.

CONFIG_F = {128: 29_328_669, 256: 30_034_338, 1024: 30_370_060}

def config_f_G(res, genotype):
    with torch.no_grad():
        return nets.Generator(z_dim=512, w_dim=512, img_resolution=res, img_channels=3, genotype=genotype,
            mapping_kwargs=dict(num_layers=8), synthesis_kwargs=dict(channel_base=32768, channel_max=512))

def normal_layer_weights(res):
    ch = lambda r: min(32768 // r, 512)
    return sum(ch(2 ** i) ** 2 for i in range(2, int(math.log2(res)) + 1)) # conv1 of every block: ch(r) -> ch(r)

@pytest.mark.parametrize('res, millions', [(128, 29.33), (256, 30.03), (1024, 30.37)])
def test_default_genotype_reproduces_config_f(res, millions):
    G = config_f_G(res, Genotype.from_json(DEFAULT).to_dict())
    assert num_params(G) == CONFIG_F[res] and round(CONFIG_F[res] / 1e6, 2) == millions

@pytest.mark.parametrize('res, millions', [(256, 52.32), (1024, 52.73)])
def test_conv5x5_everywhere_gives_table8_counts(res, millions):
    layers = primitives.stylegan2_layers(res)
    num_normal, num_up = sum(k == 'normal' for _n, k in layers), sum(k == 'up' for _n, k in layers)
    macro = Genotype(backbone='stylegan2', mode='macro', resolution=res,
        channels=dict(channel_base=32768, channel_max=512, num_mapping_layers=8),
        ops=dict(normal=['conv_5x5'] * num_normal, up=['nearest_conv', 'bilinear_conv', 'deconv'] * (num_up // 3)
            + ['deconv'] * (num_up % 3)))
    n = num_params(config_f_G(res, macro.to_dict()))
    assert n == CONFIG_F[res] + (25 - 9) * normal_layer_weights(res)
    assert round(n / 1e6, 2) == millions
    micro = dict(macro.to_dict(), mode='micro', ops=dict(normal=['conv_5x5'], up=['bilinear_conv']))
    assert num_params(config_f_G(res, micro)) == n # every up op has a 3x3 kernel (Sec. 6.2)

#----------------------------------------------------------------------------
# Derived generators.

def tiny(genotype, res=32, seed=0):
    torch.manual_seed(seed)
    G = nets.Generator(img_resolution=res, genotype=genotype, **TINY)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.5)
        G.mapping.w_avg_all.copy_(torch.randn_like(G.mapping.w_avg_all))
    return G.eval()

def test_genotype_none_and_default_genotype_build_the_same_network():
    default = dict(Genotype.from_json(DEFAULT).to_dict(), channels=dict(channel_base=256, channel_max=16,
        num_mapping_layers=4))
    a, b = tiny(None), tiny(default) # micro genotype searched at 1024 transfers to 32
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    z = torch.randn(2, 16)
    assert torch.equal(a(z, None, truncation_psi=0.7, noise_mode='const'), b(z, None, truncation_psi=0.7,
        noise_mode='const'))

@pytest.mark.parametrize('mode', ['micro', 'macro'])
def test_every_conv_layer_is_built_from_the_genotype(mode):
    d = example(mode)
    G = tiny(d)
    kinds = dict(conv_1x1=(1, 1, None), conv_3x3=(3, 1, None), conv_5x5=(5, 1, None), deconv=(3, 2, None),
        nearest_conv=(3, 1, 'nearest'), bilinear_conv=(3, 1, 'bilinear'))
    ops = stylegan2_layer_ops(Genotype.from_dict(d), 32)
    assert ops[:3] == (['conv_5x5', 'nearest_conv', 'conv_1x1'] if mode == 'macro' else
        ['conv_5x5', 'bilinear_conv', 'conv_5x5'])
    for (name, _kind), op in zip(primitives.stylegan2_layers(32), ops):
        layer = G.synthesis.get_submodule(name)
        assert (layer.kernel_size, layer.up, layer.pre_upsample) == kinds[op], name
    assert G.mapping.w_idx is None

def test_dynamic_w_feeds_each_layer_its_chosen_w():
    d = example('macro_dynw')
    G = tiny(d)
    z = torch.randn(3, 16)
    all_ws = G.mapping(z, None, return_all_layers=True)
    ws = G.mapping(z, None)
    assert ws.shape == (3, G.num_ws, 16)
    for j, i in enumerate(d['w_idx']):
        assert torch.equal(ws[:, j], all_ws[:, i - 1, j])
    trunc = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=5)
    avg = G.mapping.w_avg_all[[i - 1 for i in d['w_idx']]]
    assert torch.allclose(trunc[:, :5], avg[:5].lerp(ws[:, :5], 0.5), atol=1e-6)
    assert torch.equal(trunc[:, 5:], ws[:, 5:])
    # The synthesis reads slot j for conv layer j and the last toRGB; other toRGBs reuse the next conv0's slot.
    ref = tiny(example('macro'))
    img = G.synthesis(ws, noise_mode='const')
    assert torch.allclose(G(z, None, noise_mode='const'), img, atol=1e-6)
    assert torch.equal(ref.synthesis(ws, noise_mode='const'), img) # same weights: same seed, same layers

def test_genotype_must_fit_the_generator():
    with pytest.raises(UserError, match=r'^genotype: resolution: a macro genotype searched at 32 cannot build a '
            r'64x64 generator \(only micro genotypes transfer\)$'):
        tiny(example('macro'), res=64)
    with pytest.raises(UserError, match=r'^genotype: channels\.num_mapping_layers: searched with 4 mapping layers, '
            r'the generator has 8$'):
        nets.Generator(img_resolution=32, genotype=example('micro_dynw'), **dict(TINY, mapping_kwargs={}))
    with pytest.raises(UserError, match=r"^genotype: ops\.up\[0\]: unknown op 'bilinear'"):
        tiny(_set(example('micro'), ['ops', 'up', 0], 'bilinear'))
    assert tiny(example('micro'), res=16).img_resolution == 16

@pytest.mark.parametrize('mode', ['micro', 'macro_dynw'])
def test_derived_generator_pickles_and_loads_safely(tmp_path, mode):
    G = tiny(example(mode))
    G2 = persistence.load_pickle(io.BytesIO(pickle.dumps(G)))
    assert G2.init_kwargs.genotype == example(mode)
    z = torch.randn(2, 16)
    img = G(z, None, truncation_psi=0.8, noise_mode='const')
    assert torch.equal(G2(z, None, truncation_psi=0.8, noise_mode='const'), img)
    checkpoint.save_safe(tmp_path / 'G.safetensors', dict(G=G))
    G3 = checkpoint.load_safe(tmp_path / 'G.safetensors')['G']
    assert torch.equal(G3(z, None, truncation_psi=0.8, noise_mode='const'), img)

#----------------------------------------------------------------------------
