"""Compute quality metrics (FID, KID, IS, precision/recall) of a trained generator, or between two datasets,
with the metric names of StyleGAN2-ADA (Karras et al. 2020)."""

import copy
import json
import os

import click
import torch

import dnnlib
from dnnlib.util import UserError, bool_option, cli_main
from metrics import detectors
from metrics import metric_main
import nas.backbones # every backbone's networks, also under the names older snapshots use
from torch_utils import distributed

#----------------------------------------------------------------------------
# Generator and training-set kwargs of a network file; the dataset comes from the file itself or from
# training_options.json beside it.

def load_generator(network, allow_pickle):
    from training import stylegan2_ada_import # ganas's and StyleGAN2-ADA's network formats
    net = stylegan2_ada_import.load_network(network, allow_pickle=allow_pickle, device='cpu')
    G = net.get('G_ema', net.get('G'))
    if G is None:
        raise UserError(f'--network: {network} holds no G_ema or G')
    training_set_kwargs = net.get('training_set_kwargs')
    options_file = os.path.join(os.path.dirname(os.path.abspath(network)), 'training_options.json')
    if training_set_kwargs is None and not dnnlib.util.is_url(network) and os.path.isfile(options_file):
        with open(options_file, encoding='utf-8') as f:
            options = json.load(f)
        training_set_kwargs = options.get('training_set_kwargs', options.get('dataset_kwargs'))
    return G, training_set_kwargs

def open_dataset(option, dataset_kwargs):
    try:
        return dnnlib.util.construct_class_by_name(**dataset_kwargs)
    except UserError as err:
        raise UserError(f'{option}: {err}') from None

#----------------------------------------------------------------------------
# One process per GPU (or CPU process without CUDA); rank 0 reports.

def subprocess_fn(rank, args):
    device = torch.device('cuda', rank) if torch.cuda.is_available() else torch.device('cpu')
    if device.type == 'cuda':
        torch.cuda.set_device(device)
    G = copy.deepcopy(args.G).eval().requires_grad_(False).to(device) if args.G is not None else None

    for metric in args.metrics:
        if rank == 0 and args.verbose:
            print(f'Calculating {metric}...')
        result_dict = metric_main.calc_metric(metric=metric, G=G, dataset_kwargs=args.dataset_kwargs,
            gen_dataset_kwargs=args.gen_dataset_kwargs, num_gpus=args.num_gpus, rank=rank, device=device,
            detector=args.detector, pr_detector=args.pr_detector, allow_pickle=args.allow_pickle,
            batch_size=args.batch, progress=args.verbose, seed=args.seed)
        if rank == 0:
            metric_main.report_metric(result_dict, run_dir=args.run_dir, snapshot_pkl=args.network)

#----------------------------------------------------------------------------
# Command line: validate everything once, then run the metrics in one or several processes.

@click.command()
@click.option('--network',      help='Network to evaluate (pickle or safe file)', metavar='PATH|URL')
@click.option('--metrics',      help='Comma-separated metric names', metavar='LIST', default='fid50k_full', show_default=True)
@click.option('--data',         help='Real data, zip or folder  [default: the network\'s training set]', metavar='PATH')
@click.option('--data2',        help='Measure this dataset in place of a generator', metavar='PATH')
@bool_option('--mirror',        help='x-flip the real data  [default: as in training]', default=None)
@click.option('--gpus',         help='Processes, one per GPU (CPU processes without CUDA)', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--detector',     help='Inception detector: offline, inception, a path or URL', metavar='SPEC', default='offline', show_default=True)
@click.option('--pr-detector',  help='Detector for precision/recall', metavar='SPEC', default='vgg16', show_default=True)
@click.option('--allow-pickle', help='Allow pickled networks and detectors (they run code when loaded)', is_flag=True)
@click.option('--batch',        help='Images per detector call per process', type=click.IntRange(min=1), default=64, show_default=True)
@click.option('--seed',         help='Seed of latents, labels and KID subsets', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--run-dir',      help='Append metric-<name>.jsonl here  [default: the network\'s directory]', metavar='DIR')
@bool_option('--verbose',       help='Print progress', default=True)
@click.option('--quiet',        help='Same as --verbose=false', is_flag=True)
def main(**kwargs):
    """Compute quality metrics of a generator against a dataset, or of one dataset against another.

    \b
    Examples:
    python calc_metrics.py --metrics=fid50k_full,kid50k_full --network=runs/00000-x/network-snapshot-000200.pkl
    python calc_metrics.py --metrics=fid10k --data=datasets/fmnist32.zip --data2=datasets/fmnist32-test.zip

    \b
    Metrics: fid50k_full, kid50k_full, pr50k3_full, is50k (StyleGAN2-ADA), fid50k, kid50k, pr50k3,
    and quick variants fid10k_full, fid5k_full, fid2k_full, fid10k, fid5k, fid2k, kid10k_full, kid10k,
    pr10k3_full, is10k, is5k. The offline detector has no logits, so IS needs --detector=inception.
    """
    opts = dnnlib.EasyDict(kwargs)
    args = dnnlib.EasyDict(network=opts.network, num_gpus=opts.gpus, detector=opts.detector,
                           pr_detector=opts.pr_detector, allow_pickle=opts.allow_pickle, batch=opts.batch,
                           seed=opts.seed, verbose=opts.verbose and not opts.quiet, G=None, gen_dataset_kwargs=None, run_dir=opts.run_dir)

    # Sanity checks.
    args.metrics = [m.strip() for m in opts.metrics.split(',') if m.strip()]
    if not args.metrics:
        raise UserError('--metrics: give at least one metric name')
    metric_main.check_metric_names(args.metrics)
    if (opts.network is None) == (opts.data2 is None):
        raise UserError('give either --network (a generator) or --data2 (a second dataset)')
    if opts.data2 is not None and opts.data is None:
        raise UserError('--data2 needs --data')
    distributed.check_devices('--gpus', opts.gpus, 'cuda' if torch.cuda.is_available() else 'cpu')

    # Detectors: load once here so that a missing or bad file fails in one line before any work.
    needs_pr = any(m.startswith('pr') for m in args.metrics)
    for option, spec in [('--detector', opts.detector)] + ([('--pr-detector', opts.pr_detector)] if needs_pr else []):
        try:
            detectors.get_feature_detector(spec, device='cpu', allow_pickle=opts.allow_pickle, verbose=args.verbose)
        except UserError as err:
            raise UserError(f'{option}: {err}') from None

    # Generator and datasets.
    training_set_kwargs = None
    if opts.network is not None:
        args.G, training_set_kwargs = load_generator(opts.network, opts.allow_pickle)
        if args.run_dir is None and os.path.isfile(opts.network):
            args.run_dir = os.path.dirname(opts.network)
    if opts.data is not None:
        args.dataset_kwargs = dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=opts.data)
    elif training_set_kwargs is not None:
        args.dataset_kwargs = dnnlib.EasyDict(training_set_kwargs)
    else:
        raise UserError('--data: the network records no training set; pass --data')
    c_dim = getattr(args.G, 'c_dim', 0) if args.G is not None else 0
    args.dataset_kwargs.update(use_labels=(c_dim != 0), max_size=None, resolution=None)
    if opts.mirror is not None:
        args.dataset_kwargs.xflip = opts.mirror
    dataset = open_dataset('--data', args.dataset_kwargs)
    if args.G is not None:
        G_res = args.G.img_resolution
        if G_res != dataset.resolution:
            raise UserError(f'--data: {args.dataset_kwargs.path} is {dataset.resolution}x{dataset.resolution}, '
                            f'the generator makes {G_res}x{G_res} images')
        if c_dim != 0 and dataset.label_dim != c_dim:
            raise UserError(f'--data: {args.dataset_kwargs.path} has {dataset.label_dim} labels, '
                            f'the generator takes {c_dim}')
    if opts.data2 is not None:
        args.gen_dataset_kwargs = dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=opts.data2)
        open_dataset('--data2', args.gen_dataset_kwargs)
    if args.verbose:
        print(json.dumps(dict(args, G=None if args.G is None else type(args.G).__name__), indent=2))

    distributed.launch(subprocess_fn, args.num_gpus, args)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
