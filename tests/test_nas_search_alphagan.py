"""alphaGAN search algorithm: updates, duality-gap sign, G_bar/D_bar copies, ablation switches, state round trip."""

import copy

import pytest
import torch

from nas.search import alphagan
from nas.search.alphagan import AlphaGAN
from nas.space.supernet_conventional import SupernetGenerator
from training.networks_conventional import Discriminator

#----------------------------------------------------------------------------
# Tiny fixtures: 32x32 supernet with 8 channels, D with 8 channels, seeded random batches of 4.

class FakeData:
    def __init__(self, seed=0, batch=4):
        self.gen = torch.Generator().manual_seed(seed)
        self.batch = batch
        self.count = dict(train=0, val=0)

    def _batch(self, split):
        self.count[split] += 1
        return torch.rand([self.batch, 3, 32, 32], generator=self.gen) * 2 - 1, torch.zeros([self.batch, 0])

    def train(self):
        return self._batch('train')

    def val(self):
        return self._batch('val')

def make_nets(seed=0, **G_kwargs):
    """D without spectral norm and with a small output layer, so its logits start inside the hinge's active band
    (|D| < 1) and the gap has non-zero gradients; with saturated logits alpha would move by weight decay alone."""
    torch.manual_seed(seed)
    G = SupernetGenerator(img_resolution=32, g_channels=8, **G_kwargs)
    D = Discriminator(img_resolution=32, d_channels=8, sn=False)
    with torch.no_grad():
        D.l5.weight.mul_(1e-3)
    return G, D

def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}

def alphas(G):
    return [p.detach().clone() for p in G.arch_parameters()]

def changed(before, after):
    return any(not torch.equal(a, b) for a, b in zip(before, after))

#----------------------------------------------------------------------------

def test_presets_match_the_paper():
    # Paper Sec. 5.1 (conventional (s) and (l)) and supp. A.1.2 (StyleGAN2 (s): R = 5).
    assert alphagan.PRESETS['alphaGAN_s']['conventional'] == dict(T=20, S=20, R=20)
    assert alphagan.PRESETS['alphaGAN_l']['conventional'] == dict(T=390, S=20, R=390)
    assert alphagan.PRESETS['alphaGAN_s']['stylegan2'] == dict(T=20, S=20, R=5)

def test_one_iteration_moves_alpha_and_weights():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=2, S=2, R=2, arch_wd=0)
    a0, g0, d0 = alphas(G), [p.detach().clone() for p in G.weight_parameters()], snapshot(D)
    data = FakeData()
    stats = alg.step(0, data)
    assert changed(a0, alphas(G))
    assert changed(g0, G.weight_parameters())
    assert any(not torch.equal(v, D.state_dict()[k]) for k, v in d0.items())
    assert set(stats) == {'Loss/D/loss', 'Loss/G/loss', 'Search/duality_gap', 'Search/duality_gap_last'}
    assert data.count == dict(train=2, val=2 + 2 + 2) # T train batches; R + R + S validation batches
    # The weight optimisers never hold alphas; the architecture optimiser holds only alphas.
    arch_ids = {id(p) for p in G.arch_parameters()}
    assert not arch_ids & {id(p) for group in alg.G_opt.param_groups for p in group['params']}
    assert arch_ids == {id(p) for group in alg.arch_opt.param_groups for p in group['params']}
    assert AlphaGAN(G, D, 'cpu').arch_opt.defaults['weight_decay'] == 1e-3 and alg.arch_opt.defaults['betas'] == (0.5, 0.999)

@pytest.mark.parametrize('bar_update', ['weights', 'arch', 'both'])
def test_alpha_gradient_is_the_first_order_gap_gradient(bar_update):
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1, arch_lr=1e-30, arch_wd=0, bar_update=bar_update) # read the gradients
    data = FakeData()
    alg.weight_part(data)
    G_bar, D_bar = alg.solve_bars(data)
    ref_data = copy.deepcopy(data)
    torch.manual_seed(7)
    alg.arch_part(data, G_bar, D_bar)
    grads = [p.grad for p in G.arch_parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in G.weight_parameters()) # weight gradients of the gap are dropped

    # Reference: d/d alpha of M(G, D_bar) through G, plus ('weights': G_bar runs G's architecture) d/d alpha_bar of
    # -M(G_bar, D); 'arch' and 'both' hold G_bar's own alphas fixed, like its weights.
    torch.manual_seed(7)
    real_img, real_c = ref_data.val()
    z = torch.randn([real_img.shape[0], G.z_dim])
    D.eval()
    D_bar.eval()
    term1 = alphagan.game_value(D_bar, G, real_img, real_c, z)
    term2 = -alphagan.game_value(D, G_bar, real_img, real_c, z)
    g1 = torch.autograd.grad(term1, G.arch_parameters())
    g2 = torch.autograd.grad(term2, G_bar.arch_parameters())
    for got, a, b in zip(grads, g1, g2):
        assert torch.allclose(got, a + b if bar_update == 'weights' else a, rtol=1e-5, atol=1e-9)
    assert any(b.abs().sum() > 0 for b in g2) # the second term would contribute

def test_bars_leave_real_networks_unchanged():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=3)
    data = FakeData()
    alg.weight_part(data)
    g_before, d_before = snapshot(G), snapshot(D)
    G_bar, D_bar = alg.solve_bars(data)
    for before, module in [(g_before, G), (d_before, D)]:
        after = module.state_dict()
        assert before.keys() == after.keys()
        assert all(torch.equal(before[k], after[k]) for k in before), 'solve_bars moved the real network'
    # The copies did move: D_bar's and G_bar's weights differ, G_bar keeps G's alphas ('weights' ablation).
    assert any(not torch.equal(D.state_dict()[k], v) for k, v in D_bar.state_dict().items())
    assert changed([p.detach() for p in G.weight_parameters()], [p.detach() for p in G_bar.weight_parameters()])
    assert not changed(alphas(G), alphas(G_bar))
    assert G_bar is not G and D_bar is not D

#----------------------------------------------------------------------------
# Duality gap sign on a hand-built game: D(x) = a * mean(x), G(z) = constant image b.

class ConstG(torch.nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, z, c=None):
        return torch.full([z.shape[0], 1, 2, 2], self.value)

class LinearD(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, img, c=None):
        return self.a * img.mean(dim=[1, 2, 3]).unsqueeze(1)

def test_duality_gap_sign():
    real = torch.ones([3, 1, 2, 2])
    z = torch.zeros([3, 1])
    G, D = ConstG(-1.0), LinearD(0.0)
    D_bar = LinearD(1.0) # best response to G: D_bar(real) = 1, D_bar(fake) = -1, M = 0
    G_bar = ConstG(1.0)  # best response to D (indifferent here): M(G_bar, D) = -(1 + 1) = -2
    # Reference: M(G, D_bar) - M(G_bar, D) = 0 - (-2) = 2 >= 0.
    gap = alphagan.duality_gap(G, D, G_bar, D_bar, real, None, z)
    assert gap.item() == pytest.approx(2.0)
    # At an equilibrium the copies equal the players and the gap is zero.
    assert alphagan.duality_gap(G, D, G, D, real, None, z).item() == 0
    # M is the value D maximises: a better D raises it.
    assert alphagan.game_value(D_bar, G, real, None, z) > alphagan.game_value(D, G, real, None, z)

#----------------------------------------------------------------------------
# Ablation switches: each runs one iteration and moves alpha; warm-up leaves alpha frozen.

class SearchableD(torch.nn.Module):
    """A discriminator with an architecture choice: softmax(beta)-mix of the logits and their tanh."""
    def __init__(self):
        super().__init__()
        self.base = make_nets()[1]
        self.beta = torch.nn.Parameter(torch.zeros([2]))

    def arch_parameters(self):
        return [self.beta]

    def weight_parameters(self):
        return list(self.base.parameters())

    def forward(self, img, c=None):
        w = self.beta.softmax(0)
        logits = self.base(img, c)
        return w[0] * logits + w[1] * logits.tanh()

@pytest.mark.parametrize('bar_update, moved', [('weights', (True, False)), ('arch', (False, True)), ('both', (True, True))])
def test_bar_update_trains_what_it_names(bar_update, moved):
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=2, bar_update=bar_update)
    data = FakeData()
    alg.weight_part(data)
    G_bar, _D_bar = alg.solve_bars(data)
    weights_moved = changed([p.detach() for p in G.weight_parameters()], [p.detach() for p in G_bar.weight_parameters()])
    assert (weights_moved, changed(alphas(G), alphas(G_bar))) == moved

def test_gumbel_step_runs_one_one_hot_sample_in_both_terms(monkeypatch):
    G, D = make_nets(gumbel=True, gumbel_tau=0.5)
    drawn = []
    edge_weights = SupernetGenerator.edge_weights
    monkeypatch.setattr(SupernetGenerator, 'edge_weights', lambda self: drawn.append(edge_weights(self)) or drawn[-1])
    alg = AlphaGAN(G, D, 'cpu', T=1, S=2, R=1)
    data = FakeData()
    alg.weight_part(data)
    G_bar, D_bar = alg.solve_bars(data)
    drawn.clear()
    alg.arch_part(data, G_bar, D_bar)
    assert len(drawn) == 2 * 2 # per step: G in M(G, D_bar), G_bar in M(G_bar, D)
    for of_G, of_G_bar in [drawn[0:2], drawn[2:4]]:
        assert of_G.keys() == of_G_bar.keys()
        assert all(torch.equal(of_G[edge], of_G_bar[edge]) for edge in of_G)
        assert all(sorted(row.tolist())[-1] == 1 and row.sum().item() == 1 for row in of_G.values())
    assert any(not torch.equal(drawn[0][edge], drawn[2][edge]) for edge in drawn[0]) # a fresh sample per step

@pytest.mark.parametrize('up_ops, searched', [('no_deconv', ('nearest', 'bilinear')),
                                              ('learnable_interp', ('deconv', 'nearest_conv_1x1', 'bilinear_conv_1x1'))])
def test_up_ops_are_the_searched_candidates(up_ops, searched):
    # Tables 6 and 7: every up-sampling edge (cell inputs and skips) chooses among this set alone.
    G, D = make_nets(up_ops=up_ops)
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1)
    alg.step(0, FakeData())
    up_rows = [row for edge, row in alg.arch_weights().items() if edge.split('.')[1] in ('up0', 'up1', 'skip')]
    assert len(up_rows) == 2 * 3 + 3 and all(tuple(row) == searched for row in up_rows)
    genotype = alg.derive(method='alphagan')
    chosen = [op for ops in genotype.ops.values() for op in [ops['up0'], ops['up1'], *ops['skip'].values()]]
    assert len(chosen) == 2 * 3 + 3 and set(chosen) <= set(searched)

def test_n_critic_steps_G_every_nth_D_step():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=2, S=1, R=1, n_critic=2)
    alg.step(0, FakeData())
    steps = [alg.G_opt.state[p]['step'].item() for p in G.weight_parameters() if p in alg.G_opt.state]
    assert steps and all(s == 1 for s in steps) # T=2 D steps, one G step
    assert all(alg.D_opt.state[p]['step'].item() == 2 for p in D.parameters() if p in alg.D_opt.state)

def test_search_D_moves_D_alphas():
    G, _D = make_nets()
    D = SearchableD()
    alg = AlphaGAN(G, D, 'cpu', T=2, S=1, R=1, arch_wd=0, search_D=True) # no decay: alpha moves by the gap alone
    a0, d0 = alphas(G), alphas(D)
    alg.step(0, FakeData())
    assert changed(a0, alphas(G)) and changed(d0, alphas(D))

def test_warmup_freezes_alpha():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1, warmup_iters=1)
    a0 = alphas(G)
    data = FakeData()
    stats = alg.step(0, data)
    assert not changed(a0, alphas(G)) and 'Search/duality_gap' not in stats
    assert data.count['val'] == 0 # no G_bar/D_bar work during warm-up
    alg.step(1, data)
    assert changed(a0, alphas(G))

def test_bad_switches_are_refused():
    G, D = make_nets()
    with pytest.raises(AssertionError):
        AlphaGAN(G, D, 'cpu', bar_update='alpha')
    with pytest.raises(ValueError, match='arch_parameters'):
        AlphaGAN(G, D, 'cpu', search_D=True)

def make_stylegan2_nets(mode='macro_dynw'):
    from nas.space.supernet_stylegan2 import SupernetGenerator as SG2Supernet
    from training.networks_stylegan2 import Discriminator as SG2Discriminator
    torch.manual_seed(0)
    G = SG2Supernet(z_dim=16, w_dim=16, img_resolution=8, img_channels=3, mode=mode,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0))
    D = SG2Discriminator(c_dim=0, img_resolution=8, img_channels=3, channel_base=64, channel_max=8, num_fp16_res=0,
        epilogue_kwargs=dict(mbstd_group_size=2))
    return G, D

class StyleGAN2Data:
    def train(self):
        return torch.rand([2, 3, 8, 8]) * 2 - 1, torch.zeros([2, 0])
    val = train

def test_stylegan2_supernet_iteration():
    G, D = make_stylegan2_nets()
    Data = StyleGAN2Data
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1, arch_wd=0)
    a0, d0 = alphas(G), snapshot(D)
    stats = alg.step(0, Data())
    assert changed(a0, alphas(G)) and 'Search/duality_gap' in stats
    genotype = alg.derive(method='alphagan')
    assert genotype.backbone == 'stylegan2' and genotype.mode == 'macro_dynw' and genotype.w_idx is not None
    assert any(not torch.equal(v, D.state_dict()[k]) for k, v in d0.items())

def test_stylegan2_search_draws_random_noise_in_every_step():
    # Re-training draws fresh per-sample noise; the search must see the same regime in its weight, G_bar/D_bar and
    # architecture steps, while the preview grids keep constant noise.
    from nas.search import search_loop
    G, D = make_stylegan2_nets(mode='micro')
    modes = []
    G.synthesis.register_forward_pre_hook(lambda module, args, kwargs: modes.append(kwargs['noise_mode']),
                                          with_kwargs=True)
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1)
    alg.step(0, StyleGAN2Data())
    assert len(modes) == 2 + 2 + 2 and set(modes) == {'random'} # T: D and G step; R: D_bar and G_bar; S: two terms
    z = torch.randn([2, G.z_dim])
    c = torch.zeros([2, 0])
    assert not torch.equal(G(z, c), G(z, c)) # the search's G is not deterministic in z
    assert torch.equal(torch.as_tensor(search_loop.generate_images(G, z, c, 2)),
                       torch.as_tensor(search_loop.generate_images(G, z, c, 2)))

#----------------------------------------------------------------------------

def test_derive_picks_argmax():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu')
    with torch.no_grad():
        for p in G.arch_parameters():
            p.zero_()
        G.alphas['normal_2'][1, 4] = 1.0   # cell2.n1 -> sep_conv_5x5
        G.alphas['up_3'][0, 2] = 1.0       # cell3.up0 -> bilinear
        G.alphas['skip_3'][1, 1] = 1.0     # cell3 skip from cell2 -> nearest
    genotype = alg.derive(method='alphagan')
    assert genotype.ops['cell2']['n1'] == 'sep_conv_5x5'
    assert genotype.ops['cell3']['up0'] == 'bilinear'
    assert genotype.ops['cell3']['skip']['cell2'] == 'nearest'
    assert genotype.ops['cell1']['n0'] == 'conv_1x1' # ties: the first op
    probs = alg.arch_weights()
    assert probs['cell2.n1']['sep_conv_5x5'] == pytest.approx(torch.tensor([1.0, 0, 0, 0, 0, 0]).softmax(0)[0].item())

def test_state_dict_round_trip_continues_identically():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1, n_critic=2)
    alg.step(0, FakeData(seed=1))
    state = copy.deepcopy(alg.state_dict())
    G2, D2 = make_nets(seed=5)
    alg2 = AlphaGAN(G2, D2, 'cpu', T=1, S=1, R=1, n_critic=2)
    alg2.load_state_dict(state)
    torch.manual_seed(3)
    alg.step(1, FakeData(seed=2))
    torch.manual_seed(3)
    alg2.step(1, FakeData(seed=2))
    assert not changed(alphas(G), alphas(G2))
    assert not changed(list(G.state_dict().values()), list(G2.state_dict().values()))
    assert alg2.num_weight_steps == alg.num_weight_steps == 2

#----------------------------------------------------------------------------

#----------------------------------------------------------------------------
# What the weight and architecture steps do not compute: gradients nothing reads. A G step leaves D's weights and
# G's alphas without gradients, every parameter requires gradients again afterwards (also after an error inside),
# and G_bar and D_bar are the same modules in every iteration, overwritten with G's and D's values.

def test_steps_take_only_the_gradients_they_use():
    from nas.search.base import g_step, trainable_only
    G, D = make_nets()
    opt = torch.optim.Adam(G.weight_parameters(), lr=1e-3)
    g_step(G, D, opt, torch.randn([4, G.z_dim]), torch.zeros([4, 0]))
    assert all(p.grad is None for p in list(D.parameters()) + list(G.arch_parameters()))
    assert all(p.grad is not None for p in G.weight_parameters() if p.requires_grad)
    assert all(p.requires_grad for p in list(G.parameters()) + list(D.parameters()))
    with pytest.raises(RuntimeError, match='inside'):
        with trainable_only([G, D], G.arch_parameters()):
            assert not any(p.requires_grad for p in D.parameters())
            raise RuntimeError('inside')
    assert all(p.requires_grad for p in list(G.parameters()) + list(D.parameters()))

def test_bars_are_reused_and_overwritten():
    G, D = make_nets()
    alg = AlphaGAN(G, D, 'cpu', T=1, S=1, R=1)
    data = FakeData()
    G_bar, D_bar = alg.solve_bars(data)
    G_bar_again, D_bar_again = alg.solve_bars(data)
    assert G_bar_again is G_bar and D_bar_again is D_bar
    assert changed(G.state_dict().values(), G_bar.state_dict().values()) # R steps moved it
    fresh = alg._copy('G_bar', G)
    assert fresh is G_bar
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), G.state_dict().values()))
