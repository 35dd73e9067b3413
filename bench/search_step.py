"""Search speed: seconds per search iteration (alphaGAN: T weight steps + S architecture steps + R steps of each
of G_bar and D_bar), measured by search.py's own configuration (nas.search.config) and search loop on a synthetic dataset.

Examples:
  python bench/search_step.py --resolution=32                                     # conventional, paper CIFAR-10 setting
  python bench/search_step.py --resolution=32 -- --g-channels=16 --d-channels=16 --batch=8 --T=10 --S=10 --R=10
  python bench/search_step.py --resolution=128 -- --mode=micro_dynw               # StyleGAN2, paper supp. A.1.2 setting
Arguments after `--` go to search.py unchanged.
"""

import json
import os
import sys
import tempfile

import click
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import search                  # noqa: E402
from bench.common import cli_options, device_name, make_zip  # noqa: E402
from nas.search import config, search_loop  # noqa: E402

#----------------------------------------------------------------------------

@click.command(context_settings=dict(ignore_unknown_options=True))
@click.option('--resolution', type=int, default=32, show_default=True)
@click.option('--iters', type=click.IntRange(min=2), default=3, show_default=True, help='Iterations; the first is not timed')
@click.argument('search_args', nargs=-1, type=click.UNPROCESSED)
def main(resolution, iters, search_args):
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

if __name__ == '__main__':
    main()

#----------------------------------------------------------------------------
