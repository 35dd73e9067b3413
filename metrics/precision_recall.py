"""Improved precision and recall (Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models")."""

import torch

from . import metric_utils

#----------------------------------------------------------------------------
# Fraction of probes that fall inside the manifold of a feature set: the union of balls around each
# manifold point whose radius is the distance to its nhood_size-th nearest neighbour (itself excluded).
# Distances go in blocks of row_batch_size x col_batch_size, so memory stays bounded for any set size.

def _kth_nearest(rows, manifold, k, col_batch_size):
    """Distance from each row to its k-th nearest manifold point (the point itself counts as the first)."""
    best = None
    for block in manifold.split(col_batch_size):
        d = torch.cdist(rows, block)
        best = d if best is None else torch.cat([best, d], dim=1)
        best = best.topk(min(k, best.shape[1]), dim=1, largest=False).values
    return best[:, k - 1]

def manifold_coverage(manifold, probes, nhood_size=3, row_batch_size=10000, col_batch_size=10000):
    manifold = torch.as_tensor(manifold, dtype=torch.float32)
    probes = torch.as_tensor(probes, dtype=torch.float32).to(manifold.device)
    assert manifold.shape[0] > nhood_size, f'manifold needs more than {nhood_size} points'
    radii = torch.cat([_kth_nearest(rows, manifold, nhood_size + 1, col_batch_size)
                       for rows in manifold.split(row_batch_size)])
    inside = []
    for rows in probes.split(row_batch_size):
        hit = torch.zeros([rows.shape[0]], dtype=torch.bool, device=rows.device)
        for block, block_radii in zip(manifold.split(col_batch_size), radii.split(col_batch_size)):
            hit |= (torch.cdist(rows, block) <= block_radii.unsqueeze(0)).any(dim=1)
        inside.append(hit)
    return float(torch.cat(inside).to(torch.float32).mean())

def precision_recall_from_features(real_features, gen_features, nhood_size=3, row_batch_size=10000,
                                   col_batch_size=10000):
    """(precision, recall): generated samples inside the real manifold, real samples inside the generated one."""
    precision = manifold_coverage(real_features, gen_features, nhood_size, row_batch_size, col_batch_size)
    recall = manifold_coverage(gen_features, real_features, nhood_size, row_batch_size, col_batch_size)
    return precision, recall

#----------------------------------------------------------------------------

def compute_pr(opts, max_real, num_gen, nhood_size, row_batch_size, col_batch_size):
    detector = opts.get_detector(pr=True)
    real = metric_utils.compute_feature_stats_for_dataset(opts, detector, max_items=max_real, capture_all=True)
    gen = metric_utils.compute_feature_stats_for_generator(opts, detector, num_gen=num_gen, capture_all=True)
    if opts.rank != 0:
        return float('nan'), float('nan')
    real = torch.from_numpy(real.get_all()).to(opts.device)
    gen = torch.from_numpy(gen.get_all()).to(opts.device)
    return precision_recall_from_features(real, gen, nhood_size, row_batch_size, col_batch_size)

#----------------------------------------------------------------------------
