"""Search speed: seconds per search iteration (alphaGAN: T weight steps + S architecture steps + R steps of each
of G_bar and D_bar), measured by search.py's own configuration (nas.search.config) and search loop on a synthetic dataset.

Examples:
  python bench/search_step.py --resolution=32                                     # conventional, paper CIFAR-10 setting
  python bench/search_step.py --resolution=32 -- --g-channels=16 --d-channels=16 --batch=8 --T=10 --S=10 --R=10
  python bench/search_step.py --resolution=128 -- --mode=micro_dynw               # StyleGAN2, paper supp. A.1.2 setting
  python bench/search_step.py --peer=/path/to/AlphaGAN                            # one iteration beside the authors' code
Arguments after `--` go to search.py unchanged.

With --peer=DIR (a checkout of the official AlphaGAN code), it times instead one alphaGAN iteration of ours and of the
peer (bench/alphagan_iter.py: conventional G and D at --channels, batch --batch, T = S = R = 1, n_critic 1), each
code base in its own processes, interleaved, median of --reps, with each side's peak resident memory.
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
import search                  # noqa: E402
from bench.common import cli_options, device_name, make_zip, run_child  # noqa: E402
from nas.search import config, search_loop  # noqa: E402

#----------------------------------------------------------------------------

@click.command(context_settings=dict(ignore_unknown_options=True))
@click.option('--resolution', type=int, default=32, show_default=True)
@click.option('--iters', type=click.IntRange(min=2), default=3, show_default=True, help='Iterations; the first is not timed')
@click.option('--peer', metavar='DIR', help='Official AlphaGAN checkout: time one iteration of each, side by side')
@click.option('--channels', type=int, default=64, show_default=True, help='G and D channels (--peer only)')
@click.option('--batch', type=int, default=16, show_default=True, help='Batch (--peer only)')
@click.option('--reps', type=int, default=3, show_default=True, help='Processes per side (--peer only)')
@click.argument('search_args', nargs=-1, type=click.UNPROCESSED)
def main(resolution, iters, peer, channels, batch, reps, search_args):
    if peer is not None:
        compare_with_peer(peer, resolution, channels, batch, iters, reps)
        return
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    with tempfile.TemporaryDirectory() as tmp:
        data = make_zip(os.path.join(tmp, f'bench{resolution}.zip'), resolution, count=512)
        args = [f'--outdir={tmp}', f'--data={data}', f'--iters={iters}', f'--device={device}', '--workers=2',
                f'--snap={iters}', *search_args]
        c, desc = config.setup_search_config(cli_options(search.main, args))
        c.run_dir = os.path.join(tmp, 'run')
        c.image_snapshot_iters = None
        os.makedirs(c.run_dir)
        search_loop.search_loop(**c, progress=False)
        with open(os.path.join(c.run_dir, 'stats.jsonl')) as f:
            stats = [json.loads(line) for line in f]
    # Iteration 1 holds warm-up (cudnn autotuning, kernel builds, loader start); time the others.
    sec_per_iter = float(np.mean([s['Timing/sec_per_iter'] for s in stats[1:]]))
    alg = c.algorithm_kwargs
    steps = ', '.join(f'{k}={alg[k]}' for k in ['T', 'S', 'R'] if k in alg)
    print(f'device {device_name(device)}; resolution {resolution}; {desc}; {steps}')
    print(f'sec/iter {sec_per_iter:.2f}   (iterations timed: {len(stats) - 1})')

#----------------------------------------------------------------------------

def compare_with_peer(peer, resolution, channels, batch, iters, reps):
    if not os.path.isfile(os.path.join(peer, 'architect.py')):
        raise click.ClickException(f'--peer={peer}: not a checkout of the official AlphaGAN code (no architect.py)')
    here = os.path.dirname(os.path.abspath(__file__))
    roots = dict(ours=os.path.dirname(here), peer=os.path.abspath(peer))
    print(f'device {device_name("cpu")}; torch {torch.__version__}; resolution {resolution}; channels {channels}; '
          f'batch {batch}; T = S = R = 1, n_critic 1; {iters} timed iterations x {reps} processes per side, interleaved')
    times, cpu_times, peaks = dict(ours=[], peer=[]), dict(ours=[], peer=[]), dict(ours=[], peer=[])
    for _rep in range(reps):
        for side, root in roots.items():
            result = run_child('alphagan_iter.py', [f'--side={side}', f'--root={root}', f'--channels={channels}',
                               f'--batch={batch}', f'--resolution={resolution}', f'--iters={iters}'], root,
                               f'{side} iteration')
            times[side].append(result['seconds'])
            cpu_times[side].append(result['cpu_seconds'])
            peaks[side].append(result['peak_rss_mib'])
            print(f'{side}: {result["seconds"]:.3f} s/iter ({result["cpu_seconds"]:.3f} s CPU), peak RSS '
                  f'{result["peak_rss_mib"]:.0f} MiB, load average {os.getloadavg()[0]:.1f}', flush=True)
    med = {side: [statistics.median(x[side]) for x in (times, cpu_times, peaks)] for side in roots}
    (ours, ours_cpu, ours_mib), (theirs, theirs_cpu, theirs_mib) = med['ours'], med['peer']
    print(f'ours {ours:.3f} s/iter ({ours_cpu:.3f} s CPU) {ours_mib:.0f} MiB, official AlphaGAN {theirs:.3f} s/iter '
          f'({theirs_cpu:.3f} s CPU) {theirs_mib:.0f} MiB: time {ours / theirs:.2f}x (CPU time {ours_cpu / theirs_cpu:.2f}x), '
          f'memory {ours_mib / theirs_mib:.2f}x')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    main()

#----------------------------------------------------------------------------
