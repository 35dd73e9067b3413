"""nas.viz: alphas.png, architecture.png, curve and reward plots are written as PNGs of the expected layout."""

import os

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import PIL.Image
import pytest

from nas import backbones, viz
from nas.genotype import Genotype, stylegan2_layer_ops
from nas.space import primitives

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#----------------------------------------------------------------------------

def test_plot_alphas_one_panel_per_edge(tmp_path):
    history = [{f'edge{i}': {'a': 0.2 + 0.01 * t, 'b': 0.8 - 0.01 * t} for i in range(8)} for t in range(5)]
    viz.plot_alphas(history, tmp_path / 'alphas.png', max_cols=4)
    viz.plot_alphas(history[:1], tmp_path / 'one.png', max_cols=4)
    wide = PIL.Image.open(tmp_path / 'alphas.png')
    assert wide.format == 'PNG'
    # 8 panels in 4 columns x 2 rows at figsize (2.6 * cols, 2.0 * rows) inches, 80 dpi.
    assert wide.size == (int(2.6 * 4 * 80), int(2.0 * 2 * 80))
    assert not [name for name in os.listdir(tmp_path) if name not in ('alphas.png', 'one.png')] # atomic: no leftovers
    viz.plot_alphas([{}, {}], tmp_path / 'none.png') # random search: no op weights, no file
    assert not os.path.exists(tmp_path / 'none.png')

# architecture.png of each backbone: a PNG whose text holds every op and W choice of the genotype, on a graph whose
# edges join the nodes they name.

def figure_texts(genotype):
    fig = viz.architecture_figure(genotype)
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    plt.close(fig)
    return texts

def check_graph(graph):
    assert all(e.source in graph.nodes and e.target in graph.nodes for e in graph.edges)
    assert all(e.style in ('op', 'skip', 'w') and e.route in ('straight', 'above', 'below') for e in graph.edges)

def test_architecture_of_a_conventional_genotype(tmp_path):
    genotype = Genotype.from_json(os.path.join(ROOT, 'nas', 'genotypes', 'alphagan_s_cifar10.json'))
    viz.plot_architecture(genotype, tmp_path / 'arch.png')
    img = PIL.Image.open(tmp_path / 'arch.png')
    assert img.format == 'PNG' and img.size[0] == int(1.6 * 10 * 80) # input and three cells of 3 x-units each
    graph = backbones.get('conventional').architecture_graph(genotype)
    check_graph(graph)
    assert len(graph.nodes) == 1 + 3 * 4 and len(graph.edges) == 3 * 5 + 3 # 5 edges per cell, skips 1->2, 1->3, 2->3
    edges = {(e.source, e.target): (e.label, e.style) for e in graph.edges}
    assert edges[('c1.node1', 'c3.out')] == ('deconv', 'skip') # alphaGAN_(s) cell3 (authors' genotype)
    assert edges[('c2.out', 'c3.node1')] == ('deconv', 'op')
    texts = figure_texts(genotype)
    for cell, ops in genotype.ops.items():
        for edge in ('up0', 'up1', 'n0', 'n1', 'n2'):
            assert ops[edge] in texts
    assert texts.count('deconv') == sum(list(ops.values()).count('deconv') + list(ops['skip'].values()).count('deconv')
                                        for ops in genotype.ops.values())

@pytest.mark.parametrize('name', ['autogan_cifar10', 'sampled'])
def test_architecture_of_an_autogan_genotype(tmp_path, name):
    if name == 'sampled': # post-activation with norms somewhere
        genotype = backbones.get('autogan').sample_genotype(np.random.default_rng(3), resolution=32)
        assert any(ops['conv'] == 'post' and ops['norm'] != 'none' for ops in genotype.ops.values())
    else:
        genotype = Genotype.from_json(os.path.join(ROOT, 'nas', 'genotypes', f'{name}.json'))
    viz.plot_architecture(genotype, tmp_path / 'arch.png')
    assert PIL.Image.open(tmp_path / 'arch.png').format == 'PNG'
    graph = backbones.get('autogan').architecture_graph(genotype)
    check_graph(graph)
    texts = figure_texts(genotype)
    blocks = [t for t in texts if t.startswith(('pre-activation', 'post-activation'))]
    assert len(blocks) == 6 # two conv blocks per cell
    for i, (cell, ops) in enumerate(genotype.ops.items()):
        first, second = blocks[2 * i: 2 * i + 2]
        assert first.startswith(f'{ops["conv"]}-activation') and f'{ops["up"]} x2' in first
        assert second.startswith(f'{ops["conv"]}-activation') and ops['up'] not in second
        norm = {'none': 'ReLU', 'batch': 'batch norm', 'instance': 'instance norm'}[ops['norm']]
        assert norm in first and norm in second
        shortcut = [e.label for e in graph.edges if e.route == 'below' and e.target == f'c{i + 1}.out']
        assert shortcut == ([f'shortcut: {ops["up"]} x2, conv1x1'] if ops['shortcut'] else [])
        skip_ins = {e.source: e.label for e in graph.edges if e.route == 'above' and e.target == f'c{i + 1}.h'}
        assert skip_ins == {f'c{j + 1}.h': f'skip-in from {src}: {ops["up"]} x{2 ** (i - j)}, conv1x1'
                            for j, (src, on) in enumerate(ops['skip'].items()) if on}
        assert all(label in texts for label in shortcut + list(skip_ins.values()))
    if name == 'autogan_cifar10': # Gong et al. 2019, Fig. 3: cell3 takes skip-ins from cells 1 and 2, no shortcut
        skips = {(e.source, e.target) for e in graph.edges if e.style == 'skip'}
        assert skips == {('c0.out', 'c1.out'), ('c1.out', 'c2.out'), ('c1.h', 'c2.h'), ('c1.h', 'c3.h'), ('c2.h', 'c3.h')}

@pytest.mark.parametrize('mode', ['micro_dynw', 'macro_dynw', 'macro', 'default'])
def test_architecture_of_a_stylegan2_genotype(tmp_path, mode):
    if mode == 'default':
        genotype = Genotype.from_json(os.path.join(ROOT, 'nas', 'genotypes', 'stylegan2_default.json'))
    else:
        genotype = backbones.get('stylegan2').sample_genotype(np.random.default_rng(0), resolution=32, mode=mode)
    viz.plot_architecture(genotype, tmp_path / 'arch.png')
    assert PIL.Image.open(tmp_path / 'arch.png').format == 'PNG'
    graph = backbones.get('stylegan2').architecture_graph(genotype)
    check_graph(graph)
    layers = primitives.stylegan2_layers(genotype.resolution)
    ops = stylegan2_layer_ops(genotype, genotype.resolution)
    w_idx = genotype.w_idx or [8] * (len(layers) + 1) # StyleGAN2: every layer reads W_8
    texts = figure_texts(genotype)
    for (layer, _kind), op, w in zip(layers, ops, w_idx):
        assert f'{layer}  {op}  (W{w})' in texts
    assert f'toRGB  (W{w_idx[-1]})' in texts
    readers = [(e.source, e.target) for e in graph.edges if e.style == 'w']
    assert readers == [(f'W{w}', name) for name, w in zip([n for n, _k in layers] + [f'b{genotype.resolution}.torgb'],
                                                           w_idx)]
    assert [f'{r}x{r}' for r in [4, 8, 16, 32]] == [g.label for g in graph.groups][:4]

def test_plot_reward_curves(tmp_path):
    autogan = {'Search/reward': [(1, 0.1), (2, 0.3)], 'Search/baseline': [(1, 0.1), (2, 0.12)],
               'Search/entropy': [(1, 4.2), (2, 4.1)]}
    assert viz.plot_reward_curves(autogan, tmp_path / 'autogan.png')
    assert PIL.Image.open(tmp_path / 'autogan.png').size == (800, 240) # reward + entropy panels, 5 x 3 in each
    random = {'Search/reward': [(1, 0.1), (2, 0.05)], 'Search/best_reward': [(1, 0.1), (2, 0.1)]}
    assert viz.plot_reward_curves(random, tmp_path / 'random.png')
    assert PIL.Image.open(tmp_path / 'random.png').size == (400, 240) # no controller, no entropy panel
    assert not viz.plot_reward_curves({'Search/entropy': [(1, 4.0)]}, tmp_path / 'none.png') # alphaGAN: no reward
    assert viz.plot_reward_curves(autogan, tmp_path / 'named.png', reward='fid', stages=(1,)) # y label 1 / FID
    assert PIL.Image.open(tmp_path / 'named.png').size == (800, 240)
    assert sorted(os.listdir(tmp_path)) == ['autogan.png', 'named.png', 'random.png']
    assert set(viz.CURVE_STATS) == {'Search/reward', 'Search/baseline', 'Search/best_reward', 'Search/entropy'}

def test_plot_curve(tmp_path):
    viz.plot_curve([1, 2, 3], [0.5, 0.2, 0.1], tmp_path / 'gap.png', ylabel='duality gap')
    assert PIL.Image.open(tmp_path / 'gap.png').size == (400, 240)

#----------------------------------------------------------------------------
