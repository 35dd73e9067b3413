"""Search a GAN generator architecture with alphaGAN (Tian et al. 2022), AutoGAN (Gong et al. 2019) or random search
on the conventional, AutoGAN or StyleGAN2 space."""

import json
import os

import click
import torch

import dnnlib
from dnnlib.util import UserError, bool_option, cli_main
from nas import backbones
from nas.search import config
from nas.search import methods
from nas.search.alphagan import PRESETS
from nas.search.autogan import RESET_STATS
from torch_utils import distributed

#----------------------------------------------------------------------------

@click.command()
# Required.
@click.option('--outdir',      help='Where to save the results', metavar='DIR', required=True)
@click.option('--data',        help='Training data (directory or zip)', metavar='PATH', required=True)
# Labels.
@bool_option('--cond',        help='Search conditional G and D on the dataset\'s labels')
# Space and method.
@click.option('--method',      help='Search algorithm', metavar=f'[{"|".join(methods.names())}]', default='alphagan', show_default=True)
@click.option('--backbone',    help='Search space  [default: autogan for --method=autogan; else stylegan2 with --mode, else conventional]', type=click.Choice(backbones.names()))
@click.option('--mode',        help='StyleGAN2 search space  [default: micro_dynw]', type=click.Choice(backbones.get('stylegan2').modes))
@click.option('--g-channels',  help='Conventional/AutoGAN G channels  [default: 256 conventional, 128 autogan]', metavar='INT', type=click.IntRange(min=1))
@click.option('--d-channels',  help='Conventional/AutoGAN D channels  [default: 128 conventional, 64 autogan]', metavar='INT', type=click.IntRange(min=1))
@click.option('--width-frac',  help='StyleGAN2 channels as a fraction of config-f  [default: 0.125]', metavar='FLOAT', type=click.FloatRange(min=0, max=1, min_open=True))
# Schedule and optimisers (all methods).
@click.option('--iters',       help='Search iterations (random: candidates)  [default: alphagan 100 conventional, 500 stylegan2; autogan 90; random 10]', metavar='INT', type=click.IntRange(min=1))
@click.option('--batch',       help='(D) batch size  [default: 64; 2 stylegan2]', metavar='INT', type=click.IntRange(min=1))
@click.option('--n-critic',    help='D steps per G step  [default: 1 alphagan, 5 autogan and random]', metavar='INT', type=click.IntRange(min=1))
@click.option('--lr',          help='Adam learning rate of the G and D weights', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=2e-4, show_default=True)
# alphaGAN (paper Tables 3, 6, 7 and supp. Table 1).
@click.option('--preset',      help='alphaGAN: steps per iteration (T/S/R)', type=click.Choice(list(PRESETS)), default='alphaGAN_s', show_default=True)
@click.option('--T', 'T',      help='alphaGAN: override weight steps per iteration', metavar='INT', type=click.IntRange(min=1))
@click.option('--S', 'S',      help='alphaGAN: override architecture steps per iteration', metavar='INT', type=click.IntRange(min=0))
@click.option('--R', 'R',      help='alphaGAN: override G_bar/D_bar steps per iteration', metavar='INT', type=click.IntRange(min=1))
@click.option('--arch-lr',     help='alphaGAN: Adam learning rate of alpha', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=3e-4, show_default=True)
@click.option('--arch-wd',     help='alphaGAN: weight decay of alpha', metavar='FLOAT', type=click.FloatRange(min=0), default=1e-3, show_default=True)
@click.option('--bar-update',  help='alphaGAN: what G_bar updates (Table 3)', type=click.Choice(['weights', 'arch', 'both']), default='weights', show_default=True)
@click.option('--search-d',    help='alphaGAN: search D too (Table 3)', is_flag=True)
@click.option('--gumbel',      help='alphaGAN: Gumbel-softmax op weights (supp. Table 1)', is_flag=True)
@click.option('--gumbel-tau',  help='alphaGAN: Gumbel-softmax temperature', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=1, show_default=True)
@click.option('--warmup',      help='alphaGAN: freeze alpha for the first half (supp. Table 1)', is_flag=True)
@click.option('--up-ops',      help='alphaGAN: conventional up-sampling set (Tables 6, 7)', type=click.Choice(['default', 'no_deconv', 'learnable_interp']), default='default', show_default=True)
# AutoGAN (paper Sec. 4).
@click.option('--shared-epochs', help='AutoGAN: shared-GAN epochs per iteration', metavar='INT', type=click.IntRange(min=1), default=15, show_default=True)
@click.option('--shared-steps', help='AutoGAN: override D steps per iteration  [default: --shared-epochs worth]', metavar='INT', type=click.IntRange(min=1))
@click.option('--ctrl-steps',  help='AutoGAN: controller steps per iteration', metavar='INT', type=click.IntRange(min=0), default=30, show_default=True)
@click.option('--ctrl-batch',  help='AutoGAN: children per controller step', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--ctrl-lr',     help='AutoGAN: controller Adam learning rate', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=3.5e-4, show_default=True)
@click.option('--entropy-weight', help='AutoGAN: entropy bonus of the controller loss', metavar='FLOAT', type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option('--grow-iters',  help='AutoGAN: iterations after which cell 2 and 3 are added  [default: 25,55 scaled to --iters]', metavar='LIST', type=dnnlib.util.INT_LIST)
@click.option('--num-candidates', help='AutoGAN: children scored at the end of a stage', metavar='INT', type=click.IntRange(min=1), default=10, show_default=True)
@click.option('--beam-size',   help='AutoGAN: best children kept for the next stage', metavar='INT', type=click.IntRange(min=1), default=5, show_default=True)
@click.option('--single-level', help='AutoGAN: one controller samples all cells at full resolution (Sec. 4.3.4 ablation)', is_flag=True)
@click.option('--dynamic-reset/--no-dynamic-reset', help='AutoGAN: reset the shared GAN when its losses flatten (Sec. 4.3.3 ablation: off)', default=True, show_default=True)
@click.option('--reset-stat',  help='AutoGAN: dynamic-reset statistic of the loss window', type=click.Choice(list(RESET_STATS)), default='var', show_default=True)
@click.option('--reset-threshold', help='AutoGAN: dynamic reset below this', metavar='FLOAT', type=click.FloatRange(min=0), default=1e-3, show_default=True)
@click.option('--reset-baseline', help='AutoGAN: restart the reward baseline every iteration (authors\' code)', is_flag=True)
# Random search.
@click.option('--train-steps', help='Random: D steps per candidate', metavar='INT', type=click.IntRange(min=1), default=500, show_default=True)
@click.option('--weight-sharing', help='Random search: one shared G trained on random architectures scores every candidate (AutoGAN Sec. 4.3.5)', is_flag=True)
# Reward (AutoGAN and random search) and the metric of --select-top.
@click.option('--reward',      help='AutoGAN/random, --select-top: IS or 1/FID of a child  [default: is with a detector that has logits, else fid]', type=click.Choice(['is', 'fid']))
@click.option('--reward-samples', help='AutoGAN/random, --select-top: generated images per reward (IS: 10 splits)', metavar='INT', type=click.IntRange(min=10), default=5000, show_default=True)
@click.option('--reward-real', help='AutoGAN/random, --select-top: real images in the FID statistics  [default: all]', metavar='INT', type=click.IntRange(min=2))
@click.option('--detector',    help='AutoGAN/random, --select-top: feature detector (offline, inception, path or URL)  [default: offline]', metavar='SPEC')
@click.option('--g-batch',     help='AutoGAN/random: G batch', metavar='INT', type=click.IntRange(min=1), default=128, show_default=True)
# Resource budget (all methods).
@click.option('--max-params',  help='Parameter budget of the found G, e.g. 3M  [default: none]', metavar='AMOUNT', type=dnnlib.util.AMOUNT)
@click.option('--max-flops',   help='FLOP budget of the found G per image (multiply-accumulates), e.g. 1.5G  [default: none]', metavar='AMOUNT', type=dnnlib.util.AMOUNT)
@click.option('--cost-weight', help='alphaGAN: weight of the expected-cost penalty  [default: 1]', metavar='FLOAT', type=click.FloatRange(min=0))
# Selection (AutoGAN Sec. 3.3.2, for every method).
@click.option('--select-top',  help='Re-train the top K candidates from scratch and keep the best by the metric of --reward', metavar='K', type=click.IntRange(min=1))
@click.option('--select-kimg', help='--select-top: re-training budget of each candidate', metavar='KIMG', type=click.FloatRange(min=0, min_open=True))
@click.option('--select-args', help='--select-top: other train.py options of the re-training, quoted', metavar='ARGS')
# Run.
@click.option('--gpus',        help='alphaGAN: processes (GPUs) sharing every batch (with --device=cpu: CPU processes)', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--seed',        help='Random seed', metavar='INT', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--snap',        help='Checkpoint and fakes grid interval in iterations', metavar='INT', type=click.IntRange(min=1), default=1, show_default=True)
@click.option('--resume',      help='Continue a search: its search-state-NNNNNN.pt or its run directory (newest valid state); alone: the newest run of this config in --outdir', metavar='[PT|DIR]', is_flag=False, flag_value='latest')
@click.option('--keep',        help='Search states to keep (newest)', metavar='INT', type=click.IntRange(min=1), default=3, show_default=True)
@click.option('--on-collapse', help='Entropy at zero early, deconv dominating, flat D loss: log it, or end the run', type=click.Choice(['warn', 'stop']), default='warn', show_default=True)
@click.option('--workers',     help='DataLoader worker processes', metavar='INT', type=click.IntRange(min=0), default=2, show_default=True)
@click.option('--device',      help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
@click.option('--dry-run',     help='Print the options, network sizes and space size, and exit', is_flag=True)
def main(**kwargs):
    """Search a generator architecture with alphaGAN, AutoGAN or random search.

    \b
    Examples:
    python search.py --outdir=runs --data=datasets/fmnist32.zip --preset=alphaGAN_s
    python search.py --outdir=runs --data=~/datasets/ffhq256.zip --mode=micro_dynw
    python search.py --outdir=runs --data=datasets/cifar10.zip --method=autogan
    python search.py --outdir=runs --data=datasets/cifar10.zip --method=random --backbone=autogan --iters=20
    """
    ctx = click.get_current_context()
    given = {name for name in kwargs if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
    opts = dnnlib.EasyDict(kwargs)
    opts.device = opts.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    opts.gpus = distributed.num_processes('--gpus', opts.gpus)
    if opts.resume is not None and os.path.isdir(opts.resume):
        from torch_utils import checkpoint
        found = checkpoint.find_resume_checkpoint(opts.resume, kind='search')
        if found is None:
            raise UserError(f'--resume: {opts.resume} holds no search-state-NNNNNN.pt')
        opts.resume = found
    if opts.resume not in [None, 'latest'] and not os.path.isfile(opts.resume):
        raise UserError(f'--resume: {opts.resume}: no such file')
    c, desc = config.setup_search_config(opts, given)
    config.check_budget(c)
    if 'select_kwargs' in c:
        check_train_options(c.select_kwargs.train_args)
    if opts.resume == 'latest': # --resume alone: the newest run directory of this configuration
        from torch_utils import checkpoint
        c.resume = checkpoint.find_latest_checkpoint(opts.outdir, desc, kind='search')
        if c.resume is None:
            raise UserError(f'--resume: no run directory {os.path.join(opts.outdir, "NNNNN-" + desc)} '
                            f'holds a search-state-NNNNNN.pt')
    with distributed.torchrun_group(c.device):
        c.run_dir = distributed.broadcast_object(dnnlib.util.next_run_dir(opts.outdir, desc))
        if distributed.get_rank() == 0:
            print()
            print('Search options:')
            print(json.dumps(c, indent=2))
            print()
            if opts.dry_run:
                config.describe_search(c, opts)
                print('Dry run; exiting.')
            else:
                dnnlib.util.create_run_dir(c.run_dir, 'search_options.json', c)
        if not opts.dry_run:
            # Every process stops on the same averaged statistics: process 0 alone says why.
            distributed.launch(search_process, c.num_gpus, c, error_rank=0, device=c.device)

#----------------------------------------------------------------------------
# --select-args must be train.py options, names and values, before the search runs (train.py checks how they combine
# with a genotype when the first candidate trains).

def check_train_options(train_args):
    import train
    try:
        train.main.make_context('train.py', ['--outdir=.', '--data=.', *train_args])
    except click.ClickException as err:
        raise UserError(f'--select-args: {err.format_message()}') from err

#----------------------------------------------------------------------------
# One process of the search: process 0 logs and writes the run directory, every process steps.

def search_process(rank, c):
    from nas.search import search_loop
    loop_kwargs = dict({k: v for k, v in c.items() if k != 'run_dir'}, run_dir=c.run_dir, rank=rank)
    if rank != 0:
        search_loop.search_loop(**loop_kwargs)
        return
    with dnnlib.util.Logger(file_name=os.path.join(c.run_dir, 'log.txt'), file_mode='a', should_flush=True):
        print(f'Output directory: {c.run_dir}')
        search_loop.search_loop(**loop_kwargs)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
