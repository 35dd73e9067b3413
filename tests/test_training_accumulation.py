"""Gradient accumulation with training.loss.StyleGAN2Loss: one round of 16 and four rounds of 4, each round's loss
scaled by 1/rounds, give the same gradients (the property `--batch` / `--batch-gpu` relies on)."""

import pytest
import torch

from training import loss as loss_module
from training import networks_stylegan2

BATCH = 16
ROUNDS = 4
R1_INTERVAL = 16 # lazy R1: the loop passes gain = interval / rounds

#----------------------------------------------------------------------------
# Tiny G and D (fp32, no clamping); G's noise is the learned constant with a non-zero strength, so both splits
# see the same noise without depending on the RNG stream.

class ConstNoiseG:
    """What StyleGAN2Loss needs of G (mapping, synthesis) with noise_mode='const'."""
    def __init__(self, G):
        self.mapping = G.mapping
        self.synthesis = lambda ws: G.synthesis(ws, noise_mode='const')

def make_nets(mbstd_num_channels):
    torch.manual_seed(0)
    G = networks_stylegan2.Generator(z_dim=8, w_dim=8, img_resolution=8, img_channels=3,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=32, channel_max=8, num_fp16_res=0))
    D = networks_stylegan2.Discriminator(c_dim=0, img_resolution=8, img_channels=3, channel_base=32, channel_max=8,
        num_fp16_res=0, conv_clamp=None, epilogue_kwargs=dict(mbstd_group_size=4, mbstd_num_channels=mbstd_num_channels))
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.5)
    loss = loss_module.StyleGAN2Loss(torch.device('cpu'), ConstNoiseG(G), D, r1_gamma=1, style_mixing_prob=0, pl_weight=0)
    return G, D, loss

def make_batch():
    gen = torch.Generator().manual_seed(1)
    real = torch.rand([BATCH, 3, 8, 8], generator=gen) * 2 - 1
    z = torch.randn([BATCH, 8], generator=gen)
    return real, z

def gradients(G, D, loss, phase, real, z, rounds, gain):
    """Gradients of every parameter after accumulating `phase` over `rounds` equal contiguous rounds."""
    for p in list(G.parameters()) + list(D.parameters()):
        p.grad = None
    c = torch.zeros([real.shape[0], 0])
    for real_r, z_r, c_r in zip(real.chunk(rounds), z.chunk(rounds), c.chunk(rounds)):
        loss.accumulate_gradients(phase, real_r, c_r, z_r, c_r, gain=gain, cur_nimg=0)
    grads = {f'G.{n}': p.grad for n, p in G.named_parameters()}
    grads.update({f'D.{n}': p.grad for n, p in D.named_parameters()})
    return {name: g.clone() for name, g in grads.items() if g is not None}

def assert_same(a, b):
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        scale = a[name].abs().max().item()
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-6 * max(scale, 1)), name

#----------------------------------------------------------------------------

@pytest.mark.parametrize('phase,interval,trained', [('Gmain', 1, 'G.'), ('Dmain', 1, 'D.'), ('Dreg', R1_INTERVAL, 'D.'),
                                                    ('Dboth', 1, 'D.')])
def test_one_round_of_16_equals_four_rounds_of_4(phase, interval, trained):
    G, D, loss = make_nets(mbstd_num_channels=0)
    real, z = make_batch()
    whole = gradients(G, D, loss, phase, real, z, rounds=1, gain=interval)
    split = gradients(G, D, loss, phase, real, z, rounds=ROUNDS, gain=interval / ROUNDS)
    assert all(name.startswith(trained) for name in whole) # the other network stays untouched
    assert any(g.abs().max() > 0 for g in whole.values())
    assert_same(whole, split)
    unscaled = gradients(G, D, loss, phase, real, z, rounds=ROUNDS, gain=interval) # summing instead of averaging
    assert_same({k: v * ROUNDS for k, v in whole.items()}, unscaled)

def test_r1_gradients_differ_from_dmain():
    # Guard against a vacuous Dreg case: R1 must contribute gradients of its own.
    G, D, loss = make_nets(mbstd_num_channels=0)
    real, z = make_batch()
    dmain = gradients(G, D, loss, 'Dmain', real, z, rounds=1, gain=1)
    dboth = gradients(G, D, loss, 'Dboth', real, z, rounds=1, gain=1)
    assert any(not torch.allclose(dmain[n], dboth[n]) for n in dmain)

def test_minibatch_stddev_groups_must_stay_within_a_round():
    # Minibatch-stddev couples the samples of a group (sample i in group i % (N / 4)). Splitting 16 into 4
    # contiguous rounds regroups them, so the update changes; it is equal when each round holds one group.
    G, D, loss = make_nets(mbstd_num_channels=1)
    real, z = make_batch()
    split = gradients(G, D, loss, 'Dmain', real, z, rounds=ROUNDS, gain=1 / ROUNDS)
    whole = gradients(G, D, loss, 'Dmain', real, z, rounds=1, gain=1)
    assert any(not torch.allclose(whole[n], split[n], rtol=1e-4, atol=1e-6) for n in whole)
    order = torch.arange(BATCH).reshape(ROUNDS, BATCH // ROUNDS).t().flatten() # position 4*j + r holds round r's j-th
    grouped = gradients(G, D, loss, 'Dmain', real[order], z[order], rounds=1, gain=1)
    assert_same(grouped, split)

#----------------------------------------------------------------------------
