"""Search a GAN generator architecture with alphaGAN (Tian et al. 2022) on the conventional or StyleGAN2 backbone."""

import json
import os

import click
import torch

import dnnlib
from dnnlib.util import UserError, cli_main
from nas.search.alphagan import PRESETS

#----------------------------------------------------------------------------
# Per-backbone defaults: iterations and batch (conventional: paper supp. A.1.1; StyleGAN2: supp. A.1.2).

BACKBONE_DEFAULTS = {
    'conventional': dict(iters=100, batch=64, mode='cell'),
    'stylegan2':    dict(iters=500, batch=2, mode='micro_dynw'),
}
STYLEGAN2_MODES = ['micro', 'micro_dynw', 'macro', 'macro_dynw']
METHODS = ['alphagan', 'autogan', 'random']

#----------------------------------------------------------------------------
# Networks of each backbone: the supernet G and the fixed D, as class_name kwargs.

def conventional_networks(opts):
    G_kwargs = dnnlib.EasyDict(class_name='nas.space.supernet_conventional.SupernetGenerator', z_dim=128,
                               g_channels=opts.g_channels, up_ops=opts.up_ops, gumbel=opts.gumbel,
                               gumbel_tau=opts.gumbel_tau)
    D_kwargs = dnnlib.EasyDict(class_name='training.networks_conventional.Discriminator', d_channels=opts.d_channels)
    return G_kwargs, D_kwargs

def stylegan2_networks(opts, batch_size):
    channel_base = int(32768 * opts.width_frac)
    channel_max = max(int(512 * opts.width_frac), 1)
    G_kwargs = dnnlib.EasyDict(class_name='nas.space.supernet_stylegan2.SupernetGenerator', z_dim=512, w_dim=512,
                               mode=opts.mode, mapping_kwargs=dnnlib.EasyDict(num_layers=8),
                               synthesis_kwargs=dnnlib.EasyDict(channel_base=channel_base, channel_max=channel_max,
                                                                num_fp16_res=0, conv_clamp=None),
                               gumbel=opts.gumbel, gumbel_tau=opts.gumbel_tau)
    D_kwargs = dnnlib.EasyDict(class_name='training.networks_stylegan2.Discriminator', channel_base=channel_base,
                               channel_max=channel_max, num_fp16_res=0, conv_clamp=None,
                               epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=min(4, batch_size)))
    return G_kwargs, D_kwargs

#----------------------------------------------------------------------------
# Build the search config `c` (plain JSON) from the CLI options; every check names its option.

def setup_search_config(opts):
    c = dnnlib.EasyDict()
    opts.backbone = opts.backbone or ('stylegan2' if opts.mode is not None else 'conventional')
    defaults = BACKBONE_DEFAULTS[opts.backbone]

    # Method and impossible combinations.
    if opts.method != 'alphagan':
        raise UserError(f'--method={opts.method}: not available yet (it lands with the AutoGAN issue); '
                        f'use --method=alphagan')
    if opts.backbone == 'conventional':
        if opts.mode is not None:
            raise UserError('--mode: only for --backbone=stylegan2 (the conventional space has one mode)')
        if opts.width_frac is not None:
            raise UserError('--width-frac: only for --backbone=stylegan2; use --g-channels/--d-channels')
    else:
        for name in ['g_channels', 'd_channels']:
            if opts[name] is not None:
                raise UserError(f'--{name.replace("_", "-")}: only for --backbone=conventional; use --width-frac')
        if opts.up_ops != 'default':
            raise UserError('--up-ops: only for --backbone=conventional (the StyleGAN2 up ops are learnable already)')
    if opts.search_d:
        raise UserError('--search-d: ganas has no searchable discriminator yet (the algorithm supports one with '
                        'arch_parameters())')
    opts.mode = opts.mode or defaults['mode']
    opts.g_channels = opts.g_channels or 256
    opts.d_channels = opts.d_channels or 128
    opts.width_frac = opts.width_frac or 1 / 8

    # Dataset.
    c.training_set_kwargs = dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=opts.data,
                                            use_labels=False, max_size=None, xflip=False)
    try:
        dataset = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    except UserError as err:
        raise UserError(f'--data: {err}') from err
    resolution = dataset.resolution
    if opts.backbone == 'conventional' and resolution % 8 != 0:
        raise UserError(f'--data: resolution {resolution} of {opts.data} is not 8 * bottom width '
                        f'(the conventional generator has three x2 cells)')
    if opts.backbone == 'stylegan2' and (resolution < 4 or resolution & (resolution - 1) != 0):
        raise UserError(f'--data: resolution {resolution} of {opts.data} is not a power of two (>= 4)')
    c.training_set_kwargs.resolution = resolution
    c.training_set_kwargs.max_size = len(dataset)
    dataset_name = dataset.name
    if len(dataset) < 2:
        raise UserError(f'--data: {opts.data} has {len(dataset)} image(s); '
                        f'the search needs a train and a validation split')
    del dataset # conserve memory

    # Search schedule and algorithm.
    c.batch_size = opts.batch or defaults['batch']
    c.num_iters = opts.iters or defaults['iters']
    preset = PRESETS[opts.preset][opts.backbone]
    c.algorithm_kwargs = dnnlib.EasyDict(class_name='nas.search.alphagan.AlphaGAN',
        T=opts.T or preset['T'], S=opts.S if opts.S is not None else preset['S'], R=opts.R or preset['R'],
        n_critic=opts.n_critic, lr=opts.lr, betas=[0.0, 0.999], arch_lr=opts.arch_lr, arch_betas=[0.5, 0.999],
        arch_wd=opts.arch_wd, bar_update=opts.bar_update, search_D=False,
        warmup_iters=c.num_iters // 2 if opts.warmup else 0)
    if opts.backbone == 'conventional':
        c.G_kwargs, c.D_kwargs = conventional_networks(opts)
    else:
        c.G_kwargs, c.D_kwargs = stylegan2_networks(opts, c.batch_size)
    c.data_loader_kwargs = dnnlib.EasyDict(pin_memory=opts.device == 'cuda', num_workers=opts.workers,
                                           prefetch_factor=2 if opts.workers > 0 else None)
    c.val_fraction = 0.5
    c.random_seed = opts.seed
    c.device = opts.device
    c.image_snapshot_iters = opts.snap
    c.state_snapshot_iters = opts.snap
    c.keep_states = opts.keep
    c.provenance = dict(method=opts.method, data=dataset_name)
    c.resume = opts.resume

    desc = f'{dataset_name}-{opts.backbone}' + (f'-{opts.mode}' if opts.backbone == 'stylegan2' else '')
    desc += f'-{opts.method}-{opts.preset}-batch{c.batch_size}'
    return c, desc

#----------------------------------------------------------------------------
# --dry-run: build the networks in memory and describe them and the space; nothing touches the disk.

def describe_networks(c):
    dataset = dnnlib.util.construct_class_by_name(**c.training_set_kwargs)
    common_kwargs = dict(c_dim=dataset.label_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels)
    try:
        G = dnnlib.util.construct_class_by_name(**c.G_kwargs, **common_kwargs)
    except ImportError as err:
        raise UserError(f'--backbone: the supernet {c.G_kwargs.class_name} is not available ({err})') from err
    D = dnnlib.util.construct_class_by_name(**c.D_kwargs, **common_kwargs)
    num_arch = sum(p.numel() for p in G.arch_parameters())
    num_weights = sum(p.numel() for p in G.weight_parameters())
    size = G.space_size()
    print(f'Search space size:      {size} (~{float(size):.3g}) architectures')
    print(f'Architecture params:    {num_arch} in {len(G.arch_parameters())} tensors')
    print(f'G parameters:           {num_weights} weights (supernet)')
    print(f'D parameters:           {sum(p.numel() for p in D.parameters())}')

#----------------------------------------------------------------------------

@click.command()
# Required.
@click.option('--outdir',      help='Where to save the results', metavar='DIR', required=True)
@click.option('--data',        help='Training data (directory or zip), split into train and validation halves', metavar='PATH', required=True)
# Space and method.
@click.option('--backbone',    help='Generator backbone  [default: stylegan2 with --mode, else conventional]', type=click.Choice(['conventional', 'stylegan2']))
@click.option('--method',      help='Search algorithm', type=click.Choice(METHODS), default='alphagan', show_default=True)
@click.option('--mode',        help='StyleGAN2 search space  [default: micro_dynw]', type=click.Choice(STYLEGAN2_MODES))
@click.option('--preset',      help='Steps per iteration (T/S/R)', type=click.Choice(list(PRESETS)), default='alphaGAN_s', show_default=True)
@click.option('--g-channels',  help='Conventional G channels  [default: 256]', metavar='INT', type=click.IntRange(min=1))
@click.option('--d-channels',  help='Conventional D channels  [default: 128]', metavar='INT', type=click.IntRange(min=1))
@click.option('--width-frac',  help='StyleGAN2 channels as a fraction of config-f  [default: 0.125]', metavar='FLOAT', type=click.FloatRange(min=0, max=1, min_open=True))
# Schedule and optimisers.
@click.option('--iters',       help='Search iterations  [default: 100 conventional, 500 stylegan2]', metavar='INT', type=click.IntRange(min=1))
@click.option('--T', 'T',      help='Override weight steps per iteration', metavar='INT', type=click.IntRange(min=1))
@click.option('--S', 'S',      help='Override architecture steps per iteration', metavar='INT', type=click.IntRange(min=0))
@click.option('--R', 'R',      help='Override G_bar/D_bar steps per iteration', metavar='INT', type=click.IntRange(min=1))
@click.option('--batch',       help='Batch size  [default: 64 conventional, 2 stylegan2]', metavar='INT', type=click.IntRange(min=1))
@click.option('--n-critic',    help='D steps per G step in the weight part', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--lr',          help='Adam learning rate of the weights', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=2e-4, show_default=True)
@click.option('--arch-lr',     help='Adam learning rate of alpha', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=3e-4, show_default=True)
@click.option('--arch-wd',     help='Weight decay of alpha', metavar='FLOAT', type=click.FloatRange(min=0), default=1e-3, show_default=True)
# Ablations (paper Tables 3, 6, 7 and supp. Table 1).
@click.option('--bar-update',  help='What G_bar updates (Table 3)', type=click.Choice(['weights', 'arch', 'both']), default='weights', show_default=True)
@click.option('--search-d',    help='Search D too (Table 3)', is_flag=True)
@click.option('--gumbel',      help='Gumbel-softmax op weights (supp. Table 1)', is_flag=True)
@click.option('--gumbel-tau',  help='Gumbel-softmax temperature', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=1, show_default=True)
@click.option('--warmup',      help='Freeze alpha for the first half (supp. Table 1)', is_flag=True)
@click.option('--up-ops',      help='Conventional up-sampling set (Tables 6, 7)', type=click.Choice(['default', 'no_deconv', 'learnable_interp']), default='default', show_default=True)
# Run.
@click.option('--seed',        help='Random seed', metavar='INT', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--snap',        help='Checkpoint and fakes grid interval in iterations', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--resume',      help='Continue a search: its search-state-NNNNNN.pt, or its run directory (newest state)', metavar='PT|DIR')
@click.option('--keep',        help='Search states to keep (newest)', metavar='INT', type=click.IntRange(min=1), default=3, show_default=True)
@click.option('--workers',     help='DataLoader worker processes', metavar='INT', type=click.IntRange(min=0), default=2, show_default=True)
@click.option('--device',      help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
@click.option('--dry-run',     help='Print the options, network sizes and space size, and exit', is_flag=True)
def main(**kwargs):
    """Search a generator architecture with alphaGAN.

    \b
    Examples:
    python search.py --outdir=runs --data=datasets/fmnist32.zip --preset=alphaGAN_s
    python search.py --outdir=runs --data=~/datasets/ffhq256.zip --mode=micro_dynw
    """
    opts = dnnlib.EasyDict(kwargs)
    opts.device = opts.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if opts.resume is not None and os.path.isdir(opts.resume):
        from torch_utils import checkpoint
        found = checkpoint.find_resume_checkpoint(opts.resume, kind='search')
        if found is None:
            raise UserError(f'--resume: {opts.resume} holds no search-state-NNNNNN.pt')
        opts.resume = found
    if opts.resume is not None and not os.path.isfile(opts.resume):
        raise UserError(f'--resume: {opts.resume}: no such file')
    c, desc = setup_search_config(opts)
    c.run_dir = dnnlib.util.next_run_dir(opts.outdir, desc)

    print()
    print('Search options:')
    print(json.dumps(c, indent=2))
    print()
    if opts.dry_run:
        describe_networks(c)
        print('Dry run; exiting.')
        return

    from nas.search import search_loop
    os.makedirs(c.run_dir)
    with dnnlib.util.atomic_write(os.path.join(c.run_dir, 'search_options.json'), 'w') as f:
        json.dump(c, f, indent=2)
    with dnnlib.util.Logger(file_name=os.path.join(c.run_dir, 'log.txt'), file_mode='a', should_flush=True):
        print(f'Output directory: {c.run_dir}')
        search_loop.search_loop(**{k: v for k, v in c.items() if k != 'run_dir'}, run_dir=c.run_dir)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
