"""FID, KID, IS and precision/recall against closed forms and plain numpy formulas written here."""

import numpy as np
import pytest
import scipy.linalg

from metrics.frechet_inception_distance import frechet_distance
from metrics.inception_score import inception_score_from_probs
from metrics.kernel_inception_distance import kid_from_features
from metrics.metric_utils import FeatureStats
from metrics.precision_recall import precision_recall_from_features

#----------------------------------------------------------------------------
# Fréchet distance.

def random_spd(rnd, d):
    a = rnd.randn(d, d)
    return a @ a.T + 0.1 * np.eye(d)

def test_frechet_distance_of_diagonal_gaussians_equals_closed_form():
    # Commuting covariances: |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
    rnd = np.random.RandomState(0)
    mu1, mu2 = rnd.randn(6), rnd.randn(6)
    a, b = rnd.uniform(0.1, 3, 6), rnd.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)

def test_frechet_distance_in_one_dimension():
    # N(m1, s1^2) vs N(m2, s2^2): (m1 - m2)^2 + (s1 - s2)^2.
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[0.25]]) == pytest.approx(9 + 1.5 ** 2, rel=1e-12)

def test_frechet_distance_of_general_gaussians_equals_sqrtm_formula():
    rnd = np.random.RandomState(1)
    mu1, mu2 = rnd.randn(10), rnd.randn(10)
    s1, s2 = random_spd(rnd, 10), random_spd(rnd, 10)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)

def test_fid_of_samples_approaches_closed_form():
    rnd = np.random.RandomState(2)
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.0, -0.5])
    s1, s2 = np.diag([1.0, 2.0, 0.5]), np.diag([0.5, 2.0, 2.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(np.diag(s1)) - np.sqrt(np.diag(s2))) ** 2)
    stats = []
    for mu, s in [(mu1, s1), (mu2, s2)]:
        st = FeatureStats(capture_mean_cov=True)
        for chunk in np.array_split(rnd.multivariate_normal(mu, s, size=200000), 7):
            st.append(chunk)
        stats.append(st.get_mean_cov())
    assert frechet_distance(*stats[0], *stats[1]) == pytest.approx(expected, abs=0.02)

def test_fid_of_a_set_against_itself_is_zero():
    rnd = np.random.RandomState(3)
    x = rnd.randn(600, 256) @ rnd.randn(256, 256) + 5 # correlated, full rank
    st = FeatureStats(capture_mean_cov=True)
    st.append(x)
    mu, sigma = st.get_mean_cov()
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6

def test_feature_stats_mean_cov_match_numpy():
    rnd = np.random.RandomState(4)
    x = rnd.randn(50, 4).astype(np.float32)
    st = FeatureStats(capture_all=True, capture_mean_cov=True, max_items=40)
    st.append(x[:25])
    st.append(x[25:])
    mean, cov = st.get_mean_cov()
    assert st.num_items == 40 and st.is_full()
    np.testing.assert_array_equal(st.get_all(), x[:40])
    np.testing.assert_allclose(mean, x[:40].astype(np.float64).mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(cov, np.cov(x[:40].astype(np.float64), rowvar=False, bias=True), atol=1e-10)

#----------------------------------------------------------------------------
# KID: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, written out pair by pair.

def kid_reference(x, y):
    d, m = x.shape[1], x.shape[0]
    k = lambda a, b: (np.dot(a, b) / d + 1) ** 3
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return kxx + kyy - 2 * kxy

def test_kid_equals_pairwise_formula():
    rnd = np.random.RandomState(5)
    real, gen = rnd.randn(30, 6), rnd.randn(30, 6) * 1.5 + 0.3
    # One subset holding every item: a permutation, and MMD^2 does not depend on the order.
    kid = kid_from_features(real, gen, num_subsets=1, max_subset_size=1000)
    assert kid == pytest.approx(kid_reference(gen, real), rel=1e-10)

def test_kid_averages_subsets():
    rnd = np.random.RandomState(6)
    real, gen = rnd.randn(40, 5), rnd.randn(40, 5) + 1
    draws = np.random.RandomState(7)
    expected = []
    for _ in range(3):
        x = gen[draws.choice(40, 10, replace=False)]
        y = real[draws.choice(40, 10, replace=False)]
        expected.append(kid_reference(x, y))
    kid = kid_from_features(real, gen, num_subsets=3, max_subset_size=10, rng=np.random.RandomState(7))
    assert kid == pytest.approx(np.mean(expected), rel=1e-10)

#----------------------------------------------------------------------------
# Inception Score.

def test_inception_score_equals_kl_formula():
    rnd = np.random.RandomState(8)
    logits = rnd.randn(100, 7) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    scores = []
    for part in np.split(probs, 4):
        py = part.mean(axis=0)
        kl = [sum(p[j] * np.log(p[j] / py[j]) for j in range(7)) for p in part]
        scores.append(np.exp(np.mean(kl)))
    mean, std = inception_score_from_probs(probs, num_splits=4)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)

def test_inception_score_of_confident_balanced_classes_is_class_count():
    probs = np.eye(5)[np.arange(100) % 5] # every split holds each class equally often, each image certain
    mean, std = inception_score_from_probs(probs, num_splits=10)
    assert mean == pytest.approx(5, rel=1e-9) and std == pytest.approx(0, abs=1e-9)

#----------------------------------------------------------------------------
# Precision and recall (k-NN manifolds), against a brute-force numpy version.

def coverage_reference(manifold, probes, k):
    dist = np.linalg.norm(manifold[:, None] - manifold[None], axis=2)
    radii = np.sort(dist, axis=1)[:, k] # index 0 is the point itself
    return np.mean([np.any(np.linalg.norm(manifold - p, axis=1) <= radii) for p in probes])

def test_precision_recall_of_identical_sets_is_one():
    x = np.random.RandomState(9).randn(50, 8).astype(np.float32)
    assert precision_recall_from_features(x, x.copy(), nhood_size=3) == (1.0, 1.0)

def test_precision_recall_equal_brute_force():
    rnd = np.random.RandomState(10)
    real = rnd.randn(37, 4).astype(np.float32)
    gen = (rnd.randn(29, 4) * 1.7 + 0.8).astype(np.float32)
    precision, recall = precision_recall_from_features(real, gen, nhood_size=3, row_batch_size=7, col_batch_size=5)
    assert precision == pytest.approx(coverage_reference(real, gen, 3), abs=1e-6)
    assert recall == pytest.approx(coverage_reference(gen, real, 3), abs=1e-6)
    assert 0 < precision < 1 and 0 < recall < 1

def test_precision_recall_of_far_apart_sets_is_zero():
    rnd = np.random.RandomState(11)
    real, gen = rnd.randn(20, 3), rnd.randn(20, 3) + 100
    assert precision_recall_from_features(real, gen, nhood_size=3) == (0.0, 0.0)

#----------------------------------------------------------------------------
