"""nas/space/supernet_stylegan2.py: space sizes (alphaGAN Table 8), architecture/weight split, derivation, and the
supernet with one-hot alphas/betas equals the derived StyleGAN2 generator with the same weights."""

import io
import pickle

import pytest
import torch

from nas.backbones import stylegan2 as nets
from nas.genotype import Genotype
from nas.genotype import stylegan2_layer_ops
from nas.space import primitives
from nas.space.supernet_stylegan2 import SupernetGenerator
from torch_utils import persistence

MODES = ('micro', 'micro_dynw', 'macro', 'macro_dynw')
TINY = dict(z_dim=16, w_dim=16, img_channels=3, mapping_kwargs=dict(num_layers=3),
    synthesis_kwargs=dict(channel_base=256, channel_max=16, num_fp16_res=0))

def tiny_supernet(mode, res=16, seed=0, **kwargs):
    torch.manual_seed(seed)
    G = SupernetGenerator(img_resolution=res, mode=mode, **TINY, **kwargs)
    with torch.no_grad(): # switch the noise on and move the mapping averages off zero
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.5)
        G.mapping.w_avg_all.copy_(torch.randn_like(G.mapping.w_avg_all))
    return G.eval()

#----------------------------------------------------------------------------
# Sizes: paper Table 8 ("Search space" column) and Sec. 4.2. num_ws = 2 log2(R) - 2 W slots (conv layers + last
# toRGB); R = 128, 256, 1024 have 11, 13, 17 conv layers.

@pytest.mark.parametrize('res, conv_layers', [(128, 11), (256, 13), (1024, 17)])
def test_space_size_of_all_modes(res, conv_layers):
    size = lambda mode: primitives.space_size('stylegan2', mode, res)
    assert size('micro') == 9
    assert size('micro_dynw') == 9 * 8 ** (conv_layers + 1)
    assert size('macro') == 3 ** conv_layers
    assert size('macro_dynw') == 3 ** conv_layers * 8 ** (conv_layers + 1)
    assert primitives.space_size('stylegan2', 'micro_dynw', res, num_mapping_layers=4) == 9 * 4 ** (conv_layers + 1)

def test_space_sizes_round_to_paper_table8():
    approx = lambda mode, res: float(f'{primitives.space_size("stylegan2", mode, res):.1e}')
    assert [approx('micro_dynw', r) for r in (128, 256, 1024)] == [6.2e11, 4.0e13, 1.6e17]
    assert [approx('macro', r) for r in (128, 256)] == [1.8e5, 1.6e6] # Table 8 prints 1.3e9 at 1024; 3^17 = 1.3e8
    assert [approx('macro_dynw', r) for r in (128, 256, 1024)] == [1.2e16, 7.0e18, 2.3e24] # also Sec. 4.2

def test_space_size_errors():
    with pytest.raises(ValueError, match="unknown mode 'cell' for backbone 'stylegan2'"):
        primitives.space_size('stylegan2', 'cell', 128)
    with pytest.raises(ValueError, match='power of two'):
        primitives.space_size('stylegan2', 'micro', 96)
    with pytest.raises(ValueError, match="unknown mode 'dynw'"):
        SupernetGenerator(mode='dynw', img_resolution=16, **TINY)

@pytest.mark.parametrize('mode', MODES)
def test_supernet_space_size_and_parameter_split(mode):
    G = tiny_supernet(mode)
    assert G.space_size() == primitives.space_size('stylegan2', mode, 16, num_mapping_layers=3)
    arch, weights = G.arch_parameters(), G.weight_parameters()
    assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
    assert len(arch) + len(weights) == len(list(G.parameters()))
    rows = 1 if mode.startswith('micro') else None
    assert [tuple(p.shape) for p in arch] == [(rows or 3, 3), (rows or 2, 3)] + ([(6, 3)] if 'dynw' in mode else [])

@pytest.mark.parametrize('mode', MODES)
def test_gradients_reach_alphas_betas_and_weights(mode):
    G = tiny_supernet(mode).train()
    G(torch.randn(2, 16), None, noise_mode='random').square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.arch_parameters())
    assert G.mapping.fc0.weight.grad.abs().sum() > 0

#----------------------------------------------------------------------------
# Derivation: argmax per alpha row and per W slot; genotype_probs are the softmaxes.

def set_arch(G, genotype):
    """One-hot-exact alphas/betas (softmax of 0 and -1e4 is exactly 1 and 0 in float32) choosing `genotype`."""
    with torch.no_grad():
        for kind, alpha in G.alphas.items():
            idx = [primitives.candidates('stylegan2', kind).index(name) for name in genotype.ops[kind]]
            alpha.fill_(-1e4)
            alpha[torch.arange(len(idx)), idx] = 0
        if genotype.w_idx is not None:
            G.betas['w'].fill_(-1e4)
            G.betas['w'][torch.arange(G.num_ws), torch.tensor(genotype.w_idx) - 1] = 0

def random_genotype(mode, res=16, seed=1, num_layers=3):
    gen = torch.Generator().manual_seed(seed)
    pick = lambda names, n: [names[int(i)] for i in torch.randint(len(names), [n], generator=gen)]
    layers = primitives.stylegan2_layers(res)
    count = lambda kind: 1 if mode.startswith('micro') else sum(k == kind for _n, k in layers)
    ops = {kind: pick(primitives.candidates('stylegan2', kind), count(kind)) for kind in ('normal', 'up')}
    w_idx = torch.randint(1, num_layers + 1, [len(layers) + 1], generator=gen).tolist() if 'dynw' in mode else None
    return Genotype(backbone='stylegan2', mode=mode, resolution=res,
        channels=dict(channel_base=256, channel_max=16, num_mapping_layers=num_layers), ops=ops, w_idx=w_idx)

@pytest.mark.parametrize('mode', MODES)
def test_derive_returns_the_chosen_genotype(mode):
    G = tiny_supernet(mode)
    target = random_genotype(mode)
    set_arch(G, target)
    g = G.derive(method='alphagan', seed=3, iteration=7)
    assert (g.backbone, g.mode, g.resolution) == ('stylegan2', mode, 16)
    assert g.ops == target.ops and g.w_idx == target.w_idx
    assert g.channels == dict(channel_base=256, channel_max=16, num_mapping_layers=3)
    assert g.provenance['iteration'] == 7 and set(g.provenance['alphas']) == {'normal', 'up'} | (
        {'w'} if 'dynw' in mode else set())
    assert Genotype.from_dict(g.to_dict()) == g

def test_genotype_probs_are_softmaxes():
    G = tiny_supernet('macro_dynw')
    with torch.no_grad():
        for p in G.arch_parameters():
            p.copy_(torch.randn_like(p))
    probs = G.genotype_probs()
    names = [name for name, _kind in primitives.stylegan2_layers(16)]
    assert list(probs) == names + [f'w.{slot}' for slot in primitives.stylegan2_w_slots(16)]
    assert list(probs['b8.conv0']) == ['deconv', 'nearest_conv', 'bilinear_conv']
    assert list(probs['w.b16.torgb']) == ['W1', 'W2', 'W3']
    assert probs['b16.conv1']['conv_5x5'] == pytest.approx(G.alphas['normal'][2].softmax(0)[2].item())
    assert probs['w.b8.conv1']['W2'] == pytest.approx(G.betas['w'][2].softmax(0)[1].item())
    assert list(tiny_supernet('micro').genotype_probs()) == ['normal', 'up']

#----------------------------------------------------------------------------
# Oracle: with one-hot alphas/betas the supernet is the derived generator, weights copied op by op.

def derived_from(G, genotype):
    torch.manual_seed(123)
    net = nets.Generator(img_resolution=G.img_resolution, genotype=genotype.to_dict(), **TINY).eval()
    chosen = dict(zip([n for n, _k in G.layers], stylegan2_layer_ops(genotype, genotype.resolution)))
    src = G.state_dict()
    state = dict()
    for key in net.state_dict():
        parts = key.split('.')
        layer = '.'.join(parts[1:3])
        if parts[0] == 'synthesis' and layer in chosen:
            index = G.candidates[dict(G.layers)[layer]].index(chosen[layer])
            key_src = '.'.join(parts[:3] + ['ops', str(index)] + parts[3:])
        else:
            key_src = key
        state[key] = src[key_src]
    net.load_state_dict(state)
    return net

@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('psi', [1, 0.6])
def test_one_hot_supernet_equals_derived_generator(mode, psi):
    G = tiny_supernet(mode)
    genotype = random_genotype(mode, seed=2)
    set_arch(G, genotype)
    net = derived_from(G, genotype)
    z = torch.randn(3, 16)
    img = G(z, None, truncation_psi=psi, noise_mode='const')
    ref = net(z, None, truncation_psi=psi, noise_mode='const')
    assert torch.equal(img, ref)
    assert not torch.allclose(img, net(z, None, truncation_psi=psi, noise_mode='none'), atol=1e-5)

@pytest.mark.parametrize('mode', MODES)
def test_run_genotype_equals_derived_generator(mode):
    # Random search with weight sharing runs one genotype at a time on the supernet: exactly one-hot weights.
    G = tiny_supernet(mode)
    genotype = random_genotype(mode, seed=3)
    net = derived_from(G, genotype)
    G.run_genotype(genotype)
    z = torch.randn(3, 16)
    assert torch.equal(G(z, None, noise_mode='const'), net(z, None, noise_mode='const'))
    G.run_genotype(None)
    assert not torch.equal(G(z, None, noise_mode='const'), net(z, None, noise_mode='const'))

def test_dynamic_w_truncation_moves_each_slot_toward_its_layer_average():
    G = tiny_supernet('micro_dynw')
    genotype = random_genotype('micro_dynw', seed=4)
    set_arch(G, genotype)
    ws = G.ws(torch.randn(2, 16), None, truncation_psi=0)
    for j, i in enumerate(genotype.w_idx):
        assert torch.allclose(ws[:, j], G.mapping.w_avg_all[i - 1].expand(2, -1), atol=1e-6)

def test_update_emas_tracks_every_mapping_layer():
    G = tiny_supernet('micro_dynw')
    before = G.mapping.w_avg_all.clone()
    G(torch.randn(4, 16), None, update_emas=True)
    assert (G.mapping.w_avg_all - before).abs().amin(dim=1).gt(0).all()

def test_gumbel_hard_forward_is_one_hot():
    G = tiny_supernet('macro_dynw', gumbel=True, gumbel_tau=0.5)
    for weights in [*G.op_weights(), *G.w_weights()]:
        assert sorted(weights.tolist())[-1] == 1 and weights.sum().item() == 1

def test_supernet_pickles_safely():
    G = tiny_supernet('macro_dynw')
    G2 = persistence.load_pickle(io.BytesIO(pickle.dumps(G)))
    z = torch.randn(2, 16)
    assert torch.equal(G2(z, None, noise_mode='const'), G(z, None, noise_mode='const'))
    assert [p.shape for p in G2.arch_parameters()] == [p.shape for p in G.arch_parameters()]

#----------------------------------------------------------------------------

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('mode', ['micro_dynw', 'macro'])
def test_fp16_supernet_on_cuda(mode):
    torch.manual_seed(0)
    kwargs = dict(TINY, synthesis_kwargs=dict(TINY['synthesis_kwargs'], num_fp16_res=2))
    G = SupernetGenerator(img_resolution=16, mode=mode, **kwargs).eval().to('cuda')
    z = torch.randn(2, 16, device='cuda')
    img16 = G(z, None, noise_mode='const')
    img32 = G(z, None, noise_mode='const', force_fp32=True)
    assert img16.dtype == torch.float32 and torch.isfinite(img16).all()
    assert (img16 - img32).abs().max() < 0.05 * img32.abs().max()
    G.train()(z, None, noise_mode='random').square().mean().backward()
    assert all(p.grad is not None for p in G.arch_parameters())
