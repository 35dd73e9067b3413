"""StyleGAN2Loss: phases touch only their network, R1/PL equal independent autograd computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from training import loss as loss_module
from training import networks_stylegan2 as nets

#----------------------------------------------------------------------------

def tiny_nets(seed=0, c_dim=0):
    torch.manual_seed(seed)
    G = nets.Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=16, img_channels=3,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=128, channel_max=16, num_fp16_res=0))
    D = nets.Discriminator(c_dim=c_dim, img_resolution=16, img_channels=3, channel_base=128, channel_max=16,
        num_fp16_res=0)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.3)
    return G, D

def make_loss(G, D, **kwargs):
    return loss_module.StyleGAN2Loss(torch.device('cpu'), G, D, **kwargs)

@pytest.fixture
def reports(monkeypatch):
    """Capture training_stats.report(name, value) calls of the loss."""
    seen = {}
    monkeypatch.setattr(loss_module.training_stats, 'report', lambda name, value: seen.__setitem__(name, value))
    return seen

def batch(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return dict(real_img=torch.randn(n, 3, 16, 16, generator=g), real_c=torch.zeros(n, 0),
        gen_z=torch.randn(n, 16, generator=g), gen_c=torch.zeros(n, 0))

def grads(module):
    return [p.grad for p in module.parameters()]

def all_none_or_zero(gs):
    return all(g is None or not g.any() for g in gs)

#----------------------------------------------------------------------------

@pytest.mark.parametrize('phase, moves', [('Gmain', 'G'), ('Greg', 'G'), ('Gboth', 'G'),
                                          ('Dmain', 'D'), ('Dreg', 'D'), ('Dboth', 'D')])
def test_each_phase_moves_only_its_network(phase, moves, reports):
    G, D = tiny_nets()
    loss = make_loss(G, D)
    loss.accumulate_gradients(phase, **batch(), gain=1, cur_nimg=0)
    own, other = (G, D) if moves == 'G' else (D, G)
    assert all_none_or_zero(grads(other))
    own_grads = [g for g in grads(own) if g is not None]
    assert own_grads and any(g.abs().sum() > 0 for g in own_grads)
    assert all(torch.isfinite(g).all() for g in own_grads)
    assert all(p.requires_grad for p in D.parameters()) and all(p.requires_grad for p in G.parameters())

def test_phase_reports(reports):
    G, D = tiny_nets()
    loss = make_loss(G, D)
    loss.accumulate_gradients('Dboth', **batch(), gain=1, cur_nimg=0)
    assert {'Loss/scores/real', 'Loss/signs/real', 'Loss/scores/fake', 'Loss/D/loss', 'Loss/r1_penalty',
            'Loss/D/reg'} <= set(reports)
    assert torch.equal(reports['Loss/signs/real'], reports['Loss/scores/real'].sign())
    loss.accumulate_gradients('Gboth', **batch(), gain=1, cur_nimg=0)
    assert {'Loss/G/loss', 'Loss/pl_penalty', 'Loss/G/reg'} <= set(reports)

def test_main_losses_are_nonsaturating_logistic(reports):
    G, D = tiny_nets()
    loss = make_loss(G, D, style_mixing_prob=0)
    b = batch()
    torch.manual_seed(5)
    loss.accumulate_gradients('Dmain', **b, gain=1, cur_nimg=0)
    torch.manual_seed(5)
    with torch.no_grad():
        fake = D(G(b['gen_z'], None), None)
        real = D(b['real_img'], None)
    assert torch.allclose(reports['Loss/D/loss'], F.softplus(fake) + F.softplus(-real), atol=1e-6)

    torch.manual_seed(6)
    loss.accumulate_gradients('Gmain', **b, gain=1, cur_nimg=0)
    torch.manual_seed(6)
    with torch.no_grad():
        fake = D(G(b['gen_z'], None), None)
    assert torch.allclose(reports['Loss/G/loss'], F.softplus(-fake), atol=1e-6)

def test_r1_equals_independent_autograd(reports):
    G, D = tiny_nets()
    gamma, gain = 3.0, 16
    flip = lambda img: img.flip(3) # stand-in augment pipe: R1 is taken through it
    loss = make_loss(G, D, r1_gamma=gamma, augment_pipe=flip)
    b = batch()
    loss.accumulate_gradients('Dreg', **b, gain=gain, cur_nimg=0)
    got = [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in D.parameters()] # out.bias: no R1 grad

    x = b['real_img'].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D(flip(x), None).sum(), [x], create_graph=True)
    penalty = g.square().sum(dim=[1, 2, 3])
    assert torch.allclose(reports['Loss/r1_penalty'], penalty, rtol=1e-5)
    assert penalty.min() > 0
    want = torch.autograd.grad((penalty * gamma / 2).mean() * gain, list(D.parameters()), allow_unused=True)
    nonzero = 0
    for a, w in zip(got, want):
        w = torch.zeros_like(a) if w is None else w
        assert torch.allclose(a, w, rtol=1e-4, atol=1e-7)
        nonzero += int(w.abs().sum() > 0)
    assert nonzero > len(got) // 2 # the double backward reaches most of D
    assert all_none_or_zero(grads(G))

def test_path_length_equals_independent_autograd(reports):
    G, D = tiny_nets()
    decay = 0.1
    loss = make_loss(G, D, style_mixing_prob=0, pl_decay=decay, pl_batch_shrink=2)
    b = batch()
    torch.manual_seed(7)
    loss.accumulate_gradients('Greg', **b, gain=1, cur_nimg=0)
    assert all(torch.isfinite(p.grad).all() for p in G.parameters() if p.grad is not None)
    assert G.synthesis.b16.conv1.weight.grad.abs().sum() > 0 and G.mapping.fc0.weight.grad.abs().sum() > 0
    assert all_none_or_zero(grads(D))

    # Same RNG draws: synthesis noise, then the PL noise.
    torch.manual_seed(7)
    ws = G.mapping(b['gen_z'][:2], None)
    img = G.synthesis(ws)
    y = torch.randn_like(img) / math.sqrt(16 * 16)
    (jy,) = torch.autograd.grad((img * y).sum(), [ws])
    lengths = jy.square().sum(dim=2).mean(dim=1).sqrt()
    assert torch.allclose(loss.pl_mean, lengths.mean() * decay, rtol=1e-5)
    assert torch.allclose(reports['Loss/pl_penalty'], (lengths - lengths.mean() * decay).square(), rtol=1e-4)

def test_path_length_skips_weight_gradients_exactly(reports):
    # The path-length gradient is taken w.r.t. ws alone: the conv weight gradients its backward would also compute
    # are thrown away (the default skips them, as StyleGAN2-ADA does), so G's gradients are the same bits either way.
    results = []
    for skip in [True, False]:
        G, D = tiny_nets()
        loss = make_loss(G, D, pl_no_weight_grad=skip)
        torch.manual_seed(7)
        loss.accumulate_gradients('Greg', **batch(), gain=1, cur_nimg=0)
        results.append(grads(G))
    assert make_loss(G, D).pl_no_weight_grad
    assert sum(g is not None for g in results[0]) > 10
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(*results))

def test_style_mixing_takes_tail_from_second_latent():
    G, D = tiny_nets()
    z = torch.randn(3, 16)
    plain = G.mapping(z, None)
    _img, ws = make_loss(G, D, style_mixing_prob=0).run_G(z, None)
    assert torch.equal(ws, plain)
    for _ in range(5):
        _img, ws = make_loss(G, D, style_mixing_prob=1).run_G(z, None)
        assert torch.equal(ws[:, 0], plain[:, 0]) # cutoff >= 1
        assert not torch.allclose(ws[:, -1], plain[:, -1]) # cutoff < num_ws
        same = [torch.equal(ws[:, i], plain[:, i]) for i in range(G.num_ws)]
        cutoff = same.index(False)
        assert not any(same[cutoff:])

def test_style_mixing_accepts_all_layer_ws():
    """A generator whose mapping returns [N, num_layers, num_ws, w_dim] (dynamic W) mixes along num_ws."""
    G, D = tiny_nets()
    class AllLayers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mapping = lambda z, c, update_emas=False: G.mapping(z, c, return_all_layers=True)
            self.synthesis = lambda ws: G.synthesis(ws[:, -1])
    z = torch.randn(2, 16)
    img, ws = make_loss(AllLayers(), D, style_mixing_prob=1).run_G(z, None)
    plain = G.mapping(z, None, return_all_layers=True)
    assert ws.shape == plain.shape and img.shape == (2, 3, 16, 16)
    assert torch.equal(ws[:, :, 0], plain[:, :, 0]) and not torch.allclose(ws[:, :, -1], plain[:, :, -1])

def test_dmain_updates_w_avg_and_gmain_does_not(reports):
    G, D = tiny_nets()
    loss = make_loss(G, D)
    loss.accumulate_gradients('Gmain', **batch(), gain=1, cur_nimg=0)
    assert not G.mapping.w_avg_all.any()
    loss.accumulate_gradients('Dmain', **batch(), gain=1, cur_nimg=0)
    assert G.mapping.w_avg_all.abs().sum() > 0

#----------------------------------------------------------------------------
