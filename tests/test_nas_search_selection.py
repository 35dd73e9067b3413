"""search.py --select-top=K --select-kimg=N (nas.search.selection): every method's top-K candidates re-trained from
scratch and the best by the metric kept; the record in found.json, K=1 against the recorded searches, resume, the
one-line errors, and one real run through train.py."""

import json
import os
import re

import numpy as np
import pytest
import torch

from cli_helpers import PoolDetector, assert_one_line_error, make_images, run_inprocess
from nas.genotype import Genotype
from nas.search import search_loop as sl
from nas.search import selection
from nas.search.reward import RewardEvaluator
from recorded import load
from test_nas_search_recorded import RECORDED, RUNS, run_search, search_config
from training import stylegan2_ada_import

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')

SELECT = dict(kimg=0.5, data='unused', train_args=['--batch=4'], seed=3, reward='fid', reward_samples=10)

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp('data') / 'tiny', 8, 16)

@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(sl, 'write_plots', lambda *args: None) # matplotlib time; the loop's own tests cover plots

class FakeRetraining:
    """Stands in for train.py and the metric: the 'snapshot' is the candidate's genotype file, and candidate N's
    reward is rewards[N - 1]. Records the candidates it trained; fail_at = the candidate whose training fails."""
    def __init__(self, monkeypatch, rewards, fail_at=None):
        self.rewards = rewards
        self.fail_at = fail_at
        self.trained = []
        monkeypatch.setattr(selection, 'train_candidate', self.train)
        monkeypatch.setattr(selection, 'score_network', self.score)

    def train(self, genotype_path, outdir, log_path, data, kimg, seed, device, train_args):
        number = int(re.search(r'candidate-(\d+)\.json$', genotype_path).group(1))
        if number == self.fail_at:
            raise KeyboardInterrupt # the run is stopped during this candidate's re-training
        self.trained.append(number)
        return genotype_path

    def score(self, evaluator, snapshot, device):
        return self.rewards[int(re.search(r'candidate-(\d+)\.json$', snapshot).group(1)) - 1]

def architecture(d):
    return {k: v for k, v in d.items() if k != 'provenance'}

#----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['random/conventional', 'autogan/autogan', 'alphagan/conventional'])
def test_top_one_is_the_searched_genotype(name, data, tmp_path, monkeypatch):
    fake = FakeRetraining(monkeypatch, rewards=[0.5])
    found = run_search(name, data, tmp_path / 'run', select_kwargs=dict(SELECT, top=1))['found']
    then = load(RECORDED)[name]['found']
    assert architecture(found) == architecture(then)
    extra = dict(found['provenance'].pop('extra'))
    selected = extra.pop('selection')
    assert dict(found['provenance'], extra=extra) == then['provenance'] # the search's own record kept as it was
    assert fake.trained == [1] and selected['picked'] == 0 and len(selected['candidates']) == 1
    assert selected['candidates'][0]['value'] == 2.0 # FID = 1 / reward

def test_picks_the_best_candidate_and_records_all(data, tmp_path, monkeypatch):
    FakeRetraining(monkeypatch, rewards=[0.25, 1.0, 0.5]) # FIDs 4, 1, 2: the second candidate is the best
    kwargs = dict(RUNS['random/conventional']['algorithm_kwargs'], num_samples=3)
    run_dir = tmp_path / 'run'
    found = run_search('random/conventional', data, run_dir, num_iters=3, algorithm_kwargs=kwargs,
                       select_kwargs=dict(SELECT, top=3))['found']
    with open(run_dir / 'selection.json') as f:
        record = json.load(f)
    ranked = sorted(range(3), key=lambda i: -record['candidates'][i]['search_score'])
    assert ranked == [0, 1, 2] # candidates in the search's order, its own pick first
    selected = found['provenance']['extra']['selection']
    assert selected['picked'] == record['picked'] == 1
    assert [c['value'] for c in selected['candidates']] == [4.0, 1.0, 2.0]
    assert (selected['metric'], selected['kimg'], selected['train_args']) == ('fid', 0.5, ['--batch=4'])
    second = Genotype.from_json(run_dir / 'select' / 'candidate-2.json').to_dict()
    assert architecture(found) == architecture(second)
    assert found['provenance']['extra']['candidate'] == int(selected['candidates'][1]['source'].split()[-1]) - 1
    written = Genotype.from_json(run_dir / 'found.json').to_dict()
    assert [written['provenance']['extra'].pop(name) > 0 for name in ['params', 'flops']] == [True, True] # its cost
    assert written == found

def test_resume_keeps_finished_candidates(data, tmp_path, monkeypatch):
    kwargs = dict(RUNS['random/conventional']['algorithm_kwargs'], num_samples=3)
    first = FakeRetraining(monkeypatch, rewards=[0.25, 1.0, 0.5], fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_search('random/conventional', data, tmp_path / 'run1', num_iters=3, algorithm_kwargs=kwargs,
                   select_kwargs=dict(SELECT, top=3))
    with open(tmp_path / 'run1' / 'selection.json') as f:
        assert len(json.load(f)['candidates']) == 2
    assert first.trained == [1, 2] and not os.path.exists(tmp_path / 'run1' / 'found.json')
    second = FakeRetraining(monkeypatch, rewards=[0.25, 1.0, 0.5])
    os.makedirs(tmp_path / 'run2')
    resume = str(tmp_path / 'run1' / 'search-state-000003.pt')
    found = sl.search_loop(**search_config('random/conventional', data, tmp_path / 'run2', num_iters=3,
                                           algorithm_kwargs=kwargs, resume=resume, select_kwargs=dict(SELECT, top=3)))
    assert second.trained == [3] # the two finished candidates are taken over
    selected = found.provenance['extra']['selection']
    assert [c['value'] for c in selected['candidates']] == [4.0, 1.0, 2.0] and selected['picked'] == 1
    # Another budget is another measurement: nothing is taken over.
    third = FakeRetraining(monkeypatch, rewards=[0.25, 1.0, 0.5])
    os.makedirs(tmp_path / 'run3')
    sl.search_loop(**search_config('random/conventional', data, tmp_path / 'run3', num_iters=3, algorithm_kwargs=kwargs,
                                   resume=resume, select_kwargs=dict(SELECT, top=3, kimg=1)))
    assert third.trained == [1, 2, 3]

def test_train_candidate_takes_the_newest_snapshot_of_its_own_run(tmp_path, monkeypatch):
    """A candidate re-trained again (its first try stopped) returns the snapshot of the run directory this call
    made, even where the stopped run got further; a run that writes no snapshot is a one-line error."""
    root = tmp_path / 'root'
    root.mkdir()
    (root / 'train.py').write_text(
        'import os, sys\n'
        'opts = dict(a[2:].split("=", 1) for a in sys.argv[1:])\n'
        'if opts["kimg"] == "0": sys.exit(0)\n'
        'run_dir = os.path.join(opts["outdir"], opts["seed"] + "-run")\n'
        'os.makedirs(run_dir)\n'
        'for kimg in range(int(opts["kimg"]) + 1):\n'
        '    open(os.path.join(run_dir, f"network-snapshot-{kimg:06d}.pkl"), "w").close()\n')
    monkeypatch.setattr(selection, 'ROOT', str(root))
    outdir = tmp_path / 'candidate-1'
    train = lambda kimg, seed: selection.train_candidate('g.json', str(outdir), str(tmp_path / f'{seed}.log'), 'd.zip',
                                                         kimg, seed, 'cpu', [])
    assert train(12, '00000') == str(outdir / '00000-run' / 'network-snapshot-000012.pkl')
    assert train(3, '00001') == str(outdir / '00001-run' / 'network-snapshot-000003.pkl')
    with pytest.raises(selection.UserError, match=r'^--select-top: train.py wrote no network snapshot in .*candidate-1'):
        train(0, '00002') # exit code 0, nothing written: the earlier runs' snapshots are not this candidate's result

#----------------------------------------------------------------------------
# Through search.py: the one-line errors, and a real run (train.py re-trains two candidates, FID with a stand-in
# detector) whose found.json, log and report show the selection.

@pytest.fixture(scope='module')
def cli_data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cli')
    detector = str(tmp / 'pool.pt')
    torch.jit.script(PoolDetector()).save(detector)
    return dict(d16=make_images(tmp / 'd16', 12, 16), detector=detector)

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache')) # real FID statistics land here, for train.py too

TINY = ['--backbone=conventional', '--g-channels=4', '--d-channels=4', '--batch=4', '--workers=0', '--device=cpu']

@pytest.mark.parametrize('args, fragments', [
    (['--select-top=0', '--select-kimg=1'], ['--select-top', '0']),
    (['--select-top=1', '--select-kimg=0'], ['--select-kimg', '0']),
    (['--select-top=2'], ['--select-top: needs --select-kimg']),
    (['--select-kimg=1'], ['--select-kimg: only with --select-top']),
    (['--select-args=--cfg=conv_cifar'], ['--select-args: only with --select-top']),
    (['--select-top=4', '--select-kimg=1', '--iters=3'], ['--select-top=4', 'at most 3', '--iters=3']),
    (['--select-top=2', '--select-kimg=1', '--select-args=--kimg=5'], ['--select-args: --kimg is set by the']),
    (['--select-top=2', '--select-kimg=1', '--select-args="--cfg'], ['--select-args: No closing quotation']),
    (['--select-top=2', '--select-kimg=1', '--select-args=--bacth=4'], ['--select-args: No such option', '--bacth']),
    (['--select-top=2', '--select-kimg=1', '--select-args=--cfg=foo'], ['--select-args: Invalid value', '--cfg']),
    (['--method=autogan', '--backbone=autogan', '--select-top=3', '--select-kimg=1', '--beam-size=2'],
     ['--select-top=3', 'at most 2', '--beam-size=2']),
    (['--method=alphagan'], ['--detector: only for --method=autogan or random, or with --select-top']),
    (['--method=alphagan', '--gpus=2', '--select-top=1', '--select-kimg=1'], ['--select-top', 'not with --gpus=2']),
])
def test_bad_selection_options_are_one_line_errors(args, fragments, cli_data, tmp_path, capsys):
    method = [] if any(a.startswith('--method') for a in args) else ['--method=random']
    tiny = [a for a in TINY if not (a.startswith('--backbone') and any(b.startswith('--backbone') for b in args))]
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "runs"}', f'--data={cli_data["d16"]}', *method,
                        *tiny, f'--detector={cli_data["detector"]}', *args)
    assert_one_line_error(res, *fragments)
    assert not os.path.exists(tmp_path / 'runs')

def test_search_selects_through_train_py(cli_data, tmp_path, capsys, cache):
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "runs"}', f'--data={cli_data["d16"]}',
                        '--method=random', *TINY, '--g-batch=4', '--iters=2', '--train-steps=2', '--reward-samples=10',
                        '--reward-real=10', f'--detector={cli_data["detector"]}', '--select-top=2',
                        '--select-kimg=0.008', '--select-args=--batch=4 --g-channels=4 --d-channels=4 --tick=0.004 '
                        '--workers=0')
    assert res.returncode == 0, res.stderr
    run_dir = tmp_path / 'runs' / '00000-d16-conventional-random-batch4'
    found = Genotype.from_json(run_dir / 'found.json')
    selected = found.provenance['extra']['selection']
    values = [c['value'] for c in selected['candidates']]
    assert len(values) == 2 and selected['picked'] == values.index(min(values)) # the lower FID
    for i, candidate in enumerate(selected['candidates']): # each a train.py run of its genotype, measured again here
        snapshot = candidate['network']
        assert os.path.isfile(snapshot) and f'select/candidate-{i + 1}/' in snapshot
        G = stylegan2_ada_import.load_network(snapshot)['G_ema']
        assert architecture(G.init_kwargs['genotype']) == \
            architecture(Genotype.from_json(run_dir / 'select' / f'candidate-{i + 1}.json').to_dict())
        evaluator = RewardEvaluator('cpu', 'fid', 10, dict(
            dataset_kwargs=dict(class_name='training.dataset.ImageFolderDataset', path=cli_data['d16']), max_real=10,
            detector=cli_data['detector'], batch_size=10))
        assert 1 / selection.score_network(evaluator, snapshot, 'cpu') == pytest.approx(candidate['value'], rel=1e-6)
    assert architecture(found.to_dict()) == \
        architecture(Genotype.from_json(run_dir / 'select' / f'candidate-{selected["picked"] + 1}.json').to_dict())
    with open(run_dir / 'log.txt') as f:
        log = f.read()
    assert 'Selection 2/2' in log and re.search(r'\* +%d +iteration' % (selected['picked'] + 1), log)
    with open(run_dir / 'report.html') as f:
        report = f.read()
    assert 'id="selection"' in report and f'{values[1]:.6g}' in report

def test_alphagan_selection_takes_the_metric_options(cli_data, tmp_path, capsys):
    res = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "runs"}', f'--data={cli_data["d16"]}', *TINY,
                        f'--detector={cli_data["detector"]}', '--reward-samples=20', '--select-top=2',
                        '--select-kimg=0.5', '--select-args=--cfg=conv_cifar --batch=8', '--dry-run')
    assert res.returncode == 0, res.stderr
    config = json.loads(res.stdout[res.stdout.index('{'):res.stdout.index('\n}\n') + 2])
    assert config['select_kwargs'] == dict(top=2, kimg=0.5, data=cli_data['d16'], train_args=['--cfg=conv_cifar',
        '--batch=8'], seed=0, reward='fid', reward_samples=20, evaluator_kwargs=dict(dataset_kwargs=config[
        'training_set_kwargs'], max_real=None, detector=cli_data['detector'], batch_size=20))
    assert 'Selection:              top 2 re-trained 0.5 kimg each by train.py --cfg=conv_cifar --batch=8, picked by ' \
        'fid of 20 images' in res.stdout
    plain = run_inprocess(capsys, 'search.py', f'--outdir={tmp_path / "runs"}', f'--data={cli_data["d16"]}', *TINY,
                          '--dry-run')
    assert plain.returncode == 0 and '"select_kwargs"' not in plain.stdout # a search without it: config unchanged

def test_alphagan_candidates_are_the_newest_distinct_iterations(tmp_path):
    """Run 1 wrote iterations 1-3 but its state at 2 was resumed by run 2, which wrote 3 and 4: iteration 3 is run 2's,
    and equal architectures count once (the newest iteration names them)."""
    from nas import backbones
    rng = np.random.default_rng(0)
    a, b, c = [backbones.get('conventional').sample_genotype(rng, channels=dict(g_channels=4)) for _ in range(3)]
    run1, run2 = tmp_path / '00000-run', tmp_path / '00001-run'
    for run_dir, files in [(run1, {1: a, 2: b, 3: a}), (run2, {3: c, 4: b})]:
        os.makedirs(run_dir)
        for iteration, genotype in files.items():
            genotype.to_json(sl.genotype_path(run_dir, iteration))
    with open(run2 / 'search_options.json', 'w') as f:
        json.dump(dict(resume=None), f)
    resume = str(run1 / 'search-state-000002.pt')
    found = selection.recent_genotypes(str(run2), resume, 5)
    assert [g['source'] for g in found] == ['iteration 4', 'iteration 3', 'iteration 1']
    assert [selection.architecture(g['genotype']) for g in found] == [selection.architecture(x) for x in [b, c, a]]
    assert [g['source'] for g in selection.recent_genotypes(str(run2), resume, 2)] == ['iteration 4', 'iteration 3']
    assert [g['source'] for g in selection.recent_genotypes(str(run2), None, 5)] == ['iteration 4', 'iteration 3']

@pytest.mark.parametrize('name', ['autogan/autogan', 'random/autogan'])
def test_ranked_candidates_come_best_first(name, data, tmp_path, monkeypatch):
    FakeRetraining(monkeypatch, rewards=[0.5, 0.5]) # equal metric: the earlier candidate, the search's pick, stays
    kwargs = dict(RUNS[name]['algorithm_kwargs'], **({'beam_size': 2} if name.startswith('autogan') else {}))
    found = run_search(name, data, tmp_path / 'run', algorithm_kwargs=kwargs,
                       select_kwargs=dict(SELECT, top=2))['found']
    scores = [c['search_score'] for c in found['provenance']['extra']['selection']['candidates']]
    assert len(scores) == 2 and scores[0] > scores[1]
    assert architecture(found) == architecture(Genotype.from_json(sl.genotype_path(tmp_path / 'run', 2)).to_dict())
