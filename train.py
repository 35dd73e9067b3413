"""Train a StyleGAN2-ADA generator (Karras et al. 2020) or a searched architecture, with StyleGAN2-ADA's options."""

import json
import os

import click
import torch

import dnnlib
from dnnlib.util import UserError, bool_option, cli_main
import nas.backbones # every backbone's networks, also under the names older snapshots use
from nas.backbones.conventional import RETRAIN_SPECS as CELL_SPECS
from torch_utils import distributed
from training import training_loop
from training.augment import AUGPIPE_SPECS

#----------------------------------------------------------------------------
# Training presets: StyleGAN2-ADA (Karras et al. 2020), Appendix D / Table 3 and its train.py `--cfg` specs.
# ref_gpus: GPUs the preset was tuned for; mb: batch; mbstd: minibatch-stddev group; fmaps: channel_base / 32768;
# lrate: Adam learning rate; gamma: R1 weight; ema: G_ema half-life in kimg; ramp: EMA ramp-up; map: mapping layers.

CFG_SPECS = {
    'auto':      dict(ref_gpus=-1, kimg=25000,  mb=-1, mbstd=-1, fmaps=-1,  lrate=-1,     gamma=-1,   ema=-1,  ramp=0.05, map=2),
    'stylegan2': dict(ref_gpus=8,  kimg=25000,  mb=32, mbstd=4,  fmaps=1,   lrate=0.002,  gamma=10,   ema=10,  ramp=None, map=8),
    'paper256':  dict(ref_gpus=8,  kimg=25000,  mb=64, mbstd=8,  fmaps=0.5, lrate=0.0025, gamma=1,    ema=20,  ramp=None, map=8),
    'paper512':  dict(ref_gpus=8,  kimg=25000,  mb=64, mbstd=8,  fmaps=1,   lrate=0.0025, gamma=0.5,  ema=20,  ramp=None, map=8),
    'paper1024': dict(ref_gpus=8,  kimg=25000,  mb=32, mbstd=4,  fmaps=1,   lrate=0.002,  gamma=2,    ema=10,  ramp=None, map=8),
    'cifar':     dict(ref_gpus=2,  kimg=100000, mb=64, mbstd=32, fmaps=1,   lrate=0.0025, gamma=0.01, ema=500, ramp=0.05, map=2),
}

# Transfer-learning sources of StyleGAN2-ADA's train.py (`resume_specs`): `--resume=<name>` downloads one once.
RESUME_SPECS = {
    'ffhq256':     'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl',
    'ffhq512':     'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/ffhq-res512-mirror-stylegan2-noaug.pkl',
    'ffhq1024':    'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/ffhq-res1024-mirror-stylegan2-noaug.pkl',
    'celebahq256': 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl',
    'lsundog256':  'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/transfer-learning-source-nets/lsundog-res256-paper256-kimg100000-noaug.pkl',
}

def load_genotype(path):
    """The --genotype file, validated (errors name the file and the field)."""
    from nas.genotype import Genotype
    try:
        return Genotype.from_json(path)
    except UserError as err:
        raise UserError(f'--genotype: {err}') from err

def default_batch_gpu(spec, batch, gpus):
    """Images per GPU at a time, as StyleGAN2-ADA sets them: a preset's batch split over the GPUs it was tuned for
    (`mb // ref_gpus`, the rest in accumulation rounds, so that one GPU holds what one of ref_gpus held), or an
    explicit --batch split over --gpus. Fewer GPUs than ref_gpus accumulate; more take the per-GPU share."""
    if batch is not None:
        return batch // gpus
    return min(spec.mb // spec.ref_gpus, spec.mb // gpus)

def resolve_cfg(cfg, resolution, gpus):
    """The preset's values; 'auto' derives them from resolution and GPU count (StyleGAN2-ADA Appendix D.2)."""
    spec = dnnlib.EasyDict(CFG_SPECS[cfg])
    if cfg == 'auto':
        spec.ref_gpus = gpus
        spec.mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
        spec.mbstd = min(spec.mb // gpus, 4)
        spec.fmaps = 1 if resolution >= 512 else 0.5
        spec.lrate = 0.002 if resolution >= 1024 else 0.0025
        spec.gamma = 0.0002 * (resolution ** 2) / spec.mb
        spec.ema = spec.mb * 10 / 32
    return spec

#----------------------------------------------------------------------------
# Build the training config `c` (plain JSON) from the CLI options; every check names its option.

def setup_training_config(opts):
    """The training config `c` and the run's name (run_desc) of the CLI options `opts`, whose missing values this
    fills in (opts.cfg, opts.aug)."""
    given = dnnlib.EasyDict(opts) # the options as given, for the run name
    c = dnnlib.EasyDict()

    # Dataset.
    c.training_set_kwargs = dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=opts.data,
                                            use_labels=opts.cond, max_size=None, xflip=opts.mirror)
    try:
        training_set = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    except UserError as err:
        raise UserError(f'--data: {err}') from err
    resolution = training_set.resolution
    genotype = load_genotype(opts.genotype) if opts.genotype is not None else None
    backbone = nas.backbones.get(genotype.backbone if genotype is not None else 'stylegan2') # no genotype: StyleGAN2
    if genotype is not None:
        try:
            backbone.check_genotype(genotype, resolution)
        except (UserError, ValueError) as err:
            raise UserError(f'--genotype: {err} (data: {resolution}x{resolution})') from err
    reason = backbone.resolution_error(resolution)
    if reason is not None:
        needs = f', as the {genotype.backbone} genotype {opts.genotype} needs' if genotype is not None else ''
        raise UserError(f'--data: resolution {resolution} of {opts.data} {reason}{needs}')
    if opts.cond and not training_set.has_labels:
        raise UserError(f'--cond: {opts.data} has no labels (dataset.json)')
    searched_c_dim = (genotype.provenance.get('extra') or {}).get('c_dim') if genotype is not None else None
    if opts.cond and searched_c_dim is not None and searched_c_dim != training_set.label_dim:
        raise UserError(f'--cond: {opts.genotype} was searched on {searched_c_dim} classes, {opts.data} has '
                        f'{training_set.label_dim}')
    c.training_set_kwargs.resolution = resolution
    c.training_set_kwargs.max_size = len(training_set)
    if opts.subset is not None: # limited-data training (StyleGAN2-ADA --subset): a fixed random subset, seeded by --seed
        num_images = len(training_set) // (2 if opts.mirror else 1)
        if opts.subset > num_images:
            raise UserError(f'--subset: {opts.subset} is more than the {num_images} images of {opts.data}')
        c.training_set_kwargs.max_size = opts.subset
        c.training_set_kwargs.random_seed = opts.seed
    dataset_name = training_set.name
    del training_set # conserve memory
    c.data_loader_kwargs = dnnlib.EasyDict(pin_memory=opts.device == 'cuda', num_workers=opts.workers, prefetch_factor=2 if opts.workers > 0 else None)

    # A conventional or AutoGAN genotype has its own presets and networks.
    if backbone.retrain_specs is not None:
        c = setup_conventional_config(opts, c, backbone, genotype, resolution)
        set_optimizer_overrides(opts, c)
        return c, run_desc(given, dataset_name, opts.cfg, genotype)
    if opts.cfg in CELL_SPECS:
        raise UserError(f'--cfg={opts.cfg}: only for a conventional or autogan --genotype')
    for name in ['g_channels', 'd_channels']:
        if opts[name] is not None:
            raise UserError(f'--{name.replace("_", "-")}: only for a conventional or autogan --genotype; '
                            f'use --cbase/--cmax')
    opts.cfg = opts.cfg or 'auto'
    opts.aug = opts.aug or 'ada'

    # Preset and overrides.
    spec = resolve_cfg(opts.cfg, resolution, opts.gpus)
    c.batch_size = opts.batch if opts.batch is not None else spec.mb
    if c.batch_size % opts.gpus != 0:
        raise UserError(f'--batch: {c.batch_size} is not divisible by --gpus={opts.gpus}')
    batch_per_gpu = c.batch_size // opts.gpus
    c.batch_gpu = opts.batch_gpu if opts.batch_gpu is not None else default_batch_gpu(spec, opts.batch, opts.gpus)
    if batch_per_gpu % c.batch_gpu != 0:
        raise UserError(f'--batch-gpu: {c.batch_gpu} does not divide the per-GPU batch {batch_per_gpu}')

    # Hardware (after the batch checks, which hold whatever the machine); a dry run shows the options of any machine.
    if not opts.dry_run:
        distributed.check_devices('--gpus', opts.gpus, opts.device)
    c.num_gpus = opts.gpus
    c.device = opts.device

    # Capacity, regularisation, duration.
    mbstd_group = min(spec.mbstd, c.batch_gpu)
    channel_base = opts.cbase if opts.cbase is not None else int(spec.fmaps * 32768)
    channel_max = opts.cmax
    gamma = opts.gamma if opts.gamma is not None else spec.gamma
    c.total_kimg = opts.kimg if opts.kimg is not None else spec.kimg
    c.ema_kimg = opts.ema_kimg if opts.ema_kimg is not None else spec.ema
    c.ema_rampup = spec.ramp
    if opts.lr_decay == 'linear':
        c.lr_schedule = 'linear'
    num_fp16_res = 0 if opts.fp32 else 4

    # Networks, losses and optimizers.
    c.G_kwargs = dnnlib.EasyDict(class_name='training.networks_stylegan2.Generator', z_dim=512, w_dim=512,
                                 mapping_kwargs=dnnlib.EasyDict(num_layers=opts.map if opts.map is not None else spec.map),
                                 synthesis_kwargs=dnnlib.EasyDict(channel_base=channel_base, channel_max=channel_max,
                                                                  num_fp16_res=num_fp16_res, conv_clamp=256 if num_fp16_res > 0 else None,
                                                                  fp16_channels_last=opts.nhwc))
    c.D_kwargs = dnnlib.EasyDict(class_name='training.networks_stylegan2.Discriminator', channel_base=channel_base,
                                 channel_max=channel_max, num_fp16_res=num_fp16_res,
                                 conv_clamp=256 if num_fp16_res > 0 else None,
                                 block_kwargs=dnnlib.EasyDict(fp16_channels_last=opts.nhwc),
                                 epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=mbstd_group))
    if opts.freezed is not None:
        c.D_kwargs.block_kwargs.freeze_layers = opts.freezed
    if genotype is not None:
        c.G_kwargs.class_name = 'nas.backbones.stylegan2.Generator'
        c.G_kwargs.genotype = genotype.to_dict()
        if opts.map is None: # a dynamic-W genotype picks among the mapping layers it was searched with
            c.G_kwargs.mapping_kwargs.num_layers = genotype.channels.get('num_mapping_layers', spec.map)
    c.G_opt_kwargs = dnnlib.EasyDict(class_name='torch.optim.Adam', lr=spec.lrate, betas=[0, 0.99], eps=1e-8)
    c.D_opt_kwargs = dnnlib.EasyDict(class_name='torch.optim.Adam', lr=spec.lrate, betas=[0, 0.99], eps=1e-8)
    c.loss_kwargs = dnnlib.EasyDict(class_name='training.loss.StyleGAN2Loss', r1_gamma=gamma)
    pl_weight = opts.pl_weight
    if pl_weight is None and genotype is not None:
        pl_weight = backbone.retrain_pl_weight
    if pl_weight is None and opts.cfg == 'cifar':
        pl_weight = 0 # disable path length regularization
    if pl_weight is not None:
        c.loss_kwargs.pl_weight = pl_weight
    if opts.cfg == 'cifar':
        c.loss_kwargs.style_mixing_prob = 0 # disable style mixing
        c.D_kwargs.architecture = 'orig' # no residual connections in D

    set_augmentation(opts, c)
    set_logging(opts, c)
    set_optimizer_overrides(opts, c)
    return c, run_desc(given, dataset_name, opts.cfg, genotype)

#----------------------------------------------------------------------------
# Conventional or AutoGAN re-training (alphaGAN supp. A.1.1, AutoGAN Sec. 4): the genotype's G, AutoGAN's
# spectral-norm D, hinge loss, n_critic D steps per G step with twice the batch for G, the preset's LR schedule
# (alphaGAN: linear decay; AutoGAN: constant), no augmentation or regularisers.

def setup_conventional_config(opts, c, backbone, genotype, resolution):
    cfg = opts.cfg or backbone.default_retrain_cfg(resolution)
    if cfg not in backbone.retrain_specs:
        raise UserError(f'--cfg={cfg}: {genotype.backbone} genotypes take {" or ".join(backbone.retrain_specs)}')
    for name in ['cbase', 'map', 'gamma', 'pl_weight', 'batch_gpu', 'freezed']:
        if opts[name] is not None:
            raise UserError(f'--{name.replace("_", "-")}: not used by a conventional genotype')
    spec = dnnlib.EasyDict(backbone.retrain_specs[cfg])
    opts.cfg = cfg
    opts.aug = opts.aug or 'noaug'
    if opts.gpus != 1:
        raise UserError(f'--gpus: conventional re-training runs on one GPU, got {opts.gpus}')
    c.num_gpus = 1
    c.device = opts.device
    c.batch_size = c.batch_gpu = opts.batch if opts.batch is not None else spec.mb
    c.G_batch_size = 2 * c.batch_size # paper: G 128, D 64
    c.n_critic = spec.n_critic
    c.total_kimg = opts.kimg if opts.kimg is not None else spec.kimg
    c.lr_schedule = 'linear' if (opts.lr_decay or spec.decay) == 'linear' else None
    c.ema_kimg = opts.ema_kimg if opts.ema_kimg is not None else spec.ema
    c.ema_rampup = None
    channels = genotype.channels
    c.G_kwargs = dnnlib.EasyDict(class_name=backbone.generator_class, genotype=genotype.to_dict(),
                                 z_dim=128, g_channels=opts.g_channels or channels['g_channels'])
    c.D_kwargs = dnnlib.EasyDict(class_name=backbone.discriminator_class,
                                 d_channels=opts.d_channels or channels.get('d_channels', 128))
    c.G_opt_kwargs = dnnlib.EasyDict(class_name='torch.optim.Adam', lr=spec.lrate, betas=spec.betas, eps=1e-8)
    c.D_opt_kwargs = dnnlib.EasyDict(class_name='torch.optim.Adam', lr=spec.lrate, betas=spec.betas, eps=1e-8)
    c.loss_kwargs = dnnlib.EasyDict(class_name='training.loss.HingeLoss')
    c.G_reg_interval = None
    c.D_reg_interval = None
    set_augmentation(opts, c)
    set_logging(opts, c)
    return c

#----------------------------------------------------------------------------
# Options shared by both configs.

def set_optimizer_overrides(opts, c):
    """--glr, --dlr (StyleGAN3's names) and --n-critic replace the preset's values."""
    if opts.glr is not None:
        c.G_opt_kwargs.lr = opts.glr
    if opts.dlr is not None:
        c.D_opt_kwargs.lr = opts.dlr
    if opts.n_critic is not None:
        c.n_critic = opts.n_critic

DEFAULT_ADA_TARGET = 0.6
DEFAULT_AUGPIPE = 'bgc'

def run_desc(given, dataset_name, cfg, genotype):
    """The run directory's name after NNNNN-, built as StyleGAN2-ADA builds it from the options given (dataset,
    -cond, -subsetN, -mirror, -cfg (auto: -autoGPUS), -gammaG, -kimgK, -batchB, -aug, -pP, -targetT, -augpipe,
    -noresume | -resume<name> | -resumecustom, -freezedN), then ganas's own parts (-genotype)."""
    desc = dataset_name
    desc += '-cond' if given.cond else ''
    desc += f'-subset{given.subset}' if given.subset is not None else ''
    desc += '-mirror' if given.mirror else ''
    desc += f'-{cfg}' + (f'{given.gpus}' if cfg == 'auto' else '')
    desc += f'-gamma{given.gamma:g}' if given.gamma is not None else ''
    desc += f'-kimg{given.kimg:g}' if given.kimg is not None else ''
    desc += f'-batch{given.batch}' if given.batch is not None else ''
    desc += f'-{given.aug}' if given.aug is not None else ''
    desc += f'-p{given.p:g}' if given.p is not None else ''
    desc += f'-target{given.target:g}' if given.target is not None else ''
    desc += f'-{given.augpipe}' if given.augpipe is not None else ''
    if given.resume == 'noresume':
        desc += '-noresume'
    elif given.resume in RESUME_SPECS:
        desc += f'-resume{given.resume}'
    elif given.resume not in [None, 'latest']: # 'latest' continues a run of the same options under their name
        desc += '-resumecustom'
    desc += f'-freezed{given.freezed}' if given.freezed is not None else ''
    desc += '-genotype' if genotype is not None else ''
    return desc

def resume_source(resume):
    """--resume as a file, URL, run directory or 'latest'; None when not resuming (not given, or 'noresume')."""
    if resume in [None, 'noresume']:
        return None
    return RESUME_SPECS.get(resume, resume)

def set_augmentation(opts, c):
    c.augment_kwargs = None
    c.augment_p = 0
    c.ada_target = None
    if opts.target is not None and opts.aug != 'ada':
        raise UserError(f'--target: only meaningful with --aug=ada, not --aug={opts.aug}')
    if opts.augpipe is not None and opts.aug == 'noaug':
        raise UserError('--augpipe: not used with --aug=noaug')
    if opts.aug != 'noaug':
        augpipe = opts.augpipe or DEFAULT_AUGPIPE
        c.augment_kwargs = dnnlib.EasyDict(class_name='training.augment.AugmentPipe', **AUGPIPE_SPECS[augpipe])
    if opts.aug == 'ada':
        c.ada_target = opts.target if opts.target is not None else DEFAULT_ADA_TARGET
    elif opts.aug == 'fixed':
        if opts.p is None:
            raise UserError('--aug=fixed needs --p')
        c.augment_p = opts.p
    elif opts.p is not None:
        raise UserError(f'--p: only meaningful with --aug=fixed, not --aug={opts.aug}')

def set_logging(opts, c):
    c.metrics = opts.metrics
    c.kimg_per_tick = opts.tick
    c.image_snapshot_ticks = c.network_snapshot_ticks = opts.snap
    c.random_seed = opts.seed
    c.resume_pkl = resume_source(opts.resume)
    c.keep = opts.keep
    c.on_collapse = opts.on_collapse
    c.cudnn_benchmark = not opts.nobench
    c.allow_tf32 = opts.allow_tf32
    c.max_grid_images = opts.grid_images
    c.detector = opts.detector

#----------------------------------------------------------------------------
# One process of training: process 0 logs to log.txt, every process runs the loop.

def subprocess_fn(rank, c):
    logger = None
    if rank == 0:
        logger = dnnlib.util.Logger(file_name=os.path.join(c.run_dir, 'log.txt'), file_mode='a', should_flush=True)
    try:
        training_loop.training_loop(rank=rank, **c)
    finally:
        if logger is not None:
            logger.close() # so that an error (out of memory, collapse) reaches stderr as one line

def parameter_counts(c):
    """(G, D) parameter counts of the networks `c` trains, built on the CPU as the training loop builds them."""
    training_set = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    common_kwargs = dict(c_dim=training_set.label_dim, img_resolution=training_set.resolution,
                         img_channels=training_set.num_channels)
    G = dnnlib.util.construct_class_by_name(**c.G_kwargs, **common_kwargs)
    D = dnnlib.util.construct_class_by_name(**c.D_kwargs, **common_kwargs)
    return tuple(sum(p.numel() for p in net.parameters()) for net in [G, D])

def launch_training(c, desc, outdir, dry_run):
    with distributed.torchrun_group(c.device):
        c.run_dir = distributed.broadcast_object(dnnlib.util.next_run_dir(outdir, desc))
        if distributed.get_rank() == 0:
            print()
            print('Training options:')
            print(json.dumps(c, indent=2))
            print()
            print(f'Output directory:    {c.run_dir}')
            print(f'Number of GPUs:      {c.num_gpus}')
            print(f'Batch size:          {c.batch_size} images ({c.batch_gpu} per GPU at a time)')
            print(f'Training duration:   {c.total_kimg} kimg')
            if dry_run:
                num_G, num_D = parameter_counts(c)
                print(f'G parameters:        {num_G}')
                print(f'D parameters:        {num_D}')
            print()
            if dry_run:
                print('Dry run; exiting.')
            else:
                dnnlib.util.create_run_dir(c.run_dir, 'training_options.json', c)
        if not dry_run:
            torch.multiprocessing.set_start_method('spawn', force=True) # also for data-loader workers in one process
            distributed.launch(subprocess_fn, c.num_gpus, c, device=c.device)

#----------------------------------------------------------------------------

def parse_metrics(value):
    from metrics import metric_main
    if value is None or value.lower() == 'none':
        return []
    names = [name for name in value.split(',') if name]
    unknown = [name for name in names if not metric_main.is_valid_metric(name)]
    if unknown:
        raise UserError(f'--metrics: unknown metric {unknown[0]!r}; valid: {", ".join(metric_main.list_valid_metrics())}')
    return names

def check_resume(resume):
    """Fail before launching when --resume is not a loadable network snapshot."""
    from training import stylegan2_ada_import
    try:
        data = stylegan2_ada_import.load_network(resume)
    except UserError as err:
        raise UserError(f'--resume: {err}') from err
    if not isinstance(data, dict) or not all(isinstance(data.get(name), torch.nn.Module) for name in ['G', 'D', 'G_ema']):
        raise UserError(f'--resume: {resume} is not a training snapshot (it lacks G, D and G_ema)')

# What a run trains: a bare --resume continues the newest run in --outdir whose training_options.json holds the same
# values of these, whatever its name (which --kimg, --snap and the like change).
RUN_IDENTITY_KEYS = ['training_set_kwargs', 'G_kwargs', 'D_kwargs', 'G_opt_kwargs', 'D_opt_kwargs', 'loss_kwargs',
                     'augment_kwargs', 'batch_size', 'random_seed']

def run_identity(options):
    return json.loads(json.dumps({key: options.get(key) for key in RUN_IDENTITY_KEYS}))

def same_training_options(c):
    """Predicate on a run directory: does its training_options.json train what `c` trains?"""
    wanted = run_identity(c)
    def matches(run_dir):
        try:
            with open(os.path.join(run_dir, 'training_options.json'), encoding='utf-8') as f:
                return run_identity(json.load(f)) == wanted
        except (OSError, ValueError, AttributeError):
            return False
    return matches

def find_resume(resume, outdir, c):
    """The snapshot to continue: the newest valid one of the run directory `resume`, or, for 'latest' (--resume
    given alone), of the newest run directory in `outdir` that trains what `c` trains and holds one."""
    from torch_utils import checkpoint
    what = 'checkpoint to resume from (network-snapshot-NNNNNN with its training-state-NNNNNN.pt)'
    try:
        if resume == 'latest':
            path = checkpoint.find_latest_checkpoint(outdir, None, kind='training', matches=same_training_options(c))
            missing = f'no run directory in {outdir} with the same training options holds a {what}'
        else:
            path = checkpoint.find_resume_checkpoint(resume, kind='training')
            missing = f'{resume} holds no {what}'
    except UserError as err:
        raise UserError(f'--resume: {err}') from err
    if path is None:
        raise UserError(f'--resume: {missing}')
    check_resume(path)
    return path

@click.command()
# Required.
@click.option('--outdir',     help='Where to save the results', metavar='DIR', required=True)
@click.option('--data',       help='Training data (directory or zip)', metavar='PATH', required=True)
# General options.
@click.option('--gpus',       help='Number of GPUs to use (with --device=cpu: CPU processes)', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--snap',       help='Snapshot interval in ticks', metavar='TICKS', type=click.IntRange(min=1), default=50, show_default=True)
@click.option('--keep',       help='Keep the newest K snapshots and the best by the first metric  [default: all]', metavar='K', type=click.IntRange(min=1))
@click.option('--on-collapse', help='Flat D loss or FID rising: log it, or end the run', type=click.Choice(['warn', 'stop']), default='warn', show_default=True)
@click.option('--metrics',    help='Comma-separated metrics or "none"', metavar='[NAME|A,B,C|none]', default='fid50k_full', show_default=True)
@click.option('--detector',   help='Inception detector of the metrics: offline, inception, a path or URL', metavar='SPEC', default='offline', show_default=True)
@click.option('--seed',       help='Random seed', metavar='INT', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('-n', '--dry-run', help='Print training options and network sizes, and exit', is_flag=True)
# Dataset.
@bool_option('--cond',        help='Train conditional model based on dataset labels')
@click.option('--subset',     help='Train with only N images (a random subset fixed by --seed)  [default: all]', metavar='INT', type=click.IntRange(min=1))
@bool_option('--mirror',      help='Enable dataset x-flips')
# Base config.
@click.option('--cfg',        help='Base config  [default: auto; conv_cifar/conv_stl for a conventional genotype, autogan for an AutoGAN one]', type=click.Choice(list(CFG_SPECS) + list(CELL_SPECS)))
# Searched architecture.
@click.option('--genotype',   help='Train this searched architecture (search.py\'s found.json)', metavar='JSON')
@click.option('--g-channels', help='Conventional/AutoGAN genotype: G channels  [default: the genotype\'s]', metavar='INT', type=click.IntRange(min=1))
@click.option('--d-channels', help='Conventional/AutoGAN genotype: D channels  [default: the genotype\'s or 128]', metavar='INT', type=click.IntRange(min=1))
@click.option('--lr-decay',   help='Learning-rate schedule  [default: linear for a conventional genotype, else none]', type=click.Choice(['linear', 'none']))
@click.option('--ema-kimg',   help='Override the G_ema half-life in kimg (0 = off)', metavar='KIMG', type=click.FloatRange(min=0))
@click.option('--glr',        help='Override G learning rate', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True))
@click.option('--dlr',        help='Override D learning rate', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True))
@click.option('--n-critic',   help='Override D steps per G step  [default: 5 for a conventional/AutoGAN genotype, else 1]', metavar='INT', type=click.IntRange(min=1))
@click.option('--gamma',      help='Override R1 gamma', metavar='FLOAT', type=click.FloatRange(min=0))
@click.option('--pl-weight',  help='Override the path-length regularisation weight, 0 = off  [default: 2; 0 for --cfg=cifar and a searched StyleGAN2 genotype]', metavar='FLOAT', type=click.FloatRange(min=0))
@click.option('--kimg',       help='Override training duration', metavar='KIMG', type=click.FloatRange(min=0, min_open=True))
@click.option('--batch',      help='Override total batch size', metavar='INT', type=click.IntRange(min=1))
@click.option('--batch-gpu',  help='Samples per GPU at a time (gradient accumulation above it)  [default: the preset\'s batch / its GPUs, or --batch / --gpus]', metavar='INT', type=click.IntRange(min=1))
@click.option('--cbase',      help='Override channel base (capacity)', metavar='INT', type=click.IntRange(min=1))
@click.option('--cmax',       help='Maximum channels per layer', metavar='INT', type=click.IntRange(min=1), default=512, show_default=True)
@click.option('--map',        help='Override mapping-network depth', metavar='INT', type=click.IntRange(min=1))
# Discriminator augmentation.
@click.option('--aug',        help='Augmentation mode  [default: ada; noaug for a conventional/AutoGAN genotype]', type=click.Choice(['noaug', 'ada', 'fixed']))
@click.option('--p',          help='Augmentation probability for --aug=fixed', metavar='FLOAT', type=click.FloatRange(min=0, max=1))
@click.option('--target',     help=f'ADA target value for --aug=ada  [default: {DEFAULT_ADA_TARGET}]', metavar='FLOAT', type=click.FloatRange(min=0, max=1))
@click.option('--augpipe',    help=f'Augmentation pipeline  [default: {DEFAULT_AUGPIPE}]', type=click.Choice(list(AUGPIPE_SPECS)))
# Transfer learning and resume.
@click.option('--resume',     help=f'Resume from a network snapshot (path or URL; StyleGAN2-ADA\'s too; or {"|".join(RESUME_SPECS)}) or a run directory; alone: the newest run of the same options in --outdir  [default: noresume]', metavar='[PKL|DIR]', is_flag=False, flag_value='latest')
@click.option('--freezed',    help='Freeze the first N layers of D (transfer learning)', metavar='INT', type=click.IntRange(min=0))
# Performance and logging.
@bool_option('--fp32',        help='Disable mixed-precision training')
@bool_option('--nhwc',        help='Use NHWC memory format with FP16')
@bool_option('--allow-tf32',  help='Allow PyTorch to use TF32 internally')
@bool_option('--nobench',     help='Disable cuDNN benchmarking')
@click.option('--workers',    help='DataLoader worker processes', metavar='INT', type=click.IntRange(min=0), default=3, show_default=True)
@click.option('--tick',       help='Progress print interval in kimg', metavar='KIMG', type=click.FloatRange(min=0, min_open=True), default=4, show_default=True)
@click.option('--grid-images', help='Cap on images in preview grids', metavar='INT', type=click.IntRange(min=1))
@click.option('--device',     help='Device to train on (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
def main(**kwargs):
    """Train a GAN using the techniques of "Training Generative Adversarial Networks with Limited Data".

    BOOL options take 1/0, true/false or yes/no, as in StyleGAN2-ADA; given alone they mean true.

    \b
    Examples:
    python train.py --outdir=runs --data=datasets/fmnist32.zip --cfg=cifar --gpus=1
    python train.py --outdir=runs --data=~/datasets/ffhq.zip --gpus=8 --cfg=paper256 --mirror=1
    python train.py --outdir=runs --data=datasets/cifar10.zip --genotype=nas/genotypes/alphagan_s_cifar10.json
    """
    opts = dnnlib.EasyDict(kwargs)
    opts.device = opts.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    opts.gpus = distributed.num_processes('--gpus', opts.gpus)
    opts.metrics = parse_metrics(opts.metrics)
    source = resume_source(opts.resume)
    resume_file = source if source not in [None, 'latest'] and not os.path.isdir(source) else None
    if resume_file is not None:
        check_resume(resume_file)
    c, desc = setup_training_config(opts)
    if resume_file is not None and training_loop.resume_state_path(resume_file) is None:
        # Weights without a training state: transfer learning, set up as StyleGAN2-ADA does for any resume.
        c.ada_kimg = 100 # make ADA react faster at the beginning
        c.ema_rampup = None # no EMA ramp-up from the first image
    if source is not None and resume_file is None: # 'latest' or a run directory
        c.resume_pkl = find_resume(source, opts.outdir, c)
    launch_training(c=c, desc=desc, outdir=opts.outdir, dry_run=opts.dry_run)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
