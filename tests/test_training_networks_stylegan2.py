"""StyleGAN2 networks: config-f parameter counts, w order, shapes, truncation, noise, fp16, pickling."""

import copy
import io
import math
import pickle

import pytest
import torch

from torch_utils import persistence
from training import networks_stylegan2 as nets

#----------------------------------------------------------------------------
# Tiny configs: 16x16, channels 32/32/16.

TINY_SYN = dict(channel_base=256, channel_max=32, num_fp16_res=0)

def tiny_G(c_dim=0, seed=0, **synthesis_kwargs):
    torch.manual_seed(seed)
    G = nets.Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=3), synthesis_kwargs={**TINY_SYN, **synthesis_kwargs})
    with torch.no_grad(): # switch the noise on (StyleGAN2 starts its strengths at zero)
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.5)
    return G.eval()

def tiny_D(c_dim=0, seed=0, **kwargs):
    torch.manual_seed(seed)
    return nets.Discriminator(c_dim=c_dim, img_resolution=16, img_channels=3,
        **{'channel_base': 256, 'channel_max': 32, 'num_fp16_res': 0, **kwargs})

def num_params(module):
    return sum(p.numel() for p in module.parameters())

#----------------------------------------------------------------------------
# Config-f generator size from the layer list (StyleGAN2 Fig. 7b): mapping FCs; per block a
# modulated conv (affine w->in + bias, weight out*in*k*k, noise strength, bias) and a toRGB.

def config_f_G_params(res, channel_base=32768, channel_max=512, w_dim=512, num_map=8):
    ch = lambda r: min(channel_base // r, channel_max)
    conv = lambda i, o: w_dim * i + i + o * i * 9 + 1 + o
    torgb = lambda i: w_dim * i + i + 3 * i + 3
    n = num_map * (w_dim * w_dim + w_dim) + ch(4) * 16 + conv(ch(4), ch(4)) + torgb(ch(4))
    for log2 in range(3, int(math.log2(res)) + 1):
        r = 2 ** log2
        n += conv(ch(r // 2), ch(r)) + conv(ch(r), ch(r)) + torgb(ch(r))
    return n

# alphaGAN (Tian et al., TPAMI 2022) Table 8, "StyleGAN2" rows = StyleGAN2 config-f (Karras et al. 2020):
# model size in millions of parameters at 128 (CelebA), 256 (LSUN church), 1024 (FFHQ).
@pytest.mark.parametrize('res, millions, num_ws', [(128, 29.33, 12), (256, 30.03, 14), (1024, 30.37, 18)])
def test_config_f_generator_parameter_count(res, millions, num_ws):
    with torch.no_grad(): # about 1 s on CPU; the meta device would need setup_filter() to honour it
        G = nets.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
            mapping_kwargs=dict(num_layers=8), synthesis_kwargs=dict(channel_base=32768, channel_max=512))
    n = num_params(G)
    assert round(n / 1e6, 2) == millions
    assert n == config_f_G_params(res)
    assert G.num_ws == G.synthesis.num_ws == G.mapping.num_ws == num_ws

@pytest.mark.parametrize('res', [4, 8, 16, 32, 64])
def test_num_ws_is_two_per_resolution_minus_two(res):
    with torch.no_grad():
        G = nets.Generator(z_dim=8, w_dim=8, img_resolution=res, img_channels=1,
            synthesis_kwargs=dict(channel_base=64, channel_max=8))
    assert G.num_ws == 2 * int(math.log2(res)) - 2

#----------------------------------------------------------------------------
# Residual D size from the layer list (StyleGAN2 Fig. 7c): fromRGB, per block conv0, conv1 (down),
# bias-free 1x1 skip; epilogue conv (with +1 mbstd channel), FC, output (cmap projection when c_dim > 0).
# No published figure for D; this is the architecture's own arithmetic.

def resnet_D_params(res, channel_base, channel_max, img_channels=3, c_dim=0, num_map=8):
    ch = lambda r: min(channel_base // r, channel_max)
    conv = lambda i, o, k, bias=True: o * i * k * k + (o if bias else 0)
    n = conv(img_channels, ch(res), 1)
    for log2 in range(int(math.log2(res)), 2, -1):
        r = 2 ** log2
        n += conv(ch(r), ch(r), 3) + conv(ch(r), ch(r // 2), 3) + conv(ch(r), ch(r // 2), 1, bias=False)
    cmap = ch(4) if c_dim else 0
    n += conv(ch(4) + 1, ch(4), 3) + (ch(4) * 16 * ch(4) + ch(4)) + (ch(4) * (cmap or 1) + (cmap or 1))
    if c_dim:
        n += (c_dim * cmap + cmap) + num_map * (cmap * cmap + cmap) # label embedding + mapping FCs
    return n

@pytest.mark.parametrize('c_dim', [0, 5])
def test_discriminator_parameter_count_follows_architecture(c_dim):
    with torch.no_grad():
        D = nets.Discriminator(c_dim=c_dim, img_resolution=256, img_channels=3)
    assert num_params(D) == resnet_D_params(256, 32768, 512, c_dim=c_dim)

#----------------------------------------------------------------------------

def test_synthesis_w_order_is_documented_order():
    """Conv layers read ws[:, j] bottom-up; a toRGB reads the w of the next conv0; the last toRGB ws[:, -1]."""
    G = tiny_G()
    seen = {}
    def hook(name):
        return lambda module, args: seen.__setitem__(name, int(args[1][0, 0].item()))
    for name, module in G.synthesis.named_modules():
        if name.endswith(('conv0', 'conv1', 'torgb')):
            module.register_forward_pre_hook(hook(name))
    ws = torch.arange(G.num_ws, dtype=torch.float32).reshape(1, -1, 1).repeat(2, 1, G.w_dim)
    G.synthesis(ws)
    assert seen == {'b4.conv1': 0, 'b4.torgb': 1, 'b8.conv0': 1, 'b8.conv1': 2, 'b8.torgb': 3,
                    'b16.conv0': 3, 'b16.conv1': 4, 'b16.torgb': 5}

def test_generator_forward_shapes_and_dtype():
    G = tiny_G()
    z = torch.randn(3, 16)
    ws = G.mapping(z, None)
    assert ws.shape == (3, G.num_ws, 16)
    img = G(z, None)
    assert img.shape == (3, 3, 16, 16) and img.dtype == torch.float32
    assert torch.isfinite(img).all()

def test_mapping_return_all_layers():
    G = tiny_G()
    z = torch.randn(4, 16)
    all_ws = G.mapping(z, None, return_all_layers=True)
    assert all_ws.shape == (4, 3, G.num_ws, 16)
    assert torch.equal(all_ws[:, -1], G.mapping(z, None))
    # Layer i's output is fc_i applied to layer i-1's output.
    assert torch.allclose(G.mapping.fc2(all_ws[:, 1, 0]), all_ws[:, 2, 0], atol=1e-6)
    assert not torch.allclose(all_ws[:, 0], all_ws[:, 1])

def test_w_avg_tracks_every_layer():
    G = tiny_G()
    m = G.mapping
    z = torch.randn(8, 16)
    all_ws = m(z, None, update_emas=True, return_all_layers=True)
    assert m.w_avg_all.shape == (3, 16)
    assert torch.allclose(m.w_avg_all, all_ws[:, :, 0].mean(dim=0) * (1 - 0.995), atol=1e-6)
    assert torch.equal(m.w_avg, m.w_avg_all[-1])
    before = m.w_avg_all.clone()
    m(z, None) # no update without update_emas
    assert torch.equal(m.w_avg_all, before)

def test_truncation_moves_toward_w_avg():
    G = tiny_G()
    m = G.mapping
    with torch.no_grad():
        m.w_avg_all.copy_(torch.randn_like(m.w_avg_all))
    z = torch.randn(4, 16)
    ws = m(z, None)
    assert torch.allclose(m(z, None, truncation_psi=0), m.w_avg.expand_as(ws), atol=1e-6)
    half = m(z, None, truncation_psi=0.5)
    assert torch.allclose(half - m.w_avg, (ws - m.w_avg) * 0.5, atol=1e-5)
    cut = m(z, None, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], half[:, :2]) and torch.equal(cut[:, 2:], ws[:, 2:])
    # Every W_i moves toward its own average.
    all_ws = m(z, None, return_all_layers=True)
    all_half = m(z, None, truncation_psi=0.5, return_all_layers=True)
    avg = m.w_avg_all[None, :, None, :]
    assert torch.allclose(all_half - avg, (all_ws - avg) * 0.5, atol=1e-5)

def test_noise_modes_determinism():
    G = tiny_G()
    z = torch.randn(2, 16)
    assert torch.equal(G(z, None, noise_mode='const'), G(z, None, noise_mode='const'))
    assert not torch.equal(G(z, None, noise_mode='random'), G(z, None, noise_mode='random'))
    assert not torch.equal(G(z, None, noise_mode='const'), G(z, None, noise_mode='none'))

def test_conditional_generator_and_discriminator():
    G, D = tiny_G(c_dim=4), tiny_D(c_dim=4)
    z = torch.randn(4, 16)
    c1 = torch.eye(4)
    c2 = c1.roll(1, dims=1)
    img1, img2 = G(z, c1, noise_mode='const'), G(z, c2, noise_mode='const')
    assert img1.shape == (4, 3, 16, 16) and not torch.allclose(img1, img2)
    logits1, logits2 = D(img1, c1), D(img1, c2)
    assert logits1.shape == (4, 1) and not torch.allclose(logits1, logits2)

def test_discriminator_forward_shape_and_dtype():
    D = tiny_D()
    logits = D(torch.randn(4, 3, 16, 16), None)
    assert logits.shape == (4, 1) and logits.dtype == torch.float32
    assert [f'b{r}' for r in D.block_resolutions] == ['b16', 'b8']

def test_discriminator_freeze_layers():
    D = tiny_D(block_kwargs=dict(freeze_layers=2)) # fromrgb and conv0 of the first block
    b16 = D.b16
    assert 'weight' in dict(b16.fromrgb.named_buffers()) and 'weight' in dict(b16.conv0.named_buffers())
    assert 'weight' in dict(b16.conv1.named_parameters()) and 'weight' in dict(D.b8.conv0.named_parameters())

# Layers counted from the image as StyleGAN2-ADA's freeze_layers counts them, per D architecture (Fig. 7).
D_LAYERS = {
    'resnet': ['b16.fromrgb', 'b16.conv0', 'b16.conv1', 'b16.skip', 'b8.conv0', 'b8.conv1', 'b8.skip'],
    'orig':   ['b16.fromrgb', 'b16.conv0', 'b16.conv1', 'b8.conv0', 'b8.conv1'],
    'skip':   ['b16.fromrgb', 'b16.conv0', 'b16.conv1', 'b8.fromrgb', 'b8.conv0', 'b8.conv1'],
}

@pytest.mark.parametrize('architecture', list(D_LAYERS))
def test_discriminator_architectures_have_their_layers_and_freeze_from_the_image(architecture):
    D = tiny_D(architecture=architecture, block_kwargs=dict(freeze_layers=4))
    layers = [f'{block}.{name}' for block in ['b16', 'b8'] for name, _ in getattr(D, block).named_children()]
    assert layers == D_LAYERS[architecture]
    frozen = ['weight' in dict(D.get_submodule(name).named_buffers()) for name in layers]
    assert frozen == [i < 4 for i in range(len(layers))]
    assert D(torch.randn(4, 3, 16, 16), None).shape == (4, 1)
    assert hasattr(D.b4, 'fromrgb') == (architecture == 'skip')

def test_minibatch_std_matches_reference():
    layer = nets.MinibatchStdLayer(group_size=2, num_channels=1)
    x = torch.randn(4, 3, 2, 2)
    y = layer(x)
    assert y.shape == (4, 4, 2, 2) and torch.equal(y[:, :3], x)
    # Sample i is in group i % 2: {0, 2} and {1, 3}; the feature is the mean over C, H, W of the group's std.
    for members in [(0, 2), (1, 3)]:
        std = x[list(members)].std(dim=0, unbiased=False).mean()
        for i in members:
            assert torch.allclose(y[i, 3], std.expand(2, 2), atol=1e-5)

#----------------------------------------------------------------------------

def fp16_nets(device, D_architecture='resnet'):
    G = tiny_G(num_fp16_res=2, conv_clamp=256).to(device)
    D = tiny_D(num_fp16_res=2, conv_clamp=256, architecture=D_architecture).to(device)
    assert G.synthesis.b16.use_fp16 and G.synthesis.b8.use_fp16 and not G.synthesis.b4.use_fp16
    assert D.b16.use_fp16 and D.b8.use_fp16
    return G, D

@pytest.mark.parametrize('D_architecture', list(D_LAYERS))
def test_fp16_blocks_compute_in_fp32_on_cpu(D_architecture):
    G, D = fp16_nets('cpu', D_architecture)
    ws = G.mapping(torch.randn(2, 16), None)
    x, img = G.synthesis.b4(None, None, ws[:, :2], noise_mode='const')
    x, img = G.synthesis.b8(x, img, ws[:, 1:4], noise_mode='const')
    assert x.dtype == torch.float32
    img = G.synthesis(ws, noise_mode='const')
    assert torch.equal(img, G.synthesis(ws, noise_mode='const', force_fp32=True))
    assert torch.equal(D(img, None), D(img, None, force_fp32=True))

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('D_architecture', list(D_LAYERS))
def test_fp16_blocks_on_cuda(D_architecture):
    G, D = fp16_nets('cuda', D_architecture)
    ws = G.mapping(torch.randn(2, 16, device='cuda'), None)
    x, img = G.synthesis.b4(None, None, ws[:, :2], noise_mode='const')
    x, img = G.synthesis.b8(x, img, ws[:, 1:4], noise_mode='const')
    assert x.dtype == torch.float16 and img.dtype == torch.float32
    img16 = G.synthesis(ws, noise_mode='const')
    img32 = G.synthesis(ws, noise_mode='const', force_fp32=True)
    assert img16.dtype == torch.float32 and torch.isfinite(img16).all()
    assert (img16 - img32).abs().max() < 0.05 * img32.abs().max()
    logits16, logits32 = D(img32, None), D(img32, None, force_fp32=True)
    assert logits16.dtype == torch.float32 and torch.allclose(logits16, logits32, rtol=0.05, atol=0.05)

@pytest.mark.parametrize('safe', [False, True])
def test_pickle_roundtrip_reproduces_outputs(safe):
    G, D = tiny_G(c_dim=2), tiny_D(c_dim=2)
    data = pickle.dumps(dict(G=G, D=D))
    nets2 = persistence.load_pickle(io.BytesIO(data)) if safe else pickle.loads(data)
    G2, D2 = nets2['G'], nets2['D']
    assert G2.init_kwargs.synthesis_kwargs == {**TINY_SYN} and G2.num_ws == G.num_ws
    z, c = torch.randn(2, 16), torch.eye(2)
    img = G(z, c, truncation_psi=0.7, noise_mode='const')
    assert torch.equal(G2(z, c, truncation_psi=0.7, noise_mode='const'), img)
    assert torch.equal(D2(img, c), D(img, c))
    assert torch.equal(copy.deepcopy(G)(z, c, noise_mode='const'), G(z, c, noise_mode='const'))

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
# fp16_channels_last: the first block's constant is [C, 4, 4] and goes channels-last only as a batch. FP16 runs only
# on CUDA, so the test lets it run on the CPU.

def test_fp16_channels_last_first_block(monkeypatch):
    monkeypatch.setattr(nets, '_fp16_active', lambda use_fp16, force_fp32, device: use_fp16 and not force_fp32)
    cpu_rule = nets._memory_format # on CPU every block is channels-last; here the blocks choose as on CUDA
    monkeypatch.setattr(nets, '_memory_format',
        lambda cl, fp16, device, *fused: cpu_rule(cl, fp16, torch.device('cuda'), *fused))
    blocks = [nets.SynthesisBlock(0, 8, w_dim=8, resolution=4, img_channels=3, use_fp16=True, fp16_channels_last=cl)
              for cl in [False, True]]
    blocks[1].load_state_dict(blocks[0].state_dict())
    ws = torch.randn([2, 2, 8])
    (x, img), (x_cl, img_cl) = [block(None, None, ws, noise_mode='const') for block in blocks]
    assert x_cl.dtype == torch.float16 and x_cl.is_contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x_cl.float(), x.float(), rtol=1e-2, atol=1e-2)
    assert torch.allclose(img_cl, img, rtol=1e-2, atol=1e-2)

#----------------------------------------------------------------------------
# On CPU, G's and D's blocks run channels-last in FP32 too (for speed; G's only with unfused modulated convs, as in
# training): the same numbers as the contiguous layout to float tolerance, forward and gradients, with every conv
# layer inside a block seeing channels-last input and giving channels-last output.

def channels_last_seen(net):
    """Records, for every conv layer inside a block of `net`, whether its input and output were channels-last."""
    seen = []
    layer_types = (nets.SynthesisLayer, nets.ToRGBLayer, nets.Conv2dLayer)
    blocks = [m for m in net.modules() if isinstance(m, (nets.SynthesisBlock, nets.DiscriminatorBlock))]
    for layer in {m for block in blocks for m in block.modules() if isinstance(m, layer_types)}:
        layer.register_forward_hook(lambda _m, inputs, y: seen.append(all(
            t.is_contiguous(memory_format=torch.channels_last) for t in [inputs[0], y])))
    return seen

def step_outputs(G, D, z, fused_modconv):
    """G's image, D's logits, and the gradients of all of G's and D's parameters for one D(G(z)) pass."""
    img = G(z, None, noise_mode='const', fused_modconv=fused_modconv)
    logits = D(img, None)
    params = list(G.parameters()) + list(D.parameters())
    grads = torch.autograd.grad(logits.square().sum(), params)
    return [img, logits, *grads]

@pytest.mark.parametrize('architecture', nets.ARCHITECTURES)
@pytest.mark.parametrize('fused_modconv', [False, True])
def test_cpu_blocks_run_channels_last_with_the_contiguous_numbers(monkeypatch, architecture, fused_modconv):
    G, D = tiny_G(architecture=architecture, conv_clamp=256), tiny_D(architecture=architecture)
    z = torch.randn(4, 16)
    seen_G, seen_D = channels_last_seen(G), channels_last_seen(D)
    channels_last = step_outputs(G, D, z, fused_modconv)
    assert len(seen_G) >= 6 and len(seen_D) >= 4
    assert all(seen_D) and (not any(seen_G) if fused_modconv else all(seen_G))
    seen_G.clear(), seen_D.clear()
    monkeypatch.setattr(nets, '_memory_format', lambda *args: torch.contiguous_format)
    contiguous = step_outputs(G, D, z, fused_modconv)
    assert len(seen_G) >= 6 and len(seen_D) >= 4 and not any(seen_G + seen_D)
    for a, b in zip(channels_last, contiguous, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
