"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs")."""

import numpy as np

from . import metric_utils

#----------------------------------------------------------------------------
# Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over num_subsets
# random subsets of m = min(n_real, n_gen, max_subset_size) items from each set (the protocol of
# StyleGAN2-ADA: 100 subsets of 1000). Subsets are drawn with rng: generated first, then real.

def kid_from_features(real_features, gen_features, num_subsets=100, max_subset_size=1000, rng=None):
    real = np.asarray(real_features, dtype=np.float64)
    gen = np.asarray(gen_features, dtype=np.float64)
    assert real.ndim == gen.ndim == 2 and real.shape[1] == gen.shape[1]
    rng = rng if rng is not None else np.random.RandomState(0)
    d = real.shape[1]
    m = min(real.shape[0], gen.shape[0], max_subset_size)
    assert m >= 2, 'KID needs at least two items per set'
    total = 0.0
    for _subset in range(num_subsets):
        x = gen[rng.choice(gen.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        total += within - 2 * kxy.mean()
    return float(total / num_subsets)

#----------------------------------------------------------------------------

def compute_kid(opts, max_real, num_gen, num_subsets, max_subset_size):
    detector = opts.get_detector()
    real = metric_utils.compute_feature_stats_for_dataset(opts, detector, max_items=max_real, capture_all=True)
    gen = metric_utils.compute_feature_stats_for_generator(opts, detector, num_gen=num_gen, capture_all=True)
    if opts.rank != 0:
        return float('nan')
    return kid_from_features(real.get_all(), gen.get_all(), num_subsets, max_subset_size,
                             rng=np.random.RandomState(opts.seed))

#----------------------------------------------------------------------------
