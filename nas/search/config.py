"""The configuration of a search (alphaGAN, Tian et al. 2022; AutoGAN, Gong et al. 2019; random search) as a
package API: search.py's options -> the plain JSON config `c` that nas.search.search_loop runs, the checks that
name the option at fault, and the --dry-run description. search.py, bench/ and the tests build configs here."""

import shlex

import torch

import dnnlib
from dnnlib.util import UserError
from nas import backbones
from nas.search import methods
from torch_utils import distributed

#----------------------------------------------------------------------------
# The command-line spelling of an option (an opts key), for error messages.

def flag(name):
    return f'--{name}' if name in 'TSR' else f'--{name.replace("_", "-")}'

#----------------------------------------------------------------------------
# Build the search config `c` (plain JSON) from the CLI options; every check names its option. `given` holds the
# options set on the command line.

SELECT_READS = ('reward', 'reward_samples', 'reward_real', 'detector') # the metric of --select-top, for every method

def check_options(opts, given):
    method = methods.get(opts.method)
    for name in sorted(given):
        readers = methods.option_methods(name)
        if opts.method not in readers and not (name in SELECT_READS and opts.get('select_top') is not None):
            also = ', or with --select-top' if name in SELECT_READS else ''
            raise UserError(f'{flag(name)}: only for --method={" or ".join(readers)}{also}, not --method={opts.method}')
    with_modes = [name for name in backbones.names() if len(backbones.get(name).modes) > 1]
    if opts.backbone is None:
        mode_backbones = [name for name in method.backbones if name in with_modes]
        opts.backbone = mode_backbones[0] if opts.mode is not None and mode_backbones else method.backbones[0]
    if opts.backbone not in method.backbones:
        raise UserError(f'--backbone={opts.backbone}: --method={opts.method} searches '
                        f'--backbone={" or ".join(method.backbones)}')
    backbone = backbones.get(opts.backbone)
    if opts.mode is not None and opts.mode not in backbone.modes:
        raise UserError(f'--mode: only for --backbone={" or ".join(with_modes)} '
                        f'(the {opts.backbone} space has one mode)')
    widths = {'width_frac': ['width_frac'], 'channels': ['g_channels', 'd_channels']}
    for name in sorted(set(sum(widths.values(), [])) - set(widths[backbone.width_option])):
        if opts[name] is not None:
            owners = [b for b in backbones.names() if name in widths[backbones.get(b).width_option]]
            other = '/'.join(flag(n) for n in widths[backbone.width_option])
            raise UserError(f'{flag(name)}: only for --backbone={" or ".join(owners)}; use {other}')
    if opts.up_ops != 'default' and 'up_ops' not in backbone.search_options:
        owners = [b for b in backbones.names() if 'up_ops' in backbones.get(b).search_options]
        raise UserError(f'--up-ops: only for --backbone={" or ".join(owners)} (its op-set ablation, alphaGAN '
                        f'Tables 6-7)')
    spec = backbone.search_defaults
    opts.mode = opts.mode or spec['mode']
    opts.g_channels = opts.g_channels or spec.get('g_channels')
    opts.d_channels = opts.d_channels or spec.get('d_channels')
    opts.width_frac = opts.width_frac or 1 / 8
    opts.n_critic = opts.n_critic or method.n_critic

def setup_search_config(opts, given=()):
    c = dnnlib.EasyDict()
    check_options(opts, given)
    method = methods.get(opts.method)

    # Dataset.
    c.training_set_kwargs = dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=opts.data,
                                            use_labels=opts.cond, max_size=None, xflip=False)
    try:
        dataset = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    except UserError as err:
        raise UserError(f'--data: {err}') from err
    if opts.cond and not dataset.has_labels:
        raise UserError(f'--cond: {opts.data} has no labels (dataset.json)')
    resolution = dataset.resolution
    reason = backbones.get(opts.backbone).resolution_error(resolution)
    if reason is not None:
        raise UserError(f'--data: resolution {resolution} of {opts.data} {reason}, as the {opts.backbone} generator '
                        f'needs')
    c.training_set_kwargs.resolution = resolution
    c.training_set_kwargs.max_size = len(dataset)
    dataset_name = dataset.name
    label_dim = dataset.label_dim
    num_images = len(dataset)
    if num_images < 2:
        raise UserError(f'--data: {opts.data} has {num_images} image(s); '
                        f'the search needs a train and a validation split')
    del dataset # conserve memory

    # Schedule and algorithm.
    backbone_defaults = backbones.get(opts.backbone).search_defaults
    c.batch_size = opts.batch or backbone_defaults['batch']
    c.num_gpus = opts.gpus
    if c.batch_size % opts.gpus != 0:
        raise UserError(f'--batch: {c.batch_size} is not divisible by --gpus={opts.gpus}')
    distributed.check_devices('--gpus', opts.gpus, opts.device)
    c.num_iters = opts.iters or method.iters or backbone_defaults['iters']
    c.G_kwargs, c.D_kwargs = backbones.get(opts.backbone).search_networks(opts, c.batch_size)
    preset = method.configure(opts, c)
    if opts.get('max_params') is not None or opts.get('max_flops') is not None: # all methods; absent, c is unchanged
        c.algorithm_kwargs.update(max_params=opts.get('max_params'), max_flops=opts.get('max_flops'))
    c.data_loader_kwargs = dnnlib.EasyDict(pin_memory=opts.device == 'cuda', num_workers=opts.workers,
                                           prefetch_factor=2 if opts.workers > 0 else None)
    # A method that trains on all the data still has one image held out: the search loop always builds two splits.
    c.val_fraction = method.val_fraction or 1 / num_images
    c.random_seed = opts.seed
    c.device = opts.device
    c.image_snapshot_iters = opts.snap
    c.state_snapshot_iters = opts.snap
    c.keep_states = opts.keep
    c.on_collapse = opts.on_collapse
    if method.collapse_kwargs is not None:
        c.collapse_kwargs = dnnlib.EasyDict(method.collapse_kwargs)
    c.provenance = dict(method=opts.method, data=dataset_name)
    if opts.cond: # the derived G re-trains conditional with train.py --cond=1 on labels of this many classes
        c.provenance['extra'] = dict(cond=True, c_dim=label_dim)
    c.resume = opts.resume
    select_kwargs = selection_config(opts, c)
    if select_kwargs is not None: # absent without --select-top: the config of a plain search stays what it was
        c.select_kwargs = select_kwargs

    desc = f'{dataset_name}-{opts.backbone}' + backbones.get(opts.backbone).run_desc(opts.mode)
    desc += f'-{opts.method}-{preset}batch{c.batch_size}' + ('-cond' if opts.cond else '')
    return c, desc

#----------------------------------------------------------------------------
# --select-top=K --select-kimg=N (nas.search.selection): the candidates the method offers, the re-training budget and
# train.py options, and the metric (the run's reward: AutoGAN's and random search's own, alphaGAN's from the same
# options, 1/FID with the offline detector by default).

def selection_config(opts, c):
    top = opts.get('select_top')
    if top is None:
        for name in ['select_kimg', 'select_args']:
            if opts.get(name) is not None:
                raise UserError(f'{flag(name)}: only with --select-top')
        return None
    if opts.select_kimg is None:
        raise UserError('--select-top: needs --select-kimg, the re-training budget of each candidate')
    most, bound = methods.get(opts.method).max_candidates(c)
    if top > most:
        raise UserError(f'--select-top={top}: --method={opts.method} offers at most {most} candidate(s) ({bound})')
    if c.num_gpus != 1:
        raise UserError(f'--select-top: re-trains on one device; not with --gpus={c.num_gpus}')
    try:
        train_args = shlex.split(opts.select_args or '')
    except ValueError as err:
        raise UserError(f'--select-args: {err}') from err
    if opts.cond: # the candidates re-train conditional, as the search ran
        train_args = ['--cond=1'] + train_args
    from nas.search import selection
    for arg in train_args:
        if arg.split('=', 1)[0] in selection.OWN_TRAIN_OPTIONS:
            raise UserError(f'--select-args: {arg.split("=", 1)[0]} is set by the selection itself')
    metric = {k: v for k, v in c.algorithm_kwargs.items() if k in ['reward', 'reward_samples', 'evaluator_kwargs']}
    if not metric: # a method without a reward (alphaGAN): the same options define the metric
        from nas.search.reward import reward_config
        metric = {k: v for k, v in reward_config(opts, c).items() if k != 'reward_note'}
    return dnnlib.EasyDict(top=top, kimg=opts.select_kimg, data=opts.data, train_args=train_args,
                           seed=opts.seed, **metric)

#----------------------------------------------------------------------------
# --dry-run: build the networks (and the algorithm) in memory and describe them and the space; nothing touches the
# disk and no reward is computed.

def build_search(c):
    """(dataset, G, D, algorithm) of config `c`, built on the CPU."""
    dataset = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    common_kwargs = dict(c_dim=dataset.label_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels)
    try:
        G = dnnlib.util.construct_class_by_name(**c.G_kwargs, **common_kwargs)
    except ImportError as err:
        raise UserError(f'--backbone: the supernet {c.G_kwargs.class_name} is not available ({err})') from err
    D = dnnlib.util.construct_class_by_name(**c.D_kwargs, **common_kwargs)
    algorithm = dnnlib.util.construct_class_by_name(G=G, D=D, device=torch.device('cpu'), **c.algorithm_kwargs)
    return dataset, G, D, algorithm

def check_budget(c):
    """--max-params/--max-flops: the algorithm, built in memory, checks that the space can meet them (a UserError
    naming the option otherwise) before anything is written."""
    if c.algorithm_kwargs.get('max_params') is not None or c.algorithm_kwargs.get('max_flops') is not None:
        build_search(c)

def describe_search(c, opts):
    dataset, G, D, algorithm = build_search(c)
    size = G.space_size()
    print(f'Search space size:      {size} (~{float(size):.3g}) architectures')
    describe = methods.get(opts.method).describe
    for line in describe(algorithm, G, dataset, c) if describe is not None else []:
        print(line)
    num_d = sum(p.numel() for p in D.parameters())
    print(f'D parameters:           {num_d}')
    if 'select_kwargs' in c:
        s = c.select_kwargs
        print(f'Selection:              top {s.top} re-trained {s.kimg:g} kimg each by train.py '
              f'{" ".join(s.train_args)}'.rstrip() + f', picked by {s.reward} of {s.reward_samples} images')

#----------------------------------------------------------------------------
