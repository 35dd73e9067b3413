"""nas/search/random_search.py: seeded samples from every space, reproducible runs, the best candidate kept."""

import collections
import copy
import io

import numpy as np
import pytest
import torch

from nas.genotype import Genotype
from nas.backbones import base as backbone_base
from nas.search.random_search import RandomSearch, SharedRandomSearch, sample_genotype
from nas.space import primitives
from nas.space.autogan_space import SharedGenerator
from nas.space.supernet_conventional import SupernetGenerator
from training.networks_conventional import Discriminator

class TinyData:
    def __init__(self, batch_size=2, resolution=16, seed=0):
        self.batch_size = batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.resolution = resolution

    def train(self):
        return torch.rand([self.batch_size, 3, self.resolution, self.resolution], generator=self.gen) * 2 - 1, \
            torch.zeros([self.batch_size, 0])

def output_reward(G):
    return float(G(torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(0))).mean())

def make(seed=0, space='autogan', reward=output_reward, **kwargs):
    torch.manual_seed(0) # the networks, as the search loop builds them from its seed
    G = SharedGenerator(g_channels=4, img_resolution=16, bottom_width=2)
    D = Discriminator(img_resolution=16, d_channels=4)
    child = dict(g_channels=4, bottom_width=2)
    return RandomSearch(G, D, 'cpu', space=space, num_samples=3, train_steps=2, n_critic=1, g_batch=2,
                        child_kwargs=child, reward=reward, seed=seed, **kwargs)

def run(alg, data):
    return [alg.step(i, data) for i in range(alg.num_samples)]

#----------------------------------------------------------------------------

def test_fixed_seed_is_reproducible():
    a = make(seed=5)
    stats_a = run(a, TinyData())
    b = make(seed=5)
    torch.manual_seed(123) # the global RNG at step time does not matter
    stats_b = run(b, TinyData())
    assert [g.to_dict() for g in a.genotypes] == [g.to_dict() for g in b.genotypes]
    assert stats_a == stats_b and a.rewards == b.rewards
    assert a.derive().to_dict() == b.derive().to_dict()
    c = make(seed=6)
    assert [g.ops for g in c.genotypes] != [g.ops for g in a.genotypes]

def test_keeps_the_best_candidate():
    rewards = iter([0.2, 0.9, 0.5])
    alg = make(reward=lambda G: next(rewards))
    stats = run(alg, TinyData())
    assert [s['Search/best_reward'] for s in stats] == [0.2, 0.9, 0.9]
    g = alg.derive(data='tiny', iteration=3)
    assert g.ops == alg.genotypes[1].ops
    assert g.provenance['method'] == 'random' and g.provenance['extra'] == dict(candidate=1, reward=0.9)
    assert alg.step(3, TinyData()) == {} # past num_samples

def test_global_rng_untouched():
    alg = make()
    state = torch.get_rng_state()
    alg.step(0, TinyData())
    assert torch.equal(state, torch.get_rng_state())

def test_conventional_space_trains_children():
    alg = make(space='conventional')
    stats = run(alg, TinyData())
    assert all(np.isfinite(s['Loss/G']) for s in stats)
    assert alg.derive().backbone == 'conventional'
    assert type(alg.best_G).__module__ == 'nas.backbones.conventional'

def test_state_round_trip():
    alg = make()
    run(alg, TinyData())
    buf = io.BytesIO()
    torch.save(alg.state_dict(), buf)
    alg2 = make()
    alg2.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    assert alg2.rewards == alg.rewards and alg2.best == alg.best
    z = torch.randn([2, 128])
    torch.testing.assert_close(alg2.best_G.eval()(z), alg.best_G.eval()(z))

#----------------------------------------------------------------------------
# With weight sharing (Li & Talwalkar 2019, AutoGAN Sec. 4.3.5): one shared G, a random architecture per G step,
# every candidate scored again with the final weights.

def make_shared(space):
    torch.manual_seed(0)
    G = SupernetGenerator(img_resolution=16, g_channels=4) if space == 'conventional' else \
        SharedGenerator(g_channels=4, img_resolution=16, bottom_width=2)
    D = Discriminator(img_resolution=16, d_channels=4)
    return SharedRandomSearch(G, D, 'cpu', space=space, num_samples=3, train_steps=2, n_critic=1, g_batch=2,
                              reward=output_reward, seed=0)

@pytest.mark.parametrize('space', ['conventional', 'autogan'])
def test_weight_sharing_trains_one_G_and_rescores_every_candidate(space, monkeypatch):
    alg = make_shared(space)
    G = alg.G
    shown = []
    show = type(alg.backbone).show_genotype
    monkeypatch.setattr(type(alg.backbone), 'show_genotype',
                        lambda self, G, genotype: shown.append(genotype.to_dict()) or show(self, G, genotype))
    weights = [p.detach().clone() for p in G.weight_parameters()]
    stats = run(alg, TinyData())
    assert any(not torch.equal(a, b) for a, b in zip(weights, G.weight_parameters())) # the one G trained
    candidates = [g.to_dict() for g in alg.genotypes]
    trained_on = [g for g in shown if g not in candidates]
    assert len(trained_on) == 3 * 2 and len({str(g['ops']) for g in trained_on}) > 1 # one draw per G step
    final = []
    G.eval() # as the reward evaluator runs it
    for genotype in alg.genotypes:
        show(alg.backbone, G, genotype)
        with torch.no_grad():
            final.append(output_reward(G))
    assert alg.rewards == final and alg.best == int(np.argmax(final))
    assert stats[-1]['Search/best_reward'] == max(final)
    assert alg.derive().ops == alg.genotypes[alg.best].ops

def test_weight_sharing_state_round_trip_continues_exactly():
    alg = make_shared('conventional')
    data = TinyData()
    alg.step(0, data)
    alg.step(1, data)
    buf = io.BytesIO()
    torch.save(alg.state_dict(), buf)
    resumed = make_shared('conventional')
    resumed.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True)) # as checkpoint.load_state
    resumed_data = copy.deepcopy(data)
    torch.manual_seed(9)
    stats = alg.step(2, data)
    torch.manual_seed(9)
    assert resumed.step(2, resumed_data) == stats and resumed.rewards == alg.rewards
    assert resumed.derive().ops == alg.derive().ops

#----------------------------------------------------------------------------
# Samples: valid genotypes, every candidate reachable.

@pytest.mark.parametrize('space,mode', [('conventional', None), ('autogan', None), ('stylegan2', 'micro'),
                                        ('stylegan2', 'macro_dynw')])
def test_samples_are_valid_and_cover_the_choices(space, mode):
    rng = np.random.default_rng(0)
    seen = collections.defaultdict(set)
    for _ in range(200):
        g = sample_genotype(space, rng, resolution=32, mode=mode)
        Genotype.from_dict(g.to_dict())
        if space == 'conventional':
            for cell, ops in g.ops.items():
                for edge, op in ops.items():
                    if edge != 'skip':
                        seen[edge].add(op)
        elif space == 'autogan':
            for cell in g.ops.values():
                for name, _choices in primitives.AUTOGAN_TOKENS:
                    seen[name].add(cell[name])
        else:
            for kind, ops in g.ops.items():
                seen[kind].update(ops)
    if space == 'conventional':
        assert seen['up0'] == set(primitives.CONVENTIONAL_UP_OPS)
        assert seen['n0'] == set(primitives.CONVENTIONAL_NORMAL_OPS)
    elif space == 'autogan':
        assert all(seen[name] == set(choices) for name, choices in primitives.AUTOGAN_TOKENS)
    else:
        assert seen['normal'] == set(primitives.STYLEGAN2_NORMAL_OPS) and seen['up'] == set(primitives.STYLEGAN2_UP_OPS)

#----------------------------------------------------------------------------
