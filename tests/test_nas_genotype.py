"""nas/genotype.py: the genotype JSON format, its round trips and one-line validation errors."""

import copy
import json
import os

import pytest

from dnnlib.util import UserError
from nas.genotype import Genotype

GENOTYPE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'nas', 'genotypes')

def cell(up0, up1, n0, n1, n2, **skip):
    return dict(up0=up0, up1=up1, n0=n0, n1=n1, n2=n2, skip=skip)

# The published genotypes, restated from the authors' models/genotypes.py (see alphagan-reference.md).
ALPHAGAN_L = dict(
    cell1=cell('deconv', 'bilinear', 'conv_5x5', 'conv_5x5', 'sep_conv_5x5'),
    cell2=cell('deconv', 'bilinear', 'conv_5x5', 'conv_1x1', 'conv_3x3', cell1='nearest'),
    cell3=cell('nearest', 'bilinear', 'conv_1x1', 'conv_5x5', 'sep_conv_3x3', cell1='bilinear', cell2='nearest'))
ALPHAGAN_S = dict(
    cell1=cell('bilinear', 'deconv', 'conv_1x1', 'sep_conv_3x3', 'conv_1x1'),
    cell2=cell('deconv', 'deconv', 'sep_conv_5x5', 'sep_conv_3x3', 'sep_conv_3x3', cell1='nearest'),
    cell3=cell('deconv', 'nearest', 'sep_conv_5x5', 'sep_conv_3x3', 'sep_conv_3x3', cell1='deconv', cell2='bilinear'))

def example():
    return dict(format_version=1, backbone='conventional', mode='cell', resolution=32, channels=dict(g_channels=256),
                ops=copy.deepcopy(ALPHAGAN_S), w_idx=None,
                provenance=dict(method='alphagan', data='cifar10', seed=3, iteration=42,
                                alphas={'normal_1': [[0.1, -0.2, 0.3, 0.0, 1e-3, 2.5]] * 3}, extra={'note': 'x'}))

#----------------------------------------------------------------------------

def test_dict_round_trip():
    g = Genotype.from_dict(example())
    assert g.to_dict() == example()
    assert Genotype.from_dict(g.to_dict()) == g

def test_json_round_trip(tmp_path):
    path = tmp_path / 'found.json'
    g = Genotype.from_dict(example())
    g.to_json(path)
    assert Genotype.from_json(path) == g
    assert json.loads(path.read_text()) == example()
    assert os.listdir(tmp_path) == ['found.json'] # atomic write left no temporary file

def test_json_keeps_number_rows_on_one_line(tmp_path):
    Genotype.from_dict(example()).to_json(tmp_path / 'g.json')
    text = (tmp_path / 'g.json').read_text()
    assert '[0.1, -0.2, 0.3, 0.0, 0.001, 2.5]' in text
    assert '"n0": "sep_conv_5x5"' in text

def test_missing_provenance_gets_defaults():
    d = example()
    del d['provenance'], d['w_idx']
    g = Genotype.from_dict(d)
    assert g.provenance == dict(method=None, data=None, seed=None, iteration=None, alphas=None, extra={})
    assert g.w_idx is None

def test_from_dict_does_not_share_state():
    d = example()
    g = Genotype.from_dict(d)
    d['ops']['cell1']['n0'] = 'conv_3x3'
    assert g.ops['cell1']['n0'] == 'conv_1x1'
    g.to_dict()['ops']['cell1']['n0'] = 'conv_5x5'
    assert g.ops['cell1']['n0'] == 'conv_1x1'

@pytest.mark.parametrize('name,ops', [('alphagan_l_cifar10', ALPHAGAN_L), ('alphagan_s_cifar10', ALPHAGAN_S)])
def test_published_genotype_files(name, ops):
    g = Genotype.from_json(os.path.join(GENOTYPE_DIR, f'{name}.json'), backbone='conventional')
    assert g.ops == ops
    assert (g.resolution, g.channels['g_channels'], g.mode) == (32, 256, 'cell')

def test_sngan_baseline_file():
    g = Genotype.from_json(os.path.join(GENOTYPE_DIR, 'sngan_baseline.json'), backbone='autogan')
    for name in ['cell1', 'cell2', 'cell3']:
        c = g.ops[name]
        assert (c['conv'], c['norm'], c['up'], c['shortcut']) == ('pre', 'batch', 'nearest', True)
        assert not any(c['skip'].values())
    assert (g.resolution, g.channels['g_channels']) == (32, 256)

#----------------------------------------------------------------------------
# Every validation error: one line, naming the file and the field.

def _set(path, value):
    def edit(d):
        *parents, last = path
        for key in parents:
            d = d[key]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value
    return edit

_DELETE = object()

NORMAL_CHOICES = 'conv_1x1, conv_3x3, conv_5x5, sep_conv_3x3, sep_conv_5x5, sep_conv_7x7'
UP_CHOICES = 'deconv, nearest, bilinear, nearest_conv_1x1, bilinear_conv_1x1'

ERROR_CASES = [
    (_set(['ops', 'cell2', 'n0'], 'conv_9x9'), f"found.json: ops.cell2.n0: unknown op 'conv_9x9' (choose from {NORMAL_CHOICES})"),
    (_set(['ops', 'cell1', 'up1'], 'conv_3x3'), f"found.json: ops.cell1.up1: unknown op 'conv_3x3' (choose from {UP_CHOICES})"),
    (_set(['ops', 'cell3', 'skip', 'cell1'], 'sep_conv_3x3'), f"found.json: ops.cell3.skip.cell1: unknown op 'sep_conv_3x3' (choose from {UP_CHOICES})"),
    (_set(['ops', 'cell1', 'n1'], 3), 'found.json: ops.cell1.n1: expected an op name, got 3'),
    (_set(['ops', 'cell3'], _DELETE), "found.json: ops: missing field 'cell3'"),
    (_set(['ops', 'cell4'], cell('deconv', 'deconv', 'conv_1x1', 'conv_1x1', 'conv_1x1')), "found.json: ops: unknown field 'cell4' (expected cell1, cell2, cell3)"),
    (_set(['ops', 'cell1', 'n2'], _DELETE), "found.json: ops.cell1: missing field 'n2'"),
    (_set(['ops', 'cell1', 'n3'], 'conv_1x1'), "found.json: ops.cell1: unknown field 'n3' (expected up0, up1, n0, n1, n2, skip)"),
    (_set(['ops', 'cell3', 'skip'], {'cell1': 'deconv'}), "found.json: ops.cell3.skip: missing field 'cell2'"),
    (_set(['ops', 'cell2', 'skip', 'cell2'], 'deconv'), "found.json: ops.cell2.skip: unknown field 'cell2' (expected cell1)"),
    (_set(['ops'], ['deconv']), 'found.json: ops: expected a JSON object, got ["deconv"]'),
    (_set(['backbone'], 'stylegan9'), "found.json: backbone: unknown backbone 'stylegan9' (choose from conventional, stylegan2, autogan)"),
    (_set(['mode'], 'macro'), "found.json: mode: unknown mode 'macro' for backbone 'conventional' (choose from cell)"),
    (_set(['format_version'], 2), 'found.json: format_version: unsupported version 2 (this ganas reads 1)'),
    (_set(['format_version'], True), 'found.json: format_version: unsupported version true (this ganas reads 1)'),
    (_set(['format_version'], _DELETE), "found.json: missing field 'format_version'"),
    (_set(['ops'], _DELETE), "found.json: missing field 'ops'"),
    (_set(['opz'], {}), "found.json: unknown field 'opz' (expected format_version, backbone, mode, resolution, channels, ops, w_idx, provenance)"),
    (_set(['resolution'], 30), 'found.json: resolution: 30 is not a multiple of 8 (three x2 cells on a square bottom map)'),
    (_set(['resolution'], '32'), 'found.json: resolution: expected an integer, got "32"'),
    (_set(['resolution'], 0), 'found.json: resolution: 0 is below 1'),
    (_set(['channels'], {}), "found.json: channels: missing field 'g_channels'"),
    (_set(['channels', 'g_channels'], -4), 'found.json: channels.g_channels: -4 is below 1'),
    (_set(['channels', 'width'], 4), "found.json: channels: unknown field 'width' (expected g_channels, d_channels)"),
    (_set(['w_idx'], [7, 7]), 'found.json: w_idx: the conventional backbone has no W choice, expected null, got [7, 7]'),
    (_set(['provenance', 'seed'], 'abc'), 'found.json: provenance.seed: expected an integer, got "abc"'),
    (_set(['provenance', 'method'], 5), 'found.json: provenance.method: expected a string or null, got 5'),
    (_set(['provenance', 'alphas', 'up_1'], [[0.1, 'x']]), 'found.json: provenance.alphas.up_1: expected nested lists of numbers, got [[0.1, "x"]]'),
    (_set(['provenance', 'alphas'], [1.0]), 'found.json: provenance.alphas: expected an object of nested number lists, got [1.0]'),
    (_set(['provenance', 'extra'], None), 'found.json: provenance.extra: expected a JSON object, got null'),
    (_set(['provenance', 'when'], 'today'), "found.json: provenance: unknown field 'when' (expected method, data, seed, iteration, alphas, extra)"),
]

@pytest.mark.parametrize('edit,message', ERROR_CASES, ids=[m.split(': ', 1)[1][:40] for _e, m in ERROR_CASES])
def test_validation_errors(tmp_path, monkeypatch, edit, message):
    d = example()
    edit(d)
    path = tmp_path / 'found.json'
    path.write_text(json.dumps(d))
    monkeypatch.chdir(tmp_path) # the message names the path as given
    with pytest.raises(UserError) as err:
        Genotype.from_json('found.json')
    assert str(err.value) == message
    assert '\n' not in str(err.value)

def test_not_json(tmp_path):
    path = tmp_path / 'found.json'
    path.write_text('{"format_version": 1,')
    with pytest.raises(UserError, match=r'^.*found\.json: not valid JSON \(Expecting property name enclosed in double quotes at line 1 column 22\)$'):
        Genotype.from_json(path)

def test_top_level_not_an_object(tmp_path):
    path = tmp_path / 'found.json'
    path.write_text('[1, 2]')
    with pytest.raises(UserError, match=r'found\.json: expected a JSON object at the top level, got \[1, 2\]$'):
        Genotype.from_json(path)

def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r'nothere\.json: no such file$'):
        Genotype.from_json(tmp_path / 'nothere.json')

def test_wrong_backbone_for_caller(tmp_path):
    Genotype.from_dict(example()).to_json(tmp_path / 'found.json')
    with pytest.raises(UserError, match=r"found\.json: backbone: expected 'stylegan2', got 'conventional'$"):
        Genotype.from_json(tmp_path / 'found.json', backbone='stylegan2')

def test_to_json_refuses_invalid(tmp_path):
    g = Genotype.from_dict(example())
    g.ops['cell1']['n0'] = 'conv_2x2'
    with pytest.raises(UserError, match=r"out\.json: ops\.cell1\.n0: unknown op 'conv_2x2'"):
        g.to_json(tmp_path / 'out.json')
    assert not os.listdir(tmp_path)

def test_provenance_extra_must_be_json():
    g = Genotype.from_dict(example())
    g.provenance['extra'] = {'f': object()}
    with pytest.raises(UserError, match=r'^genotype: provenance.extra: not representable as JSON$'):
        g.validate()

#----------------------------------------------------------------------------
