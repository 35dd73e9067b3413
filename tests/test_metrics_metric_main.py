"""Metric pipeline on tiny data: statistics cache (hit, corruption, invalidation), generator features,
calc_metric/report_metric against features computed here by hand, and the search-time fast path."""

import io
import json
import os
import zipfile

import numpy as np
import PIL.Image
import pytest
import torch

import dnnlib
from metrics import detectors
from metrics import fast
from metrics import metric_main
from metrics import metric_utils
from metrics.frechet_inception_distance import frechet_distance
from metrics.inception_score import inception_score_from_probs
from test_metrics_detectors import TinyInception

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')

#----------------------------------------------------------------------------
# Fixtures: TinyInception (NVIDIA's calling convention, from test_metrics_detectors), a plain stand-in
# without logits, zips of PNGs as dataset_tool writes them, and a tiny generator.

class PlainPool(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, [2, 2]).flatten(1)

class TinyG(torch.nn.Module):
    def __init__(self, z_dim=4, c_dim=0, img_resolution=8, img_channels=3):
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, c_dim, img_resolution, img_channels
        gen = torch.Generator().manual_seed(1)
        self.weight = torch.nn.Parameter(torch.randn(z_dim + c_dim, img_channels * img_resolution ** 2, generator=gen))

    def forward(self, z, c, truncation_psi=1, noise_mode='const'):
        x = torch.cat([z, c], dim=1) @ self.weight
        return torch.tanh(x).reshape(-1, self.img_channels, self.img_resolution, self.img_resolution)

def write_zip(path, images):
    with zipfile.ZipFile(path, 'w') as z:
        for i, img in enumerate(images):
            buf = io.BytesIO()
            PIL.Image.fromarray(img).save(buf, format='png')
            z.writestr(f'{i // 1000:05d}/img{i:08d}.png', buf.getvalue())
    return str(path)

def random_images(seed, n, res=8, scale=255):
    return (np.random.RandomState(seed).rand(n, res, res, 3) * scale).astype(np.uint8)

def dataset_kwargs(path):
    return dict(class_name='training.dataset.ImageFolderDataset', path=path)

@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setattr(detectors, '_detector_cache', dict())
    e = dnnlib.EasyDict(tmp=tmp_path, cache_dir=str(tmp_path / 'cache'))
    e.detector = str(tmp_path / 'tiny.pt')
    torch.jit.save(torch.jit.script(TinyInception()), e.detector)
    e.plain = str(tmp_path / 'plain.pt')
    torch.jit.save(torch.jit.script(PlainPool()), e.plain)
    e.images = random_images(0, 40)
    e.data = write_zip(tmp_path / 'real.zip', e.images)
    return e

def common(env, **kwargs):
    return dict(dict(detector=env.detector, device='cpu', batch_size=16, cache_dir=env.cache_dir), **kwargs)

def opts_for(env, **kwargs):
    return metric_utils.MetricOptions(**common(env, dataset_kwargs=dataset_kwargs(env.data), **kwargs))

def evaluator_for(env, **kwargs):
    return fast.FastEvaluator(**common(env, **kwargs))

def reference_features(images_nhwc, **kwargs):
    with torch.no_grad():
        return TinyInception()(torch.from_numpy(images_nhwc).permute(0, 3, 1, 2), **kwargs).numpy().astype(np.float64)

def reference_generated(G, n, seed=0):
    z = np.random.RandomState([seed, 0]).randn(n, G.z_dim).astype(np.float32)
    with torch.no_grad():
        img = G(torch.from_numpy(z), torch.zeros([n, 0]))
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()

def mean_cov(x):
    return x.mean(axis=0), np.cov(x, rowvar=False, bias=True)

#----------------------------------------------------------------------------
# Dataset statistics and their cache.

def test_dataset_stats_match_hand_computed_and_hit_the_cache(env, monkeypatch):
    opts = opts_for(env)
    det = opts.get_detector()
    rng_state = torch.get_rng_state()
    stats = metric_utils.compute_feature_stats_for_dataset(opts, det, capture_mean_cov=True, capture_all=True)
    assert torch.equal(torch.get_rng_state(), rng_state) # measured or cached, the caller's random stream goes on alike
    expected = reference_features(env.images, return_features=True)
    np.testing.assert_allclose(stats.get_all(), expected, rtol=1e-5, atol=1e-5)
    files = os.listdir(env.cache_dir)
    assert len(files) == 1 and files[0].startswith('real-tiny-features-')

    def no_detector(*args):
        raise AssertionError('the second call must come from the cache')
    monkeypatch.setattr(metric_utils, '_detect', no_detector)
    again = metric_utils.compute_feature_stats_for_dataset(opts, det, capture_mean_cov=True, capture_all=True)
    np.testing.assert_array_equal(again.get_all(), stats.get_all())
    np.testing.assert_array_equal(again.get_mean_cov()[1], stats.get_mean_cov()[1])

def cache_file_of(env):
    (name,) = os.listdir(env.cache_dir)
    return os.path.join(env.cache_dir, name)

@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'tamper'])
def test_corrupted_cache_is_detected_and_rebuilt(env, damage, capsys):
    opts = opts_for(env)
    det = opts.get_detector()
    mu, sigma = metric_utils.compute_feature_stats_for_dataset(opts, det, capture_mean_cov=True).get_mean_cov()
    path = cache_file_of(env)
    data = open(path, 'rb').read()
    if damage == 'truncate':
        open(path, 'wb').write(data[:len(data) // 2])
    elif damage == 'garbage':
        open(path, 'wb').write(b'\0' * 100)
    else: # a valid npz whose numbers no longer match the stored checksum
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays['raw_mean'] = arrays['raw_mean'] + 1
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        open(path, 'wb').write(buf.getvalue())
    capsys.readouterr()
    mu2, sigma2 = metric_utils.compute_feature_stats_for_dataset(opts, det, capture_mean_cov=True).get_mean_cov()
    assert 'corrupted' in capsys.readouterr().out
    np.testing.assert_allclose(mu2, mu, rtol=1e-12)
    np.testing.assert_allclose(sigma2, sigma, rtol=1e-12)
    assert metric_utils.load_stats(path) is not None # rewritten whole

def test_cache_key_follows_dataset_content_detector_and_options(env):
    opts = opts_for(env)
    det = opts.get_detector()
    metric_utils.compute_feature_stats_for_dataset(opts, det, capture_mean_cov=True)
    metric_utils.compute_feature_stats_for_dataset(opts, det, capture_mean_cov=True, max_items=20)
    plain = opts_for(env, detector=env.plain).get_detector()
    metric_utils.compute_feature_stats_for_dataset(opts, plain, capture_mean_cov=True)
    assert len(os.listdir(env.cache_dir)) == 3
    write_zip(env.data, random_images(1, 40)) # same path, new content
    stats = metric_utils.compute_feature_stats_for_dataset(opts, det, capture_all=True)
    assert len(os.listdir(env.cache_dir)) == 4
    expected = reference_features(random_images(1, 40), return_features=True)
    np.testing.assert_allclose(stats.get_all(), expected, rtol=1e-5, atol=1e-5)

def test_feature_stats_round_trip(tmp_path):
    st = metric_utils.FeatureStats(capture_all=True, capture_mean_cov=True, max_items=7)
    st.append(np.random.RandomState(0).randn(9, 3))
    path = str(tmp_path / 's.npz')
    metric_utils.save_stats(st, path)
    back = metric_utils.load_stats(path)
    assert (back.num_items, back.max_items, back.num_features) == (7, 7, 3)
    np.testing.assert_array_equal(back.get_all(), st.get_all())
    np.testing.assert_array_equal(back.raw_cov, st.raw_cov)

#----------------------------------------------------------------------------
# Generator features.

def test_generator_features_are_seeded_and_independent_of_micro_batch(env):
    G = TinyG()
    det = opts_for(env).get_detector()
    a = metric_utils.compute_feature_stats_for_generator(opts_for(env, G=G, batch_gen=3), det, 37, capture_all=True)
    b = metric_utils.compute_feature_stats_for_generator(opts_for(env, G=G), det, 37, capture_all=True)
    assert a.num_items == 37
    np.testing.assert_array_equal(a.get_all(), b.get_all())
    expected = reference_features(reference_generated(G, 48)[:37], return_features=True)
    np.testing.assert_allclose(a.get_all(), expected, rtol=1e-5, atol=1e-5)

#----------------------------------------------------------------------------
# calc_metric and report_metric.

def test_calc_metric_fid_equals_hand_computed(env):
    G = TinyG()
    compute_fid = metric_main.frechet_inception_distance.compute_fid
    metric_main._metric_dict['fid40_test'] = lambda opts: dict(fid40_test=compute_fid(opts, max_real=None, num_gen=40))
    try:
        result = metric_main.calc_metric('fid40_test', **common(env, G=G, dataset_kwargs=dataset_kwargs(env.data)))
    finally:
        del metric_main._metric_dict['fid40_test']
    real = reference_features(env.images, return_features=True)
    gen = reference_features(reference_generated(G, 48)[:40], return_features=True)
    expected = frechet_distance(*mean_cov(real), *mean_cov(gen))
    assert result.results.fid40_test == pytest.approx(expected, rel=1e-4)
    assert result.metric == 'fid40_test' and result.num_gpus == 1 and 'skipped' not in result
    assert result.detector == env.detector # the jsonl line names the detector the number came from

def test_report_metric_writes_jsonl(env, capsys):
    result = dnnlib.EasyDict(results=dict(fid50k_full=1.5), metric='fid50k_full', total_time=2.0, total_time_str='2s',
                             num_gpus=1)
    run_dir = str(env.tmp)
    snapshot_pkl = os.path.join(run_dir, 'network-snapshot-000010.pkl')
    metric_main.report_metric(result, run_dir=run_dir, snapshot_pkl=snapshot_pkl)
    metric_main.report_metric(result, run_dir=run_dir)
    lines = open(os.path.join(run_dir, 'metric-fid50k_full.jsonl')).read().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert set(rec) == {'results', 'metric', 'total_time', 'total_time_str', 'num_gpus', 'snapshot_pkl', 'timestamp'}
    assert rec['snapshot_pkl'] == 'network-snapshot-000010.pkl' and rec['results'] == {'fid50k_full': 1.5}
    assert json.loads(capsys.readouterr().out.splitlines()[0]) == rec

def test_is_without_logits_is_skipped_in_one_line(env, capsys):
    result = metric_main.calc_metric('is10k', G=TinyG(), dataset_kwargs=dataset_kwargs(env.data), detector=env.plain,
                                     device='cpu', cache_dir=env.cache_dir)
    assert 'no logits' in result.skipped and result.results == {}
    metric_main.report_metric(result, run_dir=str(env.tmp))
    out = capsys.readouterr().out.strip()
    assert out.startswith('is10k: skipped') and '\n' not in out
    assert not os.path.exists(os.path.join(str(env.tmp), 'metric-is10k.jsonl'))

def test_bad_metric_name_and_resolution_mismatch(env):
    with pytest.raises(dnnlib.UserError, match='unknown metric fid1m.*valid metrics: fid50k_full'):
        metric_main.calc_metric('fid1m', G=TinyG(), dataset_kwargs=dataset_kwargs(env.data))
    with pytest.raises(dnnlib.UserError, match='generator resolution 16 does not match'):
        metric_main.calc_metric('fid2k', G=TinyG(img_resolution=16), dataset_kwargs=dataset_kwargs(env.data),
                                detector=env.detector, device='cpu', cache_dir=env.cache_dir)

def test_standard_metric_names_are_registered():
    names = metric_main.list_valid_metrics()
    for name in ['fid50k_full', 'kid50k_full', 'pr50k3_full', 'is50k', 'fid10k_full', 'fid2k', 'fid5k', 'kid10k',
                 'is10k']:
        assert name in names

#----------------------------------------------------------------------------
# Fast path.

def test_fast_evaluator_fid_and_is_reuse_real_stats(env, monkeypatch):
    calls = []
    original = metric_utils.compute_feature_stats_for_dataset
    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)
    monkeypatch.setattr(metric_utils, 'compute_feature_stats_for_dataset', counted)
    evaluator = evaluator_for(env, dataset_kwargs=dataset_kwargs(env.data), num_gen=30, num_splits=3)
    G = TinyG().train()
    r1 = evaluator(G)
    r2 = evaluator(G, num_gen=20, seed=5)
    assert len(calls) == 1 and G.training

    gen = reference_generated(G, 32)[:30]
    expected_fid = frechet_distance(*mean_cov(reference_features(env.images, return_features=True)),
                                    *mean_cov(reference_features(gen, return_features=True)))
    expected_is = inception_score_from_probs(reference_features(gen, no_output_bias=True), num_splits=3)
    assert r1.fid == pytest.approx(expected_fid, rel=1e-4) and r1.num_gen == 30
    assert (r1.is_mean, r1.is_std) == pytest.approx(expected_is, rel=1e-4)
    assert r2.num_gen == 20 and r2.fid != r1.fid

def test_fast_evaluator_compares_a_smaller_generator_at_its_resolution(env):
    # AutoGAN's stage-0/1 children: 2 px output against the 8 px real images average-pooled to 2 px.
    evaluator = evaluator_for(env, dataset_kwargs=dataset_kwargs(env.data), num_gen=30)
    G = TinyG(img_resolution=2)
    fid = evaluator(G).fid
    pooled = torch.nn.functional.avg_pool2d(torch.from_numpy(env.images).permute(0, 3, 1, 2).double(), 4)
    pooled = pooled.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    gen = reference_generated(G, 32)[:30]
    gen_stats = mean_cov(reference_features(gen, return_features=True))
    assert fid == pytest.approx(frechet_distance(*mean_cov(reference_features(pooled, return_features=True)), *gen_stats),
                                rel=1e-4)
    assert fid != pytest.approx(frechet_distance(*mean_cov(reference_features(env.images, return_features=True)),
                                                 *gen_stats), rel=1e-2)
    full = evaluator(TinyG()).fid # the full-resolution statistics stay apart
    assert full == pytest.approx(evaluator_for(env, dataset_kwargs=dataset_kwargs(env.data), num_gen=30)(TinyG()).fid)

def test_fast_evaluator_without_logits_gives_fid_only(env):
    evaluator = evaluator_for(env, dataset_kwargs=dataset_kwargs(env.data), num_gen=20, detector=env.plain)
    r = evaluator(TinyG())
    assert r.is_mean is None and r.is_std is None and r.fid > 0

def test_fast_evaluator_with_reference_npz(env):
    mu, sigma = evaluator_for(env, dataset_kwargs=dataset_kwargs(env.data)).real_stats()
    path = str(env.tmp / 'ref.npz')
    np.savez(path, mu=mu, sigma=sigma)
    from_npz = evaluator_for(env, real_stats=path, num_gen=20)
    from_data = evaluator_for(env, dataset_kwargs=dataset_kwargs(env.data), num_gen=20)
    assert from_npz(TinyG()).fid == pytest.approx(from_data(TinyG()).fid, rel=1e-12)

#----------------------------------------------------------------------------
