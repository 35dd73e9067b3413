"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs")."""

import numpy as np

import dnnlib
from . import metric_utils

#----------------------------------------------------------------------------
# A metric that cannot run with the chosen detector; calc_metric reports it in one line and moves on.

class MetricSkipped(Exception):
    pass

#----------------------------------------------------------------------------
# IS = exp(E_x KL(p(y|x) || p(y))) on each of num_splits consecutive splits; mean and std over splits.

def inception_score_from_probs(probs, num_splits=10):
    probs = np.asarray(probs, dtype=np.float64)
    assert probs.ndim == 2 and probs.shape[0] >= num_splits
    n = probs.shape[0]
    scores = []
    for i in range(num_splits):
        part = probs[i * n // num_splits : (i + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-30, None)) - np.log(np.clip(marginal, 1e-30, None)))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))

#----------------------------------------------------------------------------

def compute_is(opts, num_gen, num_splits):
    detector = opts.get_detector()
    if not detector.has_logits:
        raise MetricSkipped(f'detector {detector.name} has no logits; pass --detector=inception '
                            f'(NVIDIA inception-2015-12-05.pt) to compute the Inception Score')
    probs = metric_utils.compute_feature_stats_for_generator(
        opts, detector, num_gen=num_gen, mode='probs', capture_all=True).get_all()
    if opts.rank != 0:
        return float('nan'), float('nan')
    if probs.shape[0] < num_splits:
        raise dnnlib.UserError(f'Inception Score needs at least {num_splits} images, got {probs.shape[0]}')
    return inception_score_from_probs(probs, num_splits)

#----------------------------------------------------------------------------
