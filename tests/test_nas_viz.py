"""nas.viz: alphas.png, architecture.png, curve and reward plots are written as PNGs of the expected layout."""

import os

import PIL.Image
import pytest

from nas import backbones, viz
from nas.genotype import Genotype

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

@pytest.mark.parametrize('name', ['alphagan_s_cifar10.json', 'stylegan2_default.json'])
def test_plot_architecture_of_published_genotypes(tmp_path, name):
    path = os.path.join(ROOT, 'nas', 'genotypes', name)
    if not os.path.isfile(path):
        pytest.skip(f'{name} not present')
    viz.plot_architecture(Genotype.from_json(path), tmp_path / 'arch.png')
    img = PIL.Image.open(tmp_path / 'arch.png')
    assert img.format == 'PNG' and img.size[0] > 100
    if name.startswith('alphagan'):
        assert img.size[0] == int(1.6 * 10 * 80) # a cell graph: input and three cells of 3 x-steps each
        panels = backbones.get('conventional').architecture_panels(Genotype.from_json(path))
        assert [title for title, _ in panels] == ['cell1', 'cell2', 'cell3']
        assert 'skip from cell1: deconv' in panels[2][1] # alphaGAN_(s) cell3 (authors' genotype)
        nodes, edges = backbones.get('conventional').cell_graph(Genotype.from_json(path))
        assert len(nodes) == 1 + 3 * 4 and len(edges) == 3 * 5 + 3 # 5 edges per cell, skips 1->2, 1->3, 2->3
        assert ('c1.node1', 'c3.out', 'deconv') in edges and ('c2.out', 'c3.node1', 'deconv') in edges
        assert all(source in nodes and target in nodes for source, target, _op in edges)

def test_plot_architecture_of_the_autogan_genotype(tmp_path):
    genotype = Genotype.from_json(os.path.join(ROOT, 'nas', 'genotypes', 'autogan_cifar10.json'))
    viz.plot_architecture(genotype, tmp_path / 'arch.png')
    assert PIL.Image.open(tmp_path / 'arch.png').size[0] == int(3.2 * 3 * 80) # one panel per cell
    panels = dict(backbones.get('autogan').architecture_panels(genotype))
    # Gong et al. 2019, Fig. 3: cell3 is pre-activation, no norm, nearest, no shortcut, skip-ins from cells 1 and 2.
    assert panels['cell3'] == ['block: pre-activation', 'norm: none', 'up: nearest', 'shortcut: off',
                               'skip-in: cell1, cell2']
    assert panels['cell1'][-2:] == ['shortcut: on', 'skip-in: none']

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
