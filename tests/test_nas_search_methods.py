"""nas/search/methods.py: the built-in methods in --method's order, and a new method defined in this file, registered
and run through search.py's config path and search loop (its options, defaults, run name, statistics, result)."""

import json
import os

import pytest
import torch

import dnnlib
from nas.genotype import Genotype
from nas.search import methods
from nas.search.base import SearchAlgorithm, d_step

from cli_helpers import assert_one_line_error, make_images, run_inprocess

#----------------------------------------------------------------------------
# A toy method: D steps only against the supernet (the shared GAN weight step), alphas nudged by a fixed amount
# towards the op listed first per edge, so its result is known: the first op of every edge.

class NudgeSearch(SearchAlgorithm):
    def __init__(self, G, D, device, nudge=1.0):
        super().__init__(G, D, device)
        self.nudge = nudge
        self.D_opt = torch.optim.Adam(D.parameters(), lr=1e-3)

    def step(self, iteration, data):
        real_img, real_c = data.train()
        loss = d_step(self.G, self.D, self.D_opt, real_img, real_c, torch.randn([real_img.shape[0], self.G.z_dim]))
        with torch.no_grad():
            for alpha in self.G.arch_parameters():
                alpha[:, 0] += self.nudge
        return {'Loss/D': loss, 'Search/nudged': self.nudge * (iteration + 1)}

    def state_dict(self):
        return dict(G=self.G.state_dict(), D=self.D.state_dict(), D_opt=self.D_opt.state_dict())

    def load_state_dict(self, state):
        self.G.load_state_dict(state['G'])
        self.D.load_state_dict(state['D'])
        self.D_opt.load_state_dict(state['D_opt'])

def configure_nudge(opts, c):
    c.algorithm_kwargs = dnnlib.EasyDict(class_name=f'{__name__}.NudgeSearch', nudge=opts.lr * 1e4)
    return 'nudge-'

@pytest.fixture
def nudge_method(monkeypatch):
    monkeypatch.setattr(methods, '_methods', {name: methods.get(name) for name in methods.names()})
    methods.register('nudge', backbones=['conventional'], iters=3, describe=lambda *args: ['Nudge:  first ops'],
                     options=['train_steps'])(configure_nudge)

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp('data') / 'd16', 6, 16)

ARGS = ['--g-channels=4', '--d-channels=4', '--batch=2', '--workers=0', '--device=cpu']

#----------------------------------------------------------------------------

def test_builtin_methods_in_order():
    assert methods.names()[:3] == ['alphagan', 'autogan', 'random']
    assert methods.option_methods('reward') == ['autogan', 'random']
    assert methods.option_methods('lr') == methods.names()
    with pytest.raises(dnnlib.util.UserError, match='--method=nope: no such method'):
        methods.get('nope')

def test_registered_method_runs_through_search_py(nudge_method, data, tmp_path, capsys):
    assert methods.names()[-1] == 'nudge'
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path}', f'--data={data}', '--method=nudge', '--lr=1e-4',
                        '--dry-run', *ARGS)
    assert res.returncode == 0, res.stderr
    assert 'Nudge:  first ops' in res.stdout and not os.listdir(tmp_path)
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path}', f'--data={data}', '--method=nudge', '--lr=1e-4',
                        *ARGS)
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / '00000-d16-conventional-nudge-nudge-batch2' # the run name part configure returned
    with open(run_dir / 'search_options.json') as f:
        c = json.load(f)
    assert c['num_iters'] == 3 and c['algorithm_kwargs']['nudge'] == pytest.approx(1.0)
    assert c['G_kwargs']['class_name'] == 'nas.space.supernet_conventional.SupernetGenerator' # the backbone's
    assert c['val_fraction'] == pytest.approx(1 / 6) # no validation share asked for: one image held out
    with open(run_dir / 'stats.jsonl') as f:
        stats = [json.loads(line) for line in f]
    assert [s['Search/nudged'] for s in stats] == pytest.approx([1, 2, 3])
    found = Genotype.from_json(run_dir / 'found.json')
    assert found.provenance['method'] == 'nudge' and found.provenance['iteration'] == 3
    for cell_ops in found.ops.values():
        assert [cell_ops[edge] for edge in ['up0', 'up1', 'n0', 'n1', 'n2']] == ['deconv'] * 2 + ['conv_1x1'] * 3
        assert set(cell_ops['skip'].values()) <= {'deconv'}

def test_registered_method_options_are_checked(nudge_method, data, tmp_path, capsys):
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path}', f'--data={data}', '--method=nudge', '--T=2',
                        '--dry-run', *ARGS)
    assert_one_line_error(res, '--T: only for --method=alphagan, not --method=nudge')
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path}', f'--data={data}', '--train-steps=2', '--dry-run',
                        *ARGS)
    assert_one_line_error(res, '--train-steps: only for --method=random or nudge, not --method=alphagan')

#----------------------------------------------------------------------------
