"""nas/space/primitives.py: op names, edge list and space sizes of alphaGAN's conventional space (Tian et al. 2022)."""

import itertools

import pytest

from nas.space import ops
from nas.space import primitives

#----------------------------------------------------------------------------

def test_space_size_matches_paper_formula():
    # Paper Sec. 4.2: (6^3 * 3^2)^3 * 3^3, "approximately 2 x 10^11".
    size = primitives.space_size('conventional')
    assert size == (6**3 * 3**2)**3 * 3**3 == 18**9
    assert 1.5e11 < size < 2.5e11

def test_space_size_of_ablation_op_sets():
    assert primitives.space_size('conventional', up_ops='no_deconv') == 6**9 * 2**9 # Table 6
    assert primitives.space_size('conventional', up_ops='learnable_interp') == 18**9 # Table 7

def test_edges_count_and_kinds():
    edges = primitives.conventional_edges()
    assert len(edges) == 18 and len(set(edges)) == 18
    assert sum(kind == 'normal' for _c, _e, kind in edges) == 9
    assert sum(kind == 'up' for _c, _e, kind in edges) == 9
    skips = [(c, e) for c, e, _k in edges if e.startswith('skip.')]
    assert skips == [('cell2', 'skip.cell1'), ('cell3', 'skip.cell1'), ('cell3', 'skip.cell2')]

def test_skip_steps():
    assert primitives.skip_steps('cell1', 'cell2') == 1
    assert primitives.skip_steps('cell1', 'cell3') == 2 # x4 = the x2 op twice
    assert primitives.skip_steps('cell2', 'cell3') == 1

def test_every_op_name_has_a_factory():
    sets = [*primitives.CONVENTIONAL_NORMAL_OP_SETS.values(), *primitives.CONVENTIONAL_UP_OP_SETS.values()]
    names = set(itertools.chain(*sets))
    assert names == set(ops.OPS)

def test_known_ops_is_union_of_variants():
    up = ('deconv', 'nearest', 'bilinear', 'nearest_conv_1x1', 'bilinear_conv_1x1')
    assert primitives.known_ops('conventional', 'up') == up
    assert primitives.known_ops('conventional', 'normal') == primitives.CONVENTIONAL_NORMAL_OPS

def test_conventional_cell_dataflow():
    # Symbolic run: strings record which edge saw which input (paper Fig. 2 wiring).
    apply = lambda edge, h: f'{edge}({h})'
    node1, out = primitives.conventional_cell('x', {'cell1': 's1', 'cell2': 's2'}, apply)
    assert node1 == 'up0(x)'
    assert out == 'n1(n0(up0(x)))n2(up1(x))skip.cell1(s1)skip.cell2(s2)'

def test_unknown_op_set_or_backbone():
    with pytest.raises(ValueError, match=r"unknown up op set 'no_bilinear' \(choose from default, no_deconv, learnable_interp\)"):
        primitives.candidates('conventional', 'up', 'no_bilinear')
    with pytest.raises(ValueError, match="unknown backbone 'nosuch'"):
        primitives.space_size('nosuch')

#----------------------------------------------------------------------------
