"""Metric registry with the names of StyleGAN2-ADA (Karras et al. 2020), calc_metric and report_metric."""

import json
import os
import time

import torch

import dnnlib
from . import frechet_inception_distance
from . import inception_score
from . import kernel_inception_distance
from . import metric_utils
from . import perceptual_path_length
from . import precision_recall

#----------------------------------------------------------------------------
# Registry: metric name -> function(opts) -> dict of results.

_metric_dict = dict() # name -> fn

def register_metric(fn):
    assert callable(fn)
    _metric_dict[fn.__name__] = fn
    return fn

def is_valid_metric(metric):
    return metric in _metric_dict

def list_valid_metrics():
    return list(_metric_dict.keys())

def check_metric_names(metrics):
    """Raise UserError naming the valid metrics if any name in `metrics` is unknown."""
    unknown = [m for m in metrics if not is_valid_metric(m)]
    if unknown:
        raise dnnlib.UserError(f'--metrics: unknown metric {", ".join(unknown)}; '
                               f'valid metrics: {", ".join(list_valid_metrics())}')

#----------------------------------------------------------------------------
# The generator must make images of the dataset's resolution, and labels of its size when conditional.

def check_generator_matches_dataset(opts):
    if opts.G is None or not opts.dataset_kwargs:
        return
    dataset = dnnlib.util.construct_class_by_name(**opts.dataset_kwargs)
    path = opts.dataset_kwargs.get('path', 'the dataset')
    G_res = getattr(opts.G, 'img_resolution', None)
    if G_res is not None and G_res != dataset.resolution:
        res = dataset.resolution
        raise dnnlib.UserError(f'generator resolution {G_res} does not match {path} ({res}x{res}); '
                               f'pass --data with {G_res}x{G_res} images')
    c_dim = getattr(opts.G, 'c_dim', 0)
    if c_dim > 0 and dataset.label_dim != c_dim:
        raise dnnlib.UserError(f'generator takes {c_dim} labels but {path} has {dataset.label_dim}')

#----------------------------------------------------------------------------
# Compute one metric. kwargs are those of metric_utils.MetricOptions. Returns an EasyDict with
# results, metric, total_time, total_time_str, num_gpus, and `skipped` (a one-line reason) when the
# metric cannot run with the chosen detector.

def metric_detector(metric, opts):
    """The detector spec a metric's number comes from, as recorded in metric-*.jsonl: precision/recall and PPL use
    the VGG16 (pr_detector), the others the Inception detector ('offline' when none was named)."""
    if metric.startswith(('pr', 'ppl')):
        return opts.pr_detector
    return opts.detector if opts.detector is not None else 'offline'

def calc_metric(metric, **kwargs):
    check_metric_names([metric])
    opts = metric_utils.MetricOptions(**kwargs)
    check_generator_matches_dataset(opts)

    # Calculate.
    start_time = time.time()
    skipped = None
    try:
        results = _metric_dict[metric](opts)
    except inception_score.MetricSkipped as err:
        results, skipped = dict(), str(err)
    total_time = time.time() - start_time

    # Broadcast results from rank 0.
    for key, value in list(results.items()):
        if opts.num_gpus > 1:
            value = torch.as_tensor(value, dtype=torch.float64, device=opts.device)
            torch.distributed.broadcast(value, src=0)
            value = float(value.cpu())
        results[key] = value

    result_dict = dnnlib.EasyDict(
        results         = dnnlib.EasyDict(results),
        metric          = metric,
        total_time      = total_time,
        total_time_str  = dnnlib.util.format_time(total_time),
        num_gpus        = opts.num_gpus,
        detector        = metric_detector(metric, opts),
    )
    if skipped is not None:
        result_dict.skipped = skipped
    return result_dict

#----------------------------------------------------------------------------
# Print a result as one JSON line and append it to <run_dir>/metric-<name>.jsonl (a skipped metric
# prints its reason and writes nothing).

def report_metric(result_dict, run_dir=None, snapshot_pkl=None):
    metric = result_dict['metric']
    assert is_valid_metric(metric)
    if result_dict.get('skipped') is not None:
        print(f'{metric}: skipped, {result_dict["skipped"]}')
        return
    if run_dir is not None and snapshot_pkl is not None:
        snapshot_pkl = os.path.relpath(snapshot_pkl, run_dir)
    jsonl_line = json.dumps(dict(result_dict, snapshot_pkl=snapshot_pkl, timestamp=time.time()))
    print(jsonl_line)
    if run_dir is not None and os.path.isdir(run_dir):
        with open(os.path.join(run_dir, f'metric-{metric}.jsonl'), 'at') as f:
            f.write(jsonl_line + '\n')

#----------------------------------------------------------------------------
# Protocol constants of StyleGAN2-ADA's metric_main: KID subsets, and the k of precision/recall with
# its distance blocks.

KID = dict(num_subsets=100, max_subset_size=1000)
PR = dict(nhood_size=3, row_batch_size=10000, col_batch_size=10000)

#----------------------------------------------------------------------------
# The protocols, by StyleGAN2-ADA's names. "_full" metrics use every real image without x-flip; the others draw
# the real images from the dataset as configured (x-flip included). KID and PR "_full" cap the real set at
# 1,000,000 and 200,000 as StyleGAN2-ADA does. Our quick variants (10k, 5k, 2k) follow the same protocols on fewer
# images; their values are biased upwards against the 50k ones (FID falls with sample size), so compare only
# equal names.

def _compute_fid(opts, name, max_real, num_gen):
    return {name: frechet_inception_distance.compute_fid(opts, max_real=max_real, num_gen=num_gen)}

def _compute_kid(opts, name, max_real, num_gen):
    return {name: kernel_inception_distance.compute_kid(opts, max_real=max_real, num_gen=num_gen, **KID)}

def _compute_pr(opts, name, max_real, num_gen):
    precision, recall = precision_recall.compute_pr(opts, max_real=max_real, num_gen=num_gen, **PR)
    return {f'{name}_precision': precision, f'{name}_recall': recall}

def _compute_is(opts, name, max_real, num_gen):
    mean, std = inception_score.compute_is(opts, num_gen=num_gen, num_splits=10)
    return {f'{name}_mean': mean, f'{name}_std': std}

def _register_protocol(name, compute, max_real, num_gen, full):
    def metric(opts):
        opts.dataset_kwargs.update(max_size=None, **(dict(xflip=False) if full else {}))
        return compute(opts, name, max_real, num_gen)
    metric.__name__ = name
    register_metric(metric)

#    name           compute       max_real   num_gen  full
for _protocol in [
    ('fid50k_full', _compute_fid, None,      50000,   True),  # Primary metrics of StyleGAN2-ADA.
    ('kid50k_full', _compute_kid, 1000000,   50000,   True),
    ('pr50k3_full', _compute_pr,  200000,    50000,   True),
    ('is50k',       _compute_is,  None,      50000,   True),
    ('fid50k',      _compute_fid, 50000,     50000,   False), # Legacy metrics: as many real images as generated.
    ('kid50k',      _compute_kid, 50000,     50000,   False),
    ('pr50k3',      _compute_pr,  50000,     50000,   False),
    ('fid10k_full', _compute_fid, None,      10000,   True),  # Quick variants (ours) for snapshots and search.
    ('fid5k_full',  _compute_fid, None,      5000,    True),
    ('fid2k_full',  _compute_fid, None,      2000,    True),
    ('fid10k',      _compute_fid, 10000,     10000,   False),
    ('fid5k',       _compute_fid, 5000,      5000,    False),
    ('fid2k',       _compute_fid, 2000,      2000,    False),
    ('kid10k_full', _compute_kid, 1000000,   10000,   True),
    ('kid10k',      _compute_kid, 10000,     10000,   False),
    ('pr10k3_full', _compute_pr,  200000,    10000,   True),
    ('is10k',       _compute_is,  None,      10000,   True),
    ('is5k',        _compute_is,  None,      5000,    True),
]:
    _register_protocol(*_protocol)

# Perceptual path length over 50,000 paths with epsilon 1e-4 (StyleGAN2-ADA's metric_main): ppl2_wend is its primary
# one (W, path ends, whole image); the others are StyleGAN's (Z or W, anywhere on the path or at its end, face crop).

def _register_ppl(name, space, sampling, crop):
    def metric(opts):
        return {name: perceptual_path_length.compute_ppl(opts, num_samples=50000, epsilon=1e-4, space=space,
                                                         sampling=sampling, crop=crop)}
    metric.__name__ = name
    register_metric(metric)

for _ppl in [('ppl2_wend', 'w', 'end', False), ('ppl_zfull', 'z', 'full', True), ('ppl_wfull', 'w', 'full', True),
             ('ppl_zend', 'z', 'end', True), ('ppl_wend', 'w', 'end', True)]:
    _register_ppl(*_ppl)

#----------------------------------------------------------------------------
