"""Fréchet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule")."""

import numpy as np

from . import metric_utils

#----------------------------------------------------------------------------
# Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2):
#   |mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)).
# tr (sigma1 sigma2)^(1/2) equals tr (s1 sigma2 s1)^(1/2) with s1 = sigma1^(1/2) (the matrices are similar),
# and the latter is symmetric PSD, so two eigh calls give it without a complex-valued sqrtm.

def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    assert mu1.shape == mu2.shape and sigma1.shape == sigma2.shape == mu1.shape * 2
    evals1, evecs1 = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    s1 = (evecs1 * np.sqrt(np.clip(evals1, 0, None))) @ evecs1.T
    inner = s1 @ sigma2 @ s1
    evals = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(evals, 0, None)).sum()
    m = np.square(mu1 - mu2).sum()
    return float(m + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)

#----------------------------------------------------------------------------
# FID of opts.G (or opts.gen_dataset_kwargs) against max_real real images (None = all).

def compute_fid(opts, max_real, num_gen):
    detector = opts.get_detector()
    mu_real, sigma_real = metric_utils.compute_feature_stats_for_dataset(
        opts, detector, max_items=max_real, capture_mean_cov=True).get_mean_cov()
    mu_gen, sigma_gen = metric_utils.compute_feature_stats_for_generator(
        opts, detector, num_gen=num_gen, capture_mean_cov=True).get_mean_cov()
    if opts.rank != 0:
        return float('nan')
    return frechet_distance(mu_real, sigma_real, mu_gen, sigma_gen)

#----------------------------------------------------------------------------
