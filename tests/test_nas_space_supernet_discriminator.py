"""Searchable discriminator of alphaGAN's "Search D" ablation (Table 3): parameter split, a one-hot choice equals
AutoGAN's fixed D, gradients reach the alphas, derivation, and alphaGAN searching it with G."""

import pytest
import torch

from nas.search.alphagan import AlphaGAN
from nas.space import supernet_discriminator as sd
from nas.space.supernet_conventional import SupernetGenerator
from training.networks_conventional import Discriminator

#----------------------------------------------------------------------------

def make(**kwargs):
    torch.manual_seed(0)
    return sd.SupernetDiscriminator(img_resolution=16, d_channels=4, **kwargs)

def test_parameter_split():
    D = make()
    assert [p.shape for p in D.arch_parameters()] == [torch.Size([6, 3])] # blocks 2-4 x (c1, c2), three convs
    arch_ids = {id(p) for p in D.arch_parameters()}
    assert not arch_ids & {id(p) for p in D.weight_parameters()}
    assert len(D.weight_parameters()) + 1 == len(list(D.parameters()))

def test_one_hot_choice_equals_the_fixed_discriminator(monkeypatch):
    D = make(sn=False).eval()
    chosen = [1, 0, 2, 1, 1, 0] # conv_3x3, conv_1x1, conv_5x5, ...
    weights = torch.nn.functional.one_hot(torch.tensor(chosen), 3).float()
    monkeypatch.setattr(D, 'edge_weights', lambda: weights)
    ref = Discriminator(img_resolution=16, d_channels=4, sn=False).eval()
    state = {k: v for k, v in D.state_dict().items() if k.startswith(('block1.', 'l5.')) or '.c_sc.' in k}
    for edge, index in zip(sd.D_EDGES, chosen):
        block, conv = edge.split('.')
        layer = sd.D_OPS[sd.D_CANDIDATES[index]](4, False)
        layer.load_state_dict(getattr(getattr(D, block), conv).ops[index].state_dict())
        setattr(getattr(ref, block), conv, layer)
    ref.load_state_dict(state, strict=False)
    img = torch.randn(3, 3, 16, 16)
    assert torch.equal(D(img), ref(img))

def test_gradients_reach_alphas_and_derive_picks_argmax():
    D = make()
    D(torch.randn(2, 3, 16, 16)).sum().backward()
    assert D.alphas.grad is not None and D.alphas.grad.abs().sum() > 0
    with torch.no_grad():
        D.alphas.zero_()
        D.alphas[3, 2] = 1.0
    assert D.derive_ops() == {'block2.c1': 'conv_1x1', 'block2.c2': 'conv_1x1', 'block3.c1': 'conv_1x1',
                              'block3.c2': 'conv_5x5', 'block4.c1': 'conv_1x1', 'block4.c2': 'conv_1x1'}

def test_alphagan_searches_D_with_G():
    torch.manual_seed(0)
    G = SupernetGenerator(img_resolution=16, g_channels=4)
    D = make(sn=False)
    with torch.no_grad():
        D.l5.weight.mul_(1e-3) # logits inside the hinge's active band, so the gap has gradients
    class Data:
        def train(self):
            return torch.rand([4, 3, 16, 16]) * 2 - 1, torch.zeros([4, 0])
        val = train
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1, arch_wd=0, search_D=True)
    d0 = D.alphas.detach().clone()
    alg.step(0, Data())
    assert not torch.equal(d0, D.alphas.detach())
    assert {id(p) for group in alg.arch_opt.param_groups for p in group['params']} >= {id(D.alphas)}
    assert all(id(p) != id(D.alphas) for group in alg.D_opt.param_groups for p in group['params'])
    genotype = alg.derive(method='alphagan')
    assert genotype.provenance['extra']['D_ops'] == D.derive_ops()

#----------------------------------------------------------------------------
