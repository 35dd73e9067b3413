"""The configuration of a search (alphaGAN, Tian et al. 2022; AutoGAN, Gong et al. 2019; random search) as a
package API: search.py's options -> the plain JSON config `c` that nas.search.search_loop runs, the checks that
name the option at fault, and the --dry-run description. search.py, bench/ and the tests build configs here."""

import math

import torch

import dnnlib
from dnnlib.util import UserError
from nas import backbones
from nas.search.alphagan import PRESETS
from nas.search.autogan import grow_schedule
from torch_utils import distributed

#----------------------------------------------------------------------------
# Per-method defaults: the backbones it searches, search iterations (None = the backbone's; random search: one
# candidate per iteration), D steps per G step (AutoGAN Sec. 4: 5).
METHOD_DEFAULTS = {
    'alphagan': dict(backbones=['conventional', 'stylegan2'], iters=None, n_critic=1),
    'autogan':  dict(backbones=['autogan'], iters=90, n_critic=5),
    'random':   dict(backbones=['conventional', 'autogan', 'stylegan2'], iters=10, n_critic=5),
}
METHODS = list(METHOD_DEFAULTS)

# Options read by some methods only; giving one to another method is an error.
OPTION_METHODS = {
    **{name: ['alphagan'] for name in ['preset', 'T', 'S', 'R', 'arch_lr', 'arch_wd', 'bar_update', 'search_d',
                                       'gumbel', 'gumbel_tau', 'warmup', 'up_ops']},
    **{name: ['autogan'] for name in ['shared_epochs', 'shared_steps', 'ctrl_steps', 'ctrl_batch', 'ctrl_lr',
                                      'entropy_weight', 'grow_iters', 'num_candidates', 'beam_size', 'reset_stat',
                                      'reset_threshold', 'reset_baseline']},
    **{name: ['autogan', 'random'] for name in ['reward', 'reward_samples', 'reward_real', 'detector', 'g_batch']},
    'train_steps': ['random'],
    'gpus': ['alphagan'], # its updates average gradients over processes; the others' do not
}

def flag(name):
    return f'--{name}' if name in 'TSR' else f'--{name.replace("_", "-")}'

#----------------------------------------------------------------------------
# The reward of AutoGAN and random search: IS or 1/FID of a child through metrics.fast.FastEvaluator. The offline
# detector (the default) has no logits, so it gives FID only.

def detector_has_logits(spec):
    """True/False where it can be told without a download (alias or local file), None for another URL."""
    from metrics import detectors
    if spec in [None, 'offline']:
        detectors.offline_detector_path() # fails with one line when the package is missing
        return False
    if spec in detectors.DETECTOR_ALIASES:
        return spec != 'vgg16'
    if dnnlib.util.is_url(spec) and not spec.startswith('file://'):
        return None
    try:
        return detectors.get_feature_detector(spec, device='cpu').has_logits
    except UserError as err:
        raise UserError(f'--detector: {str(err).removeprefix("detector ")}') from err

def reward_config(opts, c):
    has_logits = detector_has_logits(opts.detector)
    reward = opts.reward or ('is' if has_logits else 'fid')
    if reward == 'is' and has_logits is False:
        raise UserError(f'--reward=is: the detector {opts.detector or "offline"} has no logits, so it gives no '
                        f'Inception Score; use --reward=fid or --detector=inception')
    evaluator_kwargs = dnnlib.EasyDict(dataset_kwargs=c.training_set_kwargs, max_real=opts.reward_real,
                                       detector=opts.detector, batch_size=min(64, opts.reward_samples)) # no spare images
    return dict(reward=reward, reward_samples=opts.reward_samples, evaluator_kwargs=evaluator_kwargs)

#----------------------------------------------------------------------------
# Algorithm config of each method: algorithm_kwargs, G_kwargs, D_kwargs.

def alphagan_config(opts, c):
    if opts.search_d:
        raise UserError('--search-d: ganas has no searchable discriminator yet (the algorithm supports one with '
                        'arch_parameters())')
    preset = PRESETS[opts.preset][opts.backbone]
    c.algorithm_kwargs = dnnlib.EasyDict(class_name='nas.search.alphagan.AlphaGAN',
        T=opts.T or preset['T'], S=opts.S if opts.S is not None else preset['S'], R=opts.R or preset['R'],
        n_critic=opts.n_critic, lr=opts.lr, betas=[0.0, 0.999], arch_lr=opts.arch_lr, arch_betas=[0.5, 0.999],
        arch_wd=opts.arch_wd, bar_update=opts.bar_update, search_D=False,
        warmup_iters=c.num_iters // 2 if opts.warmup else 0)
    c.G_kwargs, c.D_kwargs = backbones.get(opts.backbone).search_networks(opts, c.batch_size)
    return f'{opts.preset}-'

def autogan_config(opts, c):
    grow_iters = grow_schedule(c.num_iters) if opts.grow_iters is None else opts.grow_iters
    if sorted(set(grow_iters)) != grow_iters or not all(0 < it < c.num_iters for it in grow_iters) \
            or len(grow_iters) > 2:
        raise UserError(f'--grow-iters: {",".join(map(str, grow_iters))}: at most two increasing iterations in 1..{c.num_iters - 1} '
                        f'(three cells)')
    c.algorithm_kwargs = dnnlib.EasyDict(class_name='nas.search.autogan.AutoGAN', num_iters=c.num_iters,
        grow_iters=grow_iters, shared_epochs=opts.shared_epochs, shared_steps=opts.shared_steps,
        n_critic=opts.n_critic, g_batch=opts.g_batch, lr=opts.lr, betas=[0.0, 0.9], ctrl_lr=opts.ctrl_lr,
        ctrl_betas=[0.0, 0.9], ctrl_steps=opts.ctrl_steps, ctrl_batch=opts.ctrl_batch,
        entropy_weight=opts.entropy_weight, num_candidates=opts.num_candidates, beam_size=opts.beam_size,
        reset_baseline=opts.reset_baseline, reset_threshold=opts.reset_threshold, reset_stat=opts.reset_stat,
        **reward_config(opts, c), seed=opts.seed)
    c.G_kwargs, c.D_kwargs = backbones.get(opts.backbone).search_networks(opts, c.batch_size)
    return ''

def random_config(opts, c):
    backbone = backbones.get(opts.backbone)
    c.G_kwargs, c.D_kwargs = backbone.search_networks(opts, c.batch_size)
    c.algorithm_kwargs = dnnlib.EasyDict(class_name='nas.search.random_search.RandomSearch', space=opts.backbone,
        num_samples=c.num_iters, mode=opts.mode if len(backbone.modes) > 1 else None,
        child_kwargs=backbone.child_kwargs(opts, c.G_kwargs),
        train_steps=opts.train_steps, n_critic=opts.n_critic, g_batch=opts.g_batch, lr=opts.lr, betas=[0.0, 0.9],
        **reward_config(opts, c), seed=opts.seed)
    return ''

#----------------------------------------------------------------------------
# Build the search config `c` (plain JSON) from the CLI options; every check names its option. `given` holds the
# options set on the command line.

def check_options(opts, given):
    defaults = METHOD_DEFAULTS[opts.method]
    for name in sorted(given):
        methods = OPTION_METHODS.get(name, METHODS)
        if opts.method not in methods:
            raise UserError(f'{flag(name)}: only for --method={" or ".join(methods)}, not --method={opts.method}')
    with_modes = [name for name in backbones.names() if len(backbones.get(name).modes) > 1]
    if opts.backbone is None:
        mode_backbones = [name for name in defaults['backbones'] if name in with_modes]
        opts.backbone = mode_backbones[0] if opts.mode is not None and mode_backbones else defaults['backbones'][0]
    if opts.backbone not in defaults['backbones']:
        raise UserError(f'--backbone={opts.backbone}: --method={opts.method} searches '
                        f'--backbone={" or ".join(defaults["backbones"])}')
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
    opts.n_critic = opts.n_critic or defaults['n_critic']

def setup_search_config(opts, given=()):
    c = dnnlib.EasyDict()
    check_options(opts, given)

    # Dataset.
    c.training_set_kwargs = dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=opts.data,
                                            use_labels=False, max_size=None, xflip=False)
    try:
        dataset = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    except UserError as err:
        raise UserError(f'--data: {err}') from err
    resolution = dataset.resolution
    reason = backbones.get(opts.backbone).resolution_error(resolution)
    if reason is not None:
        raise UserError(f'--data: resolution {resolution} of {opts.data} {reason}, as the {opts.backbone} generator '
                        f'needs')
    c.training_set_kwargs.resolution = resolution
    c.training_set_kwargs.max_size = len(dataset)
    dataset_name = dataset.name
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
    c.num_iters = opts.iters or METHOD_DEFAULTS[opts.method]['iters'] or backbone_defaults['iters']
    preset = dict(alphagan=alphagan_config, autogan=autogan_config, random=random_config)[opts.method](opts, c)
    c.data_loader_kwargs = dnnlib.EasyDict(pin_memory=opts.device == 'cuda', num_workers=opts.workers,
                                           prefetch_factor=2 if opts.workers > 0 else None)
    # alphaGAN: half for the weights, half for the architecture (supp. A.1.1). AutoGAN and random search train on
    # all the data; one image is held out because the search loop always builds two splits.
    c.val_fraction = 0.5 if opts.method == 'alphagan' else 1 / num_images
    c.random_seed = opts.seed
    c.device = opts.device
    c.image_snapshot_iters = opts.snap
    c.state_snapshot_iters = opts.snap
    c.keep_states = opts.keep
    c.on_collapse = opts.on_collapse
    # Deconv taking over is alphaGAN's failure case (paper Sec. 5.4.2, Table 5); for the other methods a normal choice.
    if opts.method != 'alphagan':
        c.collapse_kwargs = dnnlib.EasyDict(watch_ops=[])
    c.provenance = dict(method=opts.method, data=dataset_name)
    c.resume = opts.resume

    desc = f'{dataset_name}-{opts.backbone}' + backbones.get(opts.backbone).run_desc(opts.mode)
    desc += f'-{opts.method}-{preset}batch{c.batch_size}'
    return c, desc

#----------------------------------------------------------------------------
# --dry-run: build the networks (and the algorithm) in memory and describe them and the space; nothing touches the
# disk and no reward is computed.

def describe_search(c, opts):
    dataset = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    common_kwargs = dict(c_dim=dataset.label_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels)
    try:
        G = dnnlib.util.construct_class_by_name(**c.G_kwargs, **common_kwargs)
    except ImportError as err:
        raise UserError(f'--backbone: the supernet {c.G_kwargs.class_name} is not available ({err})') from err
    D = dnnlib.util.construct_class_by_name(**c.D_kwargs, **common_kwargs)
    algorithm = dnnlib.util.construct_class_by_name(G=G, D=D, device=torch.device('cpu'), **c.algorithm_kwargs)
    num_d = sum(p.numel() for p in D.parameters())
    if opts.method == 'random':
        size = backbones.get(opts.backbone).space_size(opts.mode, dataset.resolution)
        counts = [sum(p.numel() for p in algorithm.build_child(i).parameters()) for i in range(algorithm.num_samples)]
        print(f'Search space size:      {size} (~{float(size):.3g}) architectures')
        print(f'Candidates:             {algorithm.num_samples}, {algorithm.train_steps} D steps each '
              f'(budget {algorithm.num_samples * algorithm.train_steps} D steps)')
        print(f'G parameters:           {min(counts)} to {max(counts)} (candidates)')
    elif opts.method == 'autogan':
        from nas.search.controller import Controller
        from nas.space import primitives
        size = G.space_size()
        train_images = len(dataset) - round(len(dataset) * c.val_fraction)
        steps = algorithm.shared_steps or algorithm.shared_epochs * math.ceil(train_images / c.batch_size)
        ctrl = [sum(p.numel() for p in Controller(primitives.autogan_token_sizes(s), algorithm.hidden_size).parameters())
                for s in range(len(primitives.AUTOGAN_CELLS))]
        print(f'Search space size:      {size} (~{float(size):.3g}) architectures')
        print(f'Controller parameters:  {", ".join(str(n) for n in ctrl)} (one controller per cell)')
        print(f'Schedule:               {c.num_iters} iterations of {steps} D steps and {algorithm.ctrl_steps} '
              f'controller steps; cells added after iterations {list(algorithm.grow_iters)}')
        print(f'G parameters:           {sum(p.numel() for p in G.parameters())} (shared G)')
    else:
        num_arch = sum(p.numel() for p in G.arch_parameters())
        num_weights = sum(p.numel() for p in G.weight_parameters())
        size = G.space_size()
        print(f'Search space size:      {size} (~{float(size):.3g}) architectures')
        print(f'Architecture params:    {num_arch} in {len(G.arch_parameters())} tensors')
        print(f'G parameters:           {num_weights} weights (supernet)')
    print(f'D parameters:           {num_d}')

#----------------------------------------------------------------------------
