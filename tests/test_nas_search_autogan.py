"""nas/search/autogan.py: dynamic reset, REINFORCE against hand computations and on a toy bandit, beam selection,
the growing D, tiny search steps with a stand-in reward, resume."""

import io
import json
import math
import os

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from nas.genotype import Genotype
from nas.search import autogan
from nas.search import reward as reward_module
from nas.search import search_loop as sl
from nas.search.autogan import AutoGAN, DynamicReset
from nas.search.controller import Controller
from nas.space import primitives
from nas.space.autogan_space import SharedGenerator, sample_to_genotype
from training.networks_conventional import Discriminator

class TinyData:
    """Stand-in for SearchData: seeded random 'real' batches."""
    def __init__(self, batch_size=4, resolution=16, seed=0):
        self.batch_size = batch_size
        self.resolution = resolution
        self.gen = torch.Generator().manual_seed(seed)

    def split_size(self, split):
        return 8

    def train(self):
        return torch.rand([self.batch_size, 3, self.resolution, self.resolution], generator=self.gen) * 2 - 1, \
            torch.zeros([self.batch_size, 0])

def mean_output_reward(G):
    """Cheap deterministic stand-in for IS: depends on the child and the shared weights."""
    return float(G(torch.randn([4, G.z_dim], generator=torch.Generator().manual_seed(0))).mean())

def make(seed=0, **kwargs):
    torch.manual_seed(seed)
    G = SharedGenerator(g_channels=4, img_resolution=16, bottom_width=2)
    D = Discriminator(img_resolution=16, d_channels=4)
    options = dict(num_iters=4, grow_iters=(1, 2), shared_steps=3, ctrl_steps=2, g_batch=4, num_candidates=4,
                   beam_size=2, reward=mean_output_reward, seed=seed)
    return AutoGAN(G, D, 'cpu', **{**options, **kwargs})

#----------------------------------------------------------------------------
# Dynamic reset.

def test_dynamic_reset_fires_on_a_constant_window_only():
    r = DynamicReset(window=5, threshold=1e-3)
    assert not any(r.update(1.0, -0.5) for _ in range(4)) # window not full yet
    assert r.update(1.0, -0.5)
    r.clear()
    assert not any(r.update(1.0 + 0.1 * (i % 2), -0.5) for i in range(20)) # G varies
    r.clear()
    assert not any(r.update(1.0, -0.5 + 0.1 * (i % 2)) for i in range(20)) # D varies

def test_dynamic_reset_statistic():
    losses = [0.0, 0.05] * 5 # variance 6.25e-4 < 1e-3, standard deviation 0.025 > 1e-3
    for stat, fires in [('var', True), ('std', False)]:
        r = DynamicReset(window=10, threshold=1e-3, stat=stat)
        assert [r.update(v, v) for v in losses][-1] == fires

#----------------------------------------------------------------------------
# REINFORCE.

def test_baseline_is_a_moving_average():
    b = autogan.update_baseline(None, torch.tensor([2.0, 4.0]), 0.9)
    assert b == 3.0
    assert autogan.update_baseline(b, torch.tensor([13.0]), 0.9) == pytest.approx(0.9 * 3 + 0.1 * 13)

def test_reinforce_gradient_by_hand():
    ctrl = Controller([3], hidden_size=4)
    with torch.no_grad():
        for p in ctrl.parameters():
            p.zero_()
        ctrl.heads[0].bias.copy_(torch.tensor([0.5, -0.2, 0.1]))
    actions = torch.tensor([[2], [0]])
    rewards, baseline, w = torch.tensor([1.5, 0.25]), 0.75, 0.1
    loss = autogan.reinforce_loss(ctrl.log_prob(actions), rewards, baseline, ctrl.entropy(actions), w)
    loss.backward()
    logits = [0.5, -0.2, 0.1]
    z = sum(math.exp(v) for v in logits)
    p = [math.exp(v) / z for v in logits]
    ent = -sum(q * math.log(q) for q in p)
    expected = []
    for k in range(3):
        g = 0.0
        for a, r in [(2, 1.5), (0, 0.25)]:
            g += -(r - baseline) * ((k == a) - p[k]) / 2  # d(-log p_a)(R - b)/d logit_k, mean over 2
        g += w * p[k] * (math.log(p[k]) + ent)            # d(-w H)/d logit_k (H the same for both rows)
        expected.append(g)
    torch.testing.assert_close(ctrl.heads[0].bias.grad, torch.tensor(expected))

def test_reinforce_moves_probability_toward_the_rewarded_action():
    rewarded = lambda G: 1.0 if G.sample[0][2] == 1 else 0.0 # bandit: nearest up-sampling pays
    alg = make(reward=rewarded, ctrl_lr=0.05, ctrl_steps=60, ctrl_batch=4)
    before = alg.arch_weights()['cell1.up']['nearest']
    alg.train_controller()
    after = alg.arch_weights()['cell1.up']['nearest']
    assert before == pytest.approx(1 / 3, abs=0.05) and after > 0.8

#----------------------------------------------------------------------------
# Beams and growing.

def test_grow_schedule_scales_the_preset():
    assert autogan.grow_schedule(90) == [25, 55] and autogan.grow_schedule(65, 'authors_scripts') == [15, 35]
    assert autogan.grow_schedule(9) == [2, 6] and autogan.grow_schedule(3) == [1, 2]
    assert autogan.grow_schedule(2) == [1] and autogan.grow_schedule(1) == []

def test_top_k_keeps_the_k_best():
    assert autogan.top_k([0.3, 0.9, 0.1, 0.9, 0.5], 3) == [1, 3, 4]
    assert autogan.top_k([0.3], 5) == [0]

def test_grow_keeps_the_best_candidates_with_their_states():
    scored = []
    def reward(G):
        value = sum(sum(t) * (i + 1) for i, t in enumerate(G.sample)) + 0.01 * len(scored)
        scored.append((list(G.sample), value))
        return value
    alg = make(reward=reward, num_candidates=6, beam_size=3)
    old = alg.controller
    alg.grow()
    best = sorted(scored, key=lambda sr: -sr[1])[:3]
    assert [(b['sample'], b['reward']) for b in alg.beams] == best
    for b in alg.beams: # the LSTM state after the beam's own tokens, handed to the next level
        h, c = old.final_state(torch.tensor([b['sample'][0]]))
        torch.testing.assert_close((b['h'], b['c']), (h[0], c[0]))
    assert alg.stage == 1 and alg.controller is not old
    assert alg.controller.token_sizes == primitives.autogan_token_sizes(1)
    samples = alg.sample_children(8)[0]
    assert all(len(s) == 2 and [s[0]] in [b['sample'] for b in alg.beams] for s in samples)

def test_staged_discriminator_runs_the_full_d_at_the_last_stage():
    D = Discriminator(img_resolution=16, d_channels=4).eval() # eval: no power iteration between the calls
    img = torch.randn([2, 3, 16, 16])
    torch.testing.assert_close(autogan.staged_D(D, img, None, 2), D(img))
    for stage, res in [(0, 4), (1, 8)]:
        assert autogan.staged_D(D, torch.randn([2, 3, res, res]), None, stage).shape == (2, 1)

#----------------------------------------------------------------------------
# Whole iterations.

def test_tiny_search_runs_and_derives_valid_genotypes():
    alg = make()
    data = TinyData()
    keys = None
    for it in range(4):
        stats = alg.step(it, data)
        assert stats['Search/stage'] == min(it, 2) and stats['Search/shared_steps'] == 3
        assert math.isfinite(stats['Search/reward']) and math.isfinite(stats['Loss/D'])
        g = alg.derive(data='tiny', seed=0, iteration=it + 1)
        assert isinstance(g, Genotype) and g.backbone == 'autogan'
        assert g.provenance['method'] == 'autogan' and g.provenance['extra']['searched_cells'] == min(it, 2) + 1
        assert g.channels == dict(g_channels=256) and g.provenance['extra']['search_g_channels'] == 4
        weights = alg.arch_weights()
        keys = keys or list(weights)
        assert list(weights) == keys # fixed over the run, for plots
        assert all(abs(sum(row.values()) - 1) < 1e-5 for row in weights.values())
    assert alg.found is not None and len(alg.found) == 2 and alg.found[0][1] >= alg.found[1][1]
    assert len(alg.found[0][0]) == 3 and alg.derive().ops == sample_to_genotype(alg.found[0][0]).ops

def test_dynamic_reset_reinitialises_the_shared_gan():
    alg = make(reset_window=2, reset_threshold=1e9, shared_steps=50, n_critic=1)
    before = alg.G.cells['cell1'].blocks['pre'].c1.weight.detach().clone()
    ctrl_before = [p.detach().clone() for p in alg.controller.parameters()]
    stats = alg.step(0, TinyData())
    assert stats['Search/reset'] == 1 and stats['Search/shared_steps'] == 2 and alg.num_resets == 1
    assert not torch.equal(before, alg.G.cells['cell1'].blocks['pre'].c1.weight)
    assert alg.resetter.g_losses == []
    assert any(not torch.equal(a, b) for a, b in zip(ctrl_before, alg.controller.parameters())) # kept, trained

def test_single_level_samples_every_cell_at_full_resolution():
    # AutoGAN Sec. 4.3.4's ablation: one controller for the whole architecture, the full-size G and D from the start.
    alg = make(grow_iters=(), single_level=True, num_iters=2)
    sizes = [n for s in range(3) for n in primitives.autogan_token_sizes(s)]
    assert alg.controller.token_sizes == sizes
    samples = alg.sample_children(3)[0]
    assert all([len(cell) for cell in sample] == [len(primitives.autogan_token_sizes(s)) for s in range(3)]
               for sample in samples)
    data = TinyData()
    stats = alg.step(0, data)
    assert stats['Search/stage'] == 2 and alg.G.sample is not None and len(alg.G.sample) == 3
    assert alg.G(torch.randn(2, alg.G.z_dim)).shape[-1] == 16 # full resolution
    alg.step(1, data)
    genotype = alg.derive()
    assert genotype.provenance['extra']['searched_cells'] == 3
    assert set(alg.arch_weights()) == set(make().arch_weights()) # every token of every cell, as multi-level
    with pytest.raises(AssertionError):
        make(single_level=True) # cells added at grow_iters contradict a single level

def test_dynamic_reset_off_never_resets():
    # AutoGAN Sec. 4.3.3's ablation: the same flat losses as above, and no reset.
    alg = make(reset_window=2, reset_threshold=1e9, shared_steps=50, n_critic=1, dynamic_reset=False)
    stats = alg.step(0, TinyData())
    assert stats['Search/reset'] == 0 and stats['Search/shared_steps'] == 50 and alg.num_resets == 0

@pytest.mark.parametrize('kwargs', [dict(), dict(single_level=True, grow_iters=())], ids=['multi_level', 'single_level'])
def test_resume_continues_exactly(kwargs):
    alg = make(**kwargs)
    data = TinyData()
    alg.step(0, data)
    alg.step(1, data)
    buf = io.BytesIO()
    torch.save(alg.state_dict(), buf)
    alg2 = make(seed=1, **kwargs)
    alg2.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    data2 = TinyData()
    data2.gen.set_state(data.gen.get_state())
    torch.manual_seed(7)
    s1 = alg.step(2, data)
    torch.manual_seed(7)
    s2 = alg2.step(2, data2)
    assert s1 == s2
    assert alg.derive().ops == alg2.derive().ops

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_tiny_search_on_cuda():
    torch.manual_seed(0)
    G = SharedGenerator(g_channels=4, img_resolution=16, bottom_width=2).cuda()
    D = Discriminator(img_resolution=16, d_channels=4).cuda()
    reward = lambda G: float(G(torch.randn([4, G.z_dim], device='cuda')).mean())
    alg = AutoGAN(G, D, torch.device('cuda'), num_iters=3, grow_iters=(1, 2), shared_steps=2, ctrl_steps=2, g_batch=4,
                  num_candidates=3, beam_size=2, reward=reward)
    class CudaData(TinyData):
        def train(self):
            img, c = super().train()
            return img.cuda(), c.cuda()
    for it in range(3):
        assert math.isfinite(alg.step(it, CudaData())['Search/reward'])
    assert alg.controller.lstm.weight_ih.is_cuda and alg.found is not None
    assert alg.derive().backbone == 'autogan'

def test_metric_reward_needs_logits():
    class NoLogits:
        def __call__(self, G, num_gen=None):
            return type('R', (), dict(fid=4.0, is_mean=None))()
    alg = make(reward='fid')
    alg.reward.evaluator = NoLogits()
    assert alg.child_reward([(0, 0, 0, 0)]) == 0.25
    alg.reward.reward = 'is'
    with pytest.raises(Exception, match='--reward=is'):
        alg.child_reward([(0, 0, 0, 0)])

def test_reward_leaves_the_random_streams_where_they_were():
    def noisy_reward(G):
        return float(torch.randn([]) + np.random.rand())
    evaluator = reward_module.RewardEvaluator('cpu', reward=noisy_reward)
    G = SharedGenerator(g_channels=4, img_resolution=16, bottom_width=2)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = evaluator(G)
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], np_state)
    assert evaluator(G) == first # the same draws again

@pytest.mark.parametrize('given, note', [
    (None, 'Reward: 1/FID (the default: the detector offline has no logits, so no Inception Score)'),
    ('fid', 'Reward: 1/FID'),
])
def test_reward_is_said_in_one_line(given, note, monkeypatch, capsys):
    monkeypatch.setattr(reward_module, 'detector_has_logits', lambda spec: False) # the offline detector
    opts = dnnlib.EasyDict(reward=given, detector=None, reward_real=None, reward_samples=10)
    kwargs = reward_module.reward_config(opts, dnnlib.EasyDict(training_set_kwargs=dict()))
    assert kwargs['reward'] == 'fid' and kwargs['reward_note'] == note
    capsys.readouterr()
    make(reward='fid', reward_note=kwargs['reward_note'])
    assert capsys.readouterr().out.splitlines()[-1] == note # the run's log

#----------------------------------------------------------------------------
# Through the search loop (run directory, genotype files, exact resume), reward named by its dotted path.

def loop_config(data, run_dir, **overrides):
    algorithm = dict(class_name='nas.search.autogan.AutoGAN', reward=f'{__name__}.mean_output_reward', num_iters=2,
                     grow_iters=[1], shared_steps=2, ctrl_steps=1, g_batch=4, num_candidates=2, beam_size=1)
    dataset = dict(class_name='training.dataset.ImageFolderDataset', path=data)
    c = dict(run_dir=str(run_dir), training_set_kwargs=dataset,
             data_loader_kwargs=dict(num_workers=0),
             G_kwargs=dict(class_name='nas.space.autogan_space.SharedGenerator', g_channels=4),
             D_kwargs=dict(class_name='training.networks_conventional.Discriminator', d_channels=4),
             algorithm_kwargs=algorithm, num_iters=2, batch_size=4, random_seed=3, device='cpu',
             image_snapshot_iters=None, state_snapshot_iters=1, max_grid_images=4,
             provenance=dict(method='autogan', data='tiny'), progress=False)
    c.update(overrides)
    os.makedirs(c['run_dir'], exist_ok=True)
    return c

def test_search_loop_runs_and_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(sl, 'write_plots', lambda *args: None) # matplotlib time; the loop's own tests cover plots
    os.makedirs(tmp_path / 'data')
    rnd = np.random.RandomState(0)
    for i in range(8):
        PIL.Image.fromarray(rnd.randint(0, 256, [32, 32, 3], dtype=np.uint8)).save(tmp_path / 'data' / f'{i}.png')
    data = str(tmp_path / 'data')
    found = sl.search_loop(**loop_config(data, tmp_path / 'a'))
    assert found.backbone == 'autogan' and found.provenance['extra']['searched_cells'] == 2
    assert Genotype.from_json(tmp_path / 'a' / 'genotype-000001.json').provenance['extra']['searched_cells'] == 1
    with open(tmp_path / 'a' / 'stats.jsonl') as f:
        stats = [json.loads(line) for line in f]
    assert [s['Search/stage'] for s in stats] == [0, 1]
    resumed = sl.search_loop(**loop_config(data, tmp_path / 'b', resume=str(tmp_path / 'a' / 'search-state-000001.pt')))
    assert resumed.ops == found.ops
    with open(tmp_path / 'b' / 'stats.jsonl') as f:
        stats_b = [json.loads(line) for line in f]
    for key in ['Search/reward', 'Loss/G', 'Loss/D']:
        assert [s[key] for s in stats_b] == [s[key] for s in stats[1:]]

#----------------------------------------------------------------------------
