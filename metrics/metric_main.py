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
# Primary metrics (StyleGAN2-ADA): all real images ("_full") against 50k generated ones.

@register_metric
def fid50k_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    return dict(fid50k_full=frechet_inception_distance.compute_fid(opts, max_real=None, num_gen=50000))

@register_metric
def kid50k_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    kid = kernel_inception_distance.compute_kid(opts, max_real=1000000, num_gen=50000, **KID)
    return dict(kid50k_full=kid)

@register_metric
def pr50k3_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    precision, recall = precision_recall.compute_pr(opts, max_real=200000, num_gen=50000, **PR)
    return dict(pr50k3_full_precision=precision, pr50k3_full_recall=recall)

@register_metric
def is50k(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    mean, std = inception_score.compute_is(opts, num_gen=50000, num_splits=10)
    return dict(is50k_mean=mean, is50k_std=std)

#----------------------------------------------------------------------------
# Legacy metrics (StyleGAN2-ADA): as many real images as generated ones.

@register_metric
def fid50k(opts):
    opts.dataset_kwargs.update(max_size=None)
    return dict(fid50k=frechet_inception_distance.compute_fid(opts, max_real=50000, num_gen=50000))

@register_metric
def kid50k(opts):
    opts.dataset_kwargs.update(max_size=None)
    kid = kernel_inception_distance.compute_kid(opts, max_real=50000, num_gen=50000, **KID)
    return dict(kid50k=kid)

@register_metric
def pr50k3(opts):
    opts.dataset_kwargs.update(max_size=None)
    precision, recall = precision_recall.compute_pr(opts, max_real=50000, num_gen=50000, **PR)
    return dict(pr50k3_precision=precision, pr50k3_recall=recall)

#----------------------------------------------------------------------------
# Quick variants for snapshots and search (ours): same protocols on fewer images. Values are biased
# upwards against the 50k ones (FID falls with sample size), so compare only equal names.

@register_metric
def fid10k_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    return dict(fid10k_full=frechet_inception_distance.compute_fid(opts, max_real=None, num_gen=10000))

@register_metric
def fid5k_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    return dict(fid5k_full=frechet_inception_distance.compute_fid(opts, max_real=None, num_gen=5000))

@register_metric
def fid2k_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    return dict(fid2k_full=frechet_inception_distance.compute_fid(opts, max_real=None, num_gen=2000))

@register_metric
def fid10k(opts):
    opts.dataset_kwargs.update(max_size=None)
    return dict(fid10k=frechet_inception_distance.compute_fid(opts, max_real=10000, num_gen=10000))

@register_metric
def fid5k(opts):
    opts.dataset_kwargs.update(max_size=None)
    return dict(fid5k=frechet_inception_distance.compute_fid(opts, max_real=5000, num_gen=5000))

@register_metric
def fid2k(opts):
    opts.dataset_kwargs.update(max_size=None)
    return dict(fid2k=frechet_inception_distance.compute_fid(opts, max_real=2000, num_gen=2000))

@register_metric
def kid10k_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    kid = kernel_inception_distance.compute_kid(opts, max_real=1000000, num_gen=10000, **KID)
    return dict(kid10k_full=kid)

@register_metric
def kid10k(opts):
    opts.dataset_kwargs.update(max_size=None)
    kid = kernel_inception_distance.compute_kid(opts, max_real=10000, num_gen=10000, **KID)
    return dict(kid10k=kid)

@register_metric
def pr10k3_full(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    precision, recall = precision_recall.compute_pr(opts, max_real=200000, num_gen=10000, **PR)
    return dict(pr10k3_full_precision=precision, pr10k3_full_recall=recall)

@register_metric
def is10k(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    mean, std = inception_score.compute_is(opts, num_gen=10000, num_splits=10)
    return dict(is10k_mean=mean, is10k_std=std)

@register_metric
def is5k(opts):
    opts.dataset_kwargs.update(max_size=None, xflip=False)
    mean, std = inception_score.compute_is(opts, num_gen=5000, num_splits=10)
    return dict(is5k_mean=mean, is5k_std=std)

#----------------------------------------------------------------------------
