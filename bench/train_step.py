"""Training speed of the StyleGAN2-ADA loop: seconds per G+D step and per kimg, measured by train.py's own loop.

With --peer=DIR (a stylegan2-ada-pytorch checkout), it times instead one G+D step (bench/gan_step.py) of ours and of the
peer side by side, each code base in its own processes, interleaved, median of --reps, with the regularisers off and
on, at --resolution, --cbase (default: --cmax channels everywhere), --cmax, batch --batch (default 16), --map mapping
layers, FP16 on the top 4 resolutions on CUDA unless --fp32.

Examples:
  python bench/train_step.py --resolution=32 --cbase=4096 --cmax=128 --batch=16 --kimg=0.32   # CPU figure of issue 5
  python bench/train_step.py --resolution=256 --cfg=paper256 --kimg=4                         # GPU, s/kimg at 256x256
  python bench/train_step.py --resolution=32 --cmax=128 --peer=/path/to/stylegan2-ada-pytorch  # step beside the peer
"""

import json
import os
import statistics
import sys
import tempfile

import click
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import train                   # noqa: E402
from bench.common import cli_options, device_name, make_zip, run_child  # noqa: E402
from training import training_loop  # noqa: E402

#----------------------------------------------------------------------------

@click.command()
@click.option('--resolution', type=int, default=32, show_default=True)
@click.option('--cfg', type=click.Choice(list(train.CFG_SPECS)), default='stylegan2', show_default=True)
@click.option('--cbase', type=int, default=None, help='Channel base (default: the preset\'s)')
@click.option('--cmax', type=int, default=512, show_default=True)
@click.option('--batch', type=int, default=None, help='Batch (default: the preset\'s)')
@click.option('--kimg', type=float, default=0.32, show_default=True, help='Images to train on, in thousands')
@click.option('--aug', type=click.Choice(['ada', 'noaug']), default='ada', show_default=True)
@click.option('--fp32', is_flag=True)
@click.option('--peer', metavar='DIR', help='stylegan2-ada-pytorch checkout: time one step of each, side by side')
@click.option('--map', 'map_layers', type=int, default=2, show_default=True, help='Mapping layers (--peer only)')
@click.option('--steps', type=int, default=3, show_default=True, help='Timed steps per process (--peer only)')
@click.option('--reps', type=int, default=3, show_default=True, help='Processes per side and setting (--peer only)')
def main(resolution, cfg, cbase, cmax, batch, kimg, aug, fp32, peer, map_layers, steps, reps):
    if peer is not None:
        fp16_res = 0 if fp32 or not torch.cuda.is_available() else 4
        compare_with_peer(peer, resolution, cmax, cbase, batch or 16, map_layers, fp16_res, steps, reps)
        return
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    with tempfile.TemporaryDirectory() as tmp:
        data = make_zip(os.path.join(tmp, f'bench{resolution}.zip'), resolution, count=256)
        args = [f'--outdir={tmp}', f'--data={data}', f'--cfg={cfg}', f'--cmax={cmax}', f'--kimg={kimg}', f'--aug={aug}',
                '--metrics=none', f'--tick={kimg / 4}', f'--device={device}']
        args += [f'--cbase={cbase}'] * (cbase is not None) + [f'--batch={batch}'] * (batch is not None) + ['--fp32'] * fp32
        c, _desc = train.setup_training_config(cli_options(train.main, args))
        c.image_snapshot_ticks = c.network_snapshot_ticks = None
        c.run_dir = tmp
        training_loop.training_loop(**c)
        with open(os.path.join(tmp, 'stats.jsonl')) as f:
            ticks = [json.loads(line) for line in f]
    # Tick 0 holds start-up and (on CUDA) kernel builds; time the others.
    sec_per_kimg = float(np.mean([t['Timing/sec_per_kimg']['mean'] for t in ticks[1:]]))
    print(f'device {device_name(device)}; resolution {resolution}; cfg {cfg}; batch {c.batch_size}; channel_base '
          f'{c.G_kwargs.synthesis_kwargs.channel_base}; channel_max {cmax}; aug {aug}; fp16 res {c.G_kwargs.synthesis_kwargs.num_fp16_res}')
    print(f'sec/kimg {sec_per_kimg:.2f}   sec/step {sec_per_kimg * c.batch_size / 1000:.3f}   (ticks after the first: {len(ticks) - 1})')

#----------------------------------------------------------------------------

def compare_with_peer(peer, resolution, channels, cbase, batch, map_layers, fp16_res, steps, reps):
    if not os.path.isfile(os.path.join(peer, 'training', 'loss.py')):
        raise click.ClickException(f'--peer={peer}: not a stylegan2-ada-pytorch checkout (no training/loss.py)')
    here = os.path.dirname(os.path.abspath(__file__))
    roots = dict(ours=os.path.dirname(here), peer=os.path.abspath(peer))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    cbase = cbase or channels * resolution
    print(f'device {device_name(device)}; torch {torch.__version__}; resolution {resolution}; channel_base {cbase}; '
          f'channel_max {channels}; batch {batch}; mapping layers {map_layers}; fp16 res {fp16_res}; {steps} steps x '
          f'{reps} processes per side, interleaved')
    for reg in [False, True]:
        times, cpu_times = dict(ours=[], peer=[]), dict(ours=[], peer=[])
        for _rep in range(reps):
            for side, root in roots.items():
                args = [f'--root={root}', f'--resolution={resolution}', f'--channels={channels}', f'--cbase={cbase}',
                        f'--fp16-res={fp16_res}', f'--batch={batch}', f'--map={map_layers}', f'--steps={steps}',
                        f'--device={device}'] + ['--reg'] * reg
                result = run_child('gan_step.py', args, root, f'{side} step')
                times[side].append(result['seconds'])
                cpu_times[side].append(result['cpu_seconds'])
        ours, theirs = statistics.median(times['ours']), statistics.median(times['peer'])
        ours_cpu, theirs_cpu = statistics.median(cpu_times['ours']), statistics.median(cpu_times['peer'])
        print(f'regularisers {"on " if reg else "off"}: ours {ours:.3f} s/step, stylegan2-ada-pytorch {theirs:.3f} s/step, '
              f'ratio {ours / theirs:.2f}x  (ours {[round(t, 3) for t in times["ours"]]}, peer '
              f'{[round(t, 3) for t in times["peer"]]}); CPU time ours {ours_cpu:.3f} s/step, peer {theirs_cpu:.3f} s/step, '
              f'ratio {ours_cpu / theirs_cpu:.2f}x; load average {os.getloadavg()[0]:.1f}', flush=True)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    main()

#----------------------------------------------------------------------------
