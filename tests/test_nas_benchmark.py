"""nas/benchmark.py at toy size with a stand-in detector: every stage, the table, the report; a second run reuses
every stage; an interrupted run re-runs only the stages it lost and gets the same numbers; bad input in one line."""

import base64
import io
import json
import os
import re
import shutil

import numpy as np
import PIL.Image
import pytest

from cli_helpers import make_zip, pipeline_env
from dnnlib.util import UserError, cli_main
from metrics import frechet_inception_distance
from metrics import kernel_inception_distance
from nas import benchmark

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning') # the stand-in detector is TorchScript

SECTIONS = ['overview', 'table', 'curves', 'grids', 'stages', 'reproduce']
SEEDS = [0, 1]
ARMS = ['alphaGAN_(s) found', 'AutoGAN found', 'random found', 'random (weight sharing) found', 'SN-GAN baseline',
        'alphaGAN_(s) published', 'alphaGAN_(l) published', 'AutoGAN published', 'StyleGAN2 default', 'micro_dynw found']

@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('benchmark')
    with pipeline_env(root) as detector:
        kwargs = dict(outdir=str(root / 'out'), data=make_zip(root / 'train.zip', 16, 32),
                      test_data=make_zip(root / 'test.zip', 8, 32, seed=1), size='toy', seeds=SEEDS, jobs=2,
                      detector=detector, device='cpu')
        lines = []
        rows = benchmark.run_benchmark(**kwargs, log=lines.append)
        yield dict(kwargs=kwargs, rows=rows, lines=lines, root=root, table=read(root / 'out' / 'table.json'))

def read(path):
    with open(path) as f:
        return json.load(f)

def section(text, sid):
    match = re.search(rf'<section id="{sid}">(.*?)</section>', text, re.S)
    assert match, sid
    return match.group(1)

def embedded_pngs(text):
    return [PIL.Image.open(io.BytesIO(base64.b64decode(data))) for data in re.findall(r'data:image/png;base64,([^"]+)',
                                                                                        text)]

#----------------------------------------------------------------------------

def test_every_arm_every_seed_is_scored(toy):
    out = toy['kwargs']['outdir']
    state = read(os.path.join(out, 'benchmark-state.json'))
    searches = ['search-alphagan-0', 'search-alphagan-1', 'search-autogan', 'search-random', 'search-random-ws',
                'search-dynw']
    trainings = [f'train-{benchmark.slug(arm)}-{seed}' for arm in ARMS for seed in SEEDS]
    assert sorted(state) == sorted(searches + trainings + ['metrics'])
    scores = read(os.path.join(out, 'metrics', 'scores.json'))
    assert (scores['num_real'], scores['num_gen'], scores['curve_num']) == (8, 8, 4)
    assert sorted(scores['scores']) == sorted(trainings)
    # the two alphaGAN_(s) re-trainings use the genotypes of the two searches, seed for seed
    for seed in SEEDS:
        options = read(os.path.join(state[f'train-alphagan-s-found-{seed}']['run_dir'], 'training_options.json'))
        found = read(state[f'search-alphagan-{seed}']['output'])
        assert options['G_kwargs']['genotype']['ops'] == found['ops'] and options['random_seed'] == seed
    # the two random searches: the same budget, one with weight sharing (AutoGAN Sec. 4.3.5's two variants)
    keys = [state[name]['key'].split() for name in ('search-random', 'search-random-ws')]
    assert [arg for arg in keys[1] if arg not in keys[0]] == [f'--outdir={out}/search-random-ws', '--weight-sharing']
    assert '-random-ws-' in state['search-random-ws']['output']

def test_table_rows(toy):
    rows = toy['table']['rows']
    assert [r['arm'] for r in rows] == ARMS
    scores = read(os.path.join(toy['kwargs']['outdir'], 'metrics', 'scores.json'))['scores']
    for r in rows:
        fids = [scores[f'train-{benchmark.slug(r["arm"])}-{seed}']['fid'] for seed in SEEDS]
        assert r['n'] == 2 and r['fid'] == fids
        assert r['fid_mean'] == pytest.approx(np.mean(fids)) and r['fid_std'] == pytest.approx(np.std(fids, ddof=1))
        assert (r['p_fid'] is None) == (r['arm'] in ('SN-GAN baseline', 'StyleGAN2 default'))
        assert (r['search_cpu_hours'] is None) == (not r['arm'].endswith('found'))
    by_arm = {r['arm']: r for r in rows}
    assert by_arm['micro_dynw found']['baseline'] == 'StyleGAN2 default'
    base = by_arm['SN-GAN baseline']['fid']
    import scipy.stats # the test the table states, recomputed
    assert by_arm['AutoGAN published']['p_fid'] == pytest.approx(
        scipy.stats.ttest_ind(by_arm['AutoGAN published']['fid'], base, equal_var=False).pvalue)
    with open(os.path.join(toy['kwargs']['outdir'], 'table.md')) as f:
        table = f.read().splitlines()
    assert len(table) == 2 + len(ARMS) and table[0].startswith('| arm | seeds | FID mean +- std')

def test_report_page(toy):
    with open(os.path.join(toy['kwargs']['outdir'], 'report.html')) as f:
        text = f.read()
    assert re.findall(r'<section id="([^"]+)">', text) == SECTIONS
    assert 'http' not in text # offline: every image embedded
    grids = embedded_pngs(section(text, 'grids'))
    assert len(grids) == len(ARMS) and all(image.size == (128, 128) for image in grids) # 4x4 tiles of 32 px: 16 images
    assert len(embedded_pngs(section(text, 'curves'))) == 1
    assert all(f'<td>{arm}</td>' in section(text, 'table') for arm in ARMS)
    assert 'Welch&#x27;s t-test (unequal variances)' in section(text, 'table')
    assert '--seeds=0,1' in section(text, 'reproduce')

def test_second_run_reuses_every_stage(toy):
    lines = []
    rows = benchmark.run_benchmark(**toy['kwargs'], log=lines.append)
    assert sum('reused' in line for line in lines) == len(read(os.path.join(toy['kwargs']['outdir'],
                                                                              'benchmark-state.json')))
    assert not any(' done in ' in line for line in lines)
    assert rows == toy['rows']

def test_interrupted_run_reruns_lost_stages_with_the_same_numbers(toy):
    # The run loses an alphaGAN search, a re-training of its genotype, the AutoGAN search and the re-training of its
    # genotype, the baseline's and the metrics, as if killed while they ran.
    lost = ['search-alphagan-1', 'train-alphagan-s-found-1', 'search-autogan', 'train-autogan-found-0',
            'train-sn-gan-baseline-0', 'metrics']
    state = lose_stages(toy['kwargs']['outdir'], lost)
    lines = []
    rows = benchmark.run_benchmark(**toy['kwargs'], log=lines.append)
    ran = sorted(re.match(r'\[(\S+)\] done in', line).group(1) for line in lines if re.match(r'\[\S+\] done in', line))
    assert ran == sorted(lost)
    assert sum('reused' in line for line in lines) == len(state)
    assert numbers(rows) == numbers(toy['rows']) # same seeds, same numbers

def lose_stages(out, names):
    """Delete the stages' directories and state entries, as if the run was killed while they ran; the state left."""
    state_path = os.path.join(out, 'benchmark-state.json')
    state = read(state_path)
    for name in names:
        shutil.rmtree(os.path.join(out, name))
        del state[name]
    with open(state_path, 'w') as f:
        json.dump(state, f)
    return state

def numbers(rows):
    return [(r['arm'], r['fid'], r['kid'], r['params']) for r in rows]

#----------------------------------------------------------------------------

def test_metrics_rescore_only_the_networks_that_changed(toy):
    # A re-trained stage changes the metrics stage's key; the others' scores come from scores.json.
    lost = 'train-sn-gan-baseline-1'
    lose_stages(toy['kwargs']['outdir'], [lost])
    lines = []
    rows = benchmark.run_benchmark(**toy['kwargs'], log=lines.append)
    scored = [line.split(':')[0].strip() for line in lines if re.match(r'  train-\S+: FID', line)]
    assert scored == [lost]
    assert f'  reusing the scores of {len(ARMS) * len(SEEDS) - 1} of {len(ARMS) * len(SEEDS)} networks' in '\n'.join(lines)
    assert numbers(rows) == numbers(toy['rows'])

def test_fid_kid_equals_the_metrics_path():
    rng = np.random.RandomState(0)
    real, gen = rng.randn(60, 16).astype(np.float32), (rng.randn(50, 16) * 1.3 + 0.2).astype(np.float32)
    stats = [] # mean and biased covariance in float64, computed here independently of FeatureStats' running sums
    for features in (real.astype(np.float64), gen.astype(np.float64)):
        stats += [features.mean(axis=0), np.cov(features, rowvar=False, bias=True)]
    fid, kid = benchmark.fid_kid(real, gen)
    assert fid == pytest.approx(frechet_inception_distance.frechet_distance(*stats), rel=1e-9)
    assert kid == kernel_inception_distance.kid_from_features(real, gen, 100, 1000, rng=np.random.RandomState(0))

def test_the_curve_scores_fewer_images_than_the_table(toy, monkeypatch, tmp_path):
    """Every snapshot's curve point from curve_num images, the last one from the first curve_num of its num."""
    calls = []
    fid_kid = benchmark.fid_kid
    monkeypatch.setattr(benchmark, 'fid_kid', lambda real, gen: calls.append((len(real), len(gen))) or fid_kid(real, gen))
    name = f'train-{benchmark.slug(ARMS[0])}-0'
    network = read(os.path.join(toy['kwargs']['outdir'], 'benchmark-state.json'))[name]['output']
    for kimg in (0, 1, 2): # the toy run's snapshots all fall on kimg 0: three copies make a curve
        shutil.copy(network, tmp_path / f'network-snapshot-{kimg:06d}.pkl')
    scores = benchmark.score_networks(toy['kwargs']['test_data'], {name: str(tmp_path)}, 8, 4,
                                      toy['kwargs']['detector'], 'cpu', lambda line: None)[name]
    assert calls == [(4, 4)] * 3 + [(8, 8)] and [point['kimg'] for point in scores['curve']] == [0, 1, 2]
    assert scores['curve'][0]['fid'] == scores['curve'][2]['fid'] != scores['fid'] # same network, N = 4 against 8
    recorded = read(os.path.join(toy['kwargs']['outdir'], 'metrics', 'scores.json'))['scores'][name]
    assert (scores['fid'], scores['kid']) == (recorded['fid'], recorded['kid'])

def test_bad_input_is_one_line(toy, tmp_path, capsys):
    kwargs = dict(toy['kwargs'], outdir=str(tmp_path / 'x'))
    with pytest.raises(UserError, match=r'^--test-data: missing\.zip: no such file'):
        benchmark.run_benchmark(**dict(kwargs, test_data='missing.zip'), log=lambda line: None)
    with pytest.raises(UserError, match=r'has 8 images, fewer than the 20 asked for'):
        benchmark.score_networks(kwargs['test_data'], {}, 20, 4, kwargs['detector'], 'cpu', lambda line: None)
    for args, fragment in [(['--seeds=1,x'], "'1,x' is not a comma-separated list of integers"),
                           (['--seeds=1,1'], 'expected distinct non-negative integers'),
                           (['--scale=0'], '--scale')]:
        with pytest.raises(SystemExit) as exit_info:
            cli_main(benchmark.main, args)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1 and fragment in err[0], err

#----------------------------------------------------------------------------
