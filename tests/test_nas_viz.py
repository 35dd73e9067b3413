"""nas.viz: alphas.png, architecture.png and curve plots are written as PNGs of the expected layout."""

import os

import PIL.Image
import pytest

from nas import viz
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

@pytest.mark.parametrize('name', ['alphagan_s_cifar10.json', 'stylegan2_default.json'])
def test_plot_architecture_of_published_genotypes(tmp_path, name):
    path = os.path.join(ROOT, 'nas', 'genotypes', name)
    if not os.path.isfile(path):
        pytest.skip(f'{name} not present')
    viz.plot_architecture(Genotype.from_json(path), tmp_path / 'arch.png')
    img = PIL.Image.open(tmp_path / 'arch.png')
    assert img.format == 'PNG' and img.size[0] > 100
    if name.startswith('alphagan'):
        assert img.size[0] == int(3.2 * 3 * 80) # one panel per cell
        panels = viz._conventional_lines(Genotype.from_json(path))
        assert [title for title, _ in panels] == ['cell1', 'cell2', 'cell3']
        assert 'skip from cell1: deconv' in panels[2][1] # alphaGAN_(s) cell3 (authors' genotype)

def test_plot_curve(tmp_path):
    viz.plot_curve([1, 2, 3], [0.5, 0.2, 0.1], tmp_path / 'gap.png', ylabel='duality gap')
    assert PIL.Image.open(tmp_path / 'gap.png').size == (400, 240)

#----------------------------------------------------------------------------
