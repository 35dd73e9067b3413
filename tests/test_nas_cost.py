"""Resource-aware search (nas.cost): exact parameter and FLOP counts of built generators, the additive cost model
behind alphaGAN's expected-cost penalty, and parameter/FLOP budgets that every method and backbone respects."""

import json
import os

import numpy as np
import pytest
import torch

import dnnlib
from cli_helpers import assert_one_line_error, make_images, run_inprocess
from dnnlib.util import UserError, parse_amount
from nas import backbones
from nas import cost
from nas import report
from nas.genotype import Genotype
from nas.search.alphagan import AlphaGAN
from nas.search.autogan import AutoGAN
from nas.search.random_search import RandomSearch
from test_nas_search_alphagan import FakeData, make_nets
from test_nas_search_recorded import RUNS, output_reward, run_search

#----------------------------------------------------------------------------
# Tiny supernets at 16 x 16 and the generators they derive.

SG2_CHANNELS = dict(channel_base=64, channel_max=8, num_mapping_layers=2)

def supernet(kind, mode='macro_dynw'):
    torch.manual_seed(0)
    if kind == 'conventional':
        return dnnlib.util.construct_class_by_name(class_name='nas.space.supernet_conventional.SupernetGenerator',
                                                   z_dim=8, g_channels=4, img_resolution=16)
    return dnnlib.util.construct_class_by_name(class_name='nas.space.supernet_stylegan2.SupernetGenerator', z_dim=8,
        w_dim=8, img_resolution=16, mode=mode, mapping_kwargs=dict(num_layers=2),
        synthesis_kwargs=dict(channel_base=64, channel_max=8, num_fp16_res=0, conv_clamp=None))

@torch.no_grad()
def set_one_hot(G, indices, scale=1000):
    """Alphas whose softmax is exactly one-hot at `indices` (exp(-1000) is 0 in float32)."""
    start = 0
    for p in G.arch_parameters():
        rows = torch.as_tensor(indices[start:start + p.shape[0]])
        p.copy_(scale * torch.nn.functional.one_hot(rows, p.shape[1]))
        start += p.shape[0]

def built_cost(genotype):
    return cost.count_generator(backbones.get(genotype.backbone).build_generator(genotype))

#----------------------------------------------------------------------------

def test_parse_amount():
    assert [parse_amount(s) for s in ['12345', '250k', '3M', '1.5G', ' 2.5 m']] == \
        [12345, 250_000, 3_000_000, 1_500_000_000, 2_500_000]
    for bad in ['', 'abc', '3T', '0', '-1M']:
        with pytest.raises(UserError, match='positive count'):
            parse_amount(bad)

class HandCounted(torch.nn.Module):
    """Linear, conv, transposed conv and depthwise conv with hand-countable costs."""
    z_dim, c_dim = 4, 0

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2 * 3 * 3)
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.up = torch.nn.ConvTranspose2d(3, 3, 2, stride=2)
        self.dw = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)

    def forward(self, z, c, noise_mode='const'):
        x = self.conv(torch.relu(self.fc(z).reshape(-1, 2, 3, 3)))
        return self.dw(self.up(x))

def test_count_equals_a_hand_count():
    # MACs: fc 4 x 18; conv 3x3 outputs x 3 channels x (2 x 3 x 3); transposed conv 3x3 inputs x 3 x 3 x (2 x 2);
    # depthwise 6x6 outputs x 3 channels x 3 x 3. FLOPs are MACs.
    macs = 4 * 18 + 9 * 3 * 18 + 9 * 3 * 3 * 4 + 36 * 3 * 9
    params = (4 * 18 + 18) + (2 * 3 * 9 + 3) + (3 * 3 * 4 + 3) + 3 * 9
    assert cost.count_generator(HandCounted()) == dict(params=params, flops=macs)

@pytest.mark.parametrize('name, published, tolerance', [('autogan_cifar10', 1.77, 0.01), ('alphagan_l_cifar10', 2.78, 0.07)])
def test_flops_are_the_macs_the_papers_publish(name, published, tolerance):
    # alphaGAN Table 2, FLOPs (G) of the CIFAR-10 generators: AutoGAN 1.77, alphaGAN_(l) 2.78 (a count that also
    # takes some element-wise work, 2 x MACs would be 3.5 and 5.4).
    genotype = Genotype.from_json(os.path.join(os.path.dirname(cost.__file__), 'genotypes', f'{name}.json'))
    assert cost.genotype_cost(genotype)['flops'] / 1e9 == pytest.approx(published, abs=tolerance)

def test_conditional_cost_counts_the_class_embedding():
    genotype = backbones.get('conventional').genotype_from_choices([0] * 18, resolution=16, channels=dict(g_channels=4))
    plain, conditional = cost.genotype_cost(genotype), cost.genotype_cost(genotype, c_dim=10)
    assert conditional['params'] - plain['params'] == 10 * 128 # bias-free Linear(c -> z), z_dim 128
    assert conditional['flops'] - plain['flops'] == 10 * 128

@pytest.mark.parametrize('kind', ['conventional', 'stylegan2'])
def test_expected_cost_is_differentiable_and_exact_at_one_hot(kind):
    G = supernet(kind)
    model = cost.supernet_cost_model(G)
    expected = model.expected(cost.supernet_probs(G))
    grads = torch.autograd.grad(expected['params'] + expected['flops'], G.arch_parameters(), allow_unused=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0 # the first op alphas: normal ops differ in cost
    rng = np.random.default_rng(1)
    for _ in range(3):
        indices = [int(rng.integers(n)) for n in model.sizes]
        set_one_hot(G, indices)
        expected = model.expected(cost.supernet_probs(G))
        exact = built_cost(G.derive())
        assert {m: v.item() for m, v in expected.items()} == exact
        assert model.cost(indices) == exact

def test_autogan_cost_model_is_a_lower_bound_with_exact_cheapest():
    model = cost.space_cost_model('autogan', 16, channels=dict(g_channels=4))
    rng = np.random.default_rng(0)
    samples = [[int(rng.integers(n)) for n in model.sizes] for _ in range(20)]
    for indices in samples:
        exact = model.exact(indices)
        assert all(model.cost(indices)[m] <= exact[m] for m in cost.METRICS)
    for metric in cost.METRICS:
        cheapest = model.cheapest(metric)
        assert cheapest == [0] * len(model.sizes)
        assert all(model.exact(cheapest)[metric] <= model.exact(indices)[metric] for indices in samples)

#----------------------------------------------------------------------------
# alphaGAN.

def test_penalty_moves_alphas_to_cheaper_ops():
    model = cost.supernet_cost_model(make_nets(0)[0])
    tight = model.exact(model.cheapest('flops'))['flops']
    flops = []
    for budget in [dict(), dict(max_flops=tight)]:
        G, D = make_nets(0)
        AlphaGAN(G, D, 'cpu', T=1, S=3, R=1, arch_lr=0.05, **budget).step(0, FakeData(0))
        flops.append(model.expected(cost.supernet_probs(G))['flops'].item())
    assert flops[1] < flops[0]

@pytest.mark.parametrize('kind', ['conventional', 'stylegan2'])
def test_alphagan_derives_the_best_architecture_within_budget(kind):
    G = supernet(kind, mode='macro')
    model = cost.supernet_cost_model(G)
    priciest = [int(t.argmax()) for t in model.table['params']]
    set_one_hot(G, priciest, scale=1)
    cheapest = model.exact(model.cheapest('params'))['params']
    limit = (cheapest + model.exact(priciest)['params']) // 2
    alg = AlphaGAN(G, torch.nn.Linear(1, 1), 'cpu', max_params=limit)
    found = alg.derive(method='alphagan')
    assert built_cost(G.derive())['params'] > limit >= built_cost(found)['params']
    assert found.provenance['alphas'] == G.alphas_as_lists() and found.provenance['method'] == 'alphagan'
    # The repair only moves slots to cheaper ops, and each move is needed: with the alphas one-hot at the most
    # expensive ops, any op kept from the argmax is one the budget allows.
    scores = [row.log_softmax(dim=-1).tolist() for p in G.arch_parameters() for row in p.detach()]
    repaired = alg.budget.repair(model, priciest, scores)
    assert cost.derive_choices(G, repaired, method='alphagan').to_dict() == found.to_dict()
    moved = [i for i, (a, b) in enumerate(zip(priciest, repaired)) if a != b]
    assert moved and all(model.table['params'][i][repaired[i]] < model.table['params'][i][priciest[i]] for i in moved)

def test_alphagan_impossible_budget_is_an_error():
    with pytest.raises(UserError, match=r'--max-flops=1: the cheapest architecture of this space has [\d,]+ FLOPs'):
        AlphaGAN(supernet('conventional'), torch.nn.Linear(1, 1), 'cpu', max_flops=1)

#----------------------------------------------------------------------------
# Random search and AutoGAN.

SPACES = {
    'conventional': dict(G=lambda: supernet('conventional'), genotype_channels=dict(g_channels=4)),
    'autogan': dict(G=lambda: dnnlib.util.construct_class_by_name(class_name='nas.space.autogan_space.SharedGenerator',
                    z_dim=8, g_channels=4, img_resolution=16), genotype_channels=dict(g_channels=4)),
    'stylegan2': dict(G=lambda: supernet('stylegan2'), genotype_channels=SG2_CHANNELS, mode='micro_dynw'),
}

def random_search(space, **budget):
    spec = SPACES[space]
    return RandomSearch(spec['G'](), torch.nn.Linear(1, 1), 'cpu', space=space, num_samples=8, mode=spec.get('mode'),
                        genotype_channels=spec['genotype_channels'], reward=output_reward, **budget)

@pytest.mark.parametrize('space', list(SPACES))
def test_random_search_draws_only_candidates_within_budget(space):
    free = [built_cost(g)['params'] for g in random_search(space).genotypes]
    limit = int(np.median(free))
    assert max(free) > limit
    budgeted = random_search(space, max_params=limit).genotypes
    assert len(budgeted) == 8 and all(built_cost(g)['params'] <= limit for g in budgeted)
    with pytest.raises(UserError, match='--max-params=10: the cheapest architecture'):
        random_search(space, max_params=10)

def test_autogan_penalises_over_budget_children_and_derives_within_budget():
    G = SPACES['autogan']['G']()
    D = dnnlib.util.construct_class_by_name(class_name='training.networks_conventional.Discriminator',
                                            img_resolution=16, d_channels=4)
    cheapest = cost.space_cost_model('autogan', 16, channels=dict(g_channels=4)).exact([0] * 14)
    calls = []
    def reward(G):
        calls.append(G.sample)
        return 1.0
    alg = AutoGAN(G, D, 'cpu', num_iters=2, grow_iters=[], hidden_size=8, derived_channels=4, reward=reward,
                  max_params=cheapest['params'])
    assert alg.child_reward([(1, 1, 2, 1)]) == 0 and not calls # batch norm, deconv, shortcut: over budget, not scored
    assert alg.child_reward([(1, 0, 0, 0)]) == 1 and calls      # pre-activation costs the same as post
    alg.found = [([(1, 1, 2, 1), (0, 1, 2, 1, 1), (0, 1, 2, 1, 3)], 5.0)] # a best child over budget
    assert built_cost(alg.derive())['params'] <= cheapest['params']
    with pytest.raises(UserError, match='--max-params=10: the cheapest architecture'):
        AutoGAN(SPACES['autogan']['G'](), D, 'cpu', num_iters=2, grow_iters=[], derived_channels=4, max_params=10)

#----------------------------------------------------------------------------
# The search loop and the CLI: found.json records the exact cost; budgets of every method hold end to end.

@pytest.fixture(scope='module')
def images(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp('data') / 'tiny', 8, 16)

def space_model(name):
    kwargs = RUNS[name]['algorithm_kwargs']
    if name.startswith('alphagan'):
        G = dnnlib.util.construct_class_by_name(**RUNS[name]['G_kwargs'], img_resolution=16)
        return cost.supernet_cost_model(G), {}
    if name.startswith('autogan'):
        return cost.space_cost_model('autogan', 16, channels=dict(g_channels=4)), dict(derived_channels=4)
    channels = kwargs.get('genotype_channels', dict(g_channels=4))
    return (cost.space_cost_model(kwargs['space'], 16, channels=channels, mode=kwargs.get('mode')),
            dict(genotype_channels=channels))

@pytest.mark.parametrize('name', list(RUNS))
def test_budgeted_search_finds_a_genotype_within_budget(name, images, tmp_path):
    model, extra_kwargs = space_model(name)
    limit = model.exact(model.cheapest('flops'))['flops'] # the tightest budget the space meets
    if name.startswith('random'): # uniform draws rarely hit the cheapest: the median of a few draws
        rng = np.random.default_rng(0)
        limit = int(np.median([model.exact([int(rng.integers(n)) for n in model.sizes])['flops'] for _ in range(9)]))
    algorithm_kwargs = dict(RUNS[name]['algorithm_kwargs'], **extra_kwargs, max_flops=limit)
    found = run_search(name, images, tmp_path, algorithm_kwargs=algorithm_kwargs)['found']
    with open(tmp_path / 'found.json', encoding='utf-8') as f:
        written = json.load(f)
    counted = built_cost(Genotype.from_dict(found))
    assert {m: written['provenance']['extra'][m] for m in cost.METRICS} == counted
    assert counted['flops'] <= limit
    with open(tmp_path / 'search_options.json', 'w', encoding='utf-8') as f: # as search.py writes it
        json.dump(dict(algorithm_kwargs=algorithm_kwargs, num_iters=2), f)
    with open(report.write_report(str(tmp_path)), encoding='utf-8') as f:
        page = f.read()
    assert f'--max-flops={limit:,}' in page and f'G: {cost.describe(counted)}' in page

def test_found_json_records_the_cost_without_a_budget(images, tmp_path):
    found = run_search('alphagan/conventional', images, tmp_path)['found']
    with open(tmp_path / 'found.json', encoding='utf-8') as f:
        written = json.load(f)
    assert 'params' not in found['provenance']['extra'] # the returned genotype is the recorded one
    assert written['ops'] == found['ops']
    assert {m: written['provenance']['extra'][m] for m in cost.METRICS} == built_cost(Genotype.from_dict(found))

def test_cli_impossible_budget_is_one_line_error(images, tmp_path, capsys):
    args = [f'--outdir={tmp_path}', f'--data={images}', '--g-channels=4', '--d-channels=4', '--batch=4', '--T=1',
            '--S=1', '--R=1', '--workers=0', '--device=cpu']
    assert_one_line_error(run_inprocess(capsys, 'search.py', *args, '--max-params=1k'),
                          '--max-params=1,000: the cheapest architecture of this space has')
    assert_one_line_error(run_inprocess(capsys, 'search.py', *args, '--cost-weight=2'),
                          '--cost-weight: only with --max-params or --max-flops')
    assert not os.listdir(tmp_path)
    res = run_inprocess(capsys, 'search.py', *args, '--max-params=10M', '--cost-weight=2', '--dry-run')
    assert res.returncode == 0, res.stderr
    c = json.loads(res.stdout.split('Search options:')[1].split('\n\n')[0])
    assert (c['algorithm_kwargs']['max_params'], c['algorithm_kwargs']['max_flops']) == (10_000_000, None)
    assert c['algorithm_kwargs']['cost_weight'] == 2

#----------------------------------------------------------------------------
