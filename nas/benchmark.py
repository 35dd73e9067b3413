"""`python -m nas.benchmark`: re-train every arm (searched genotypes, the SN-GAN baseline, published genotypes,
StyleGAN2's default synthesis against a micro_dynw search) with one budget over several seeds, score each network
by FID and KID against the held-out test split, and write a table with a significance test and a report page."""

import functools
import json
import os
import time

import click
import numpy as np
import scipy.stats
import torch

import dnnlib
from dnnlib.util import UserError, atomic_write, cli_main, format_time
from metrics import frechet_inception_distance
from metrics import kernel_inception_distance
from metrics import metric_utils
import nas.backbones # every backbone's networks, also under the names older snapshots use
from nas import pipeline
from nas import report
from nas import viz
from training import stylegan2_ada_import

GENOTYPES = os.path.join(pipeline.ROOT, 'nas', 'genotypes')

#----------------------------------------------------------------------------
# Budgets. Every cell-space arm re-trains with the same width, batch, kimg and recipe (pipeline.CELL_RECIPE: conv_cifar
# with n_critic 1, constant learning rate, G_ema on); the two StyleGAN2 arms share their own (train.py
# --cfg=stylegan2 at the dynw search's width). num: test images and generated images per FID/KID of the table
# (KID is unbiased at any N; FID is biased upwards at small N, so compare FIDs of equal N only); curve_num: the same
# for the FID-vs-kimg curve. full: sized for about 2 hours on 2 idle cores, quick: about 15 minutes (measured runs in
# docs/results.md). toy: a few steps of everything, for the test. --scale multiplies iterations, kimg and N.

SIZES = {
    'full':  dict(seeds=3, search_channels=16, search_batch=8, search_steps=10, search_iters=8, autogan_iters=6,
                  autogan_steps=20, random_iters=4, random_steps=40, reward_samples=100, reward_real=500,
                  dynw_width=1 / 32, dynw_batch=4, dynw_steps=5, dynw_iters=12,
                  train_channels=32, train_batch=16, train_kimg=12, train_tick=4, ema_kimg=1, num=500, curve_num=125),
    'quick': dict(seeds=2, search_channels=8, search_batch=8, search_steps=4, search_iters=6, autogan_iters=3,
                  autogan_steps=10, random_iters=2, random_steps=20, reward_samples=50, reward_real=250,
                  dynw_width=1 / 64, dynw_batch=4, dynw_steps=2, dynw_iters=6,
                  train_channels=16, train_batch=16, train_kimg=4, train_tick=4, ema_kimg=0.5, num=96, curve_num=24),
    'toy':   dict(seeds=2, search_channels=4, search_batch=2, search_steps=1, search_iters=2, autogan_iters=2,
                  autogan_steps=1, random_iters=2, random_steps=1, reward_samples=10, reward_real=10,
                  dynw_width=1 / 256, dynw_batch=2, dynw_steps=1, dynw_iters=2,
                  train_channels=4, train_batch=4, train_kimg=0.016, train_tick=0.008, ema_kimg=0.01, num=8, curve_num=4),
}
SCALED = ('search_iters', 'autogan_iters', 'random_iters', 'dynw_iters', 'train_kimg', 'train_tick', 'num',
          'curve_num')

#----------------------------------------------------------------------------
# The arms: (name, family, where the genotype comes from, what the search cost is). family 'cell' re-trains with the
# conventional recipe and is compared with the SN-GAN baseline; 'stylegan2' with StyleGAN2's default synthesis.

BASELINE = {'cell': 'SN-GAN baseline', 'stylegan2': 'StyleGAN2 default'}

def arms(seeds):
    """[(arm, family, genotype(results, seed) -> path, search stages of the arm)]."""
    file = lambda name: (lambda results, seed: os.path.join(GENOTYPES, f'{name}.json'))
    found = lambda stage: (lambda results, seed: results[stage]['output'])
    return [
        ('alphaGAN_(s) found', 'cell', lambda results, seed: results[f'search-alphagan-{seed}']['output'],
         [f'search-alphagan-{seed}' for seed in seeds]),
        ('AutoGAN found', 'cell', found('search-autogan'), ['search-autogan']),
        ('random found', 'cell', found('search-random'), ['search-random']),
        ('random (weight sharing) found', 'cell', found('search-random-ws'), ['search-random-ws']),
        ('SN-GAN baseline', 'cell', file('sngan_baseline'), []),
        ('alphaGAN_(s) published', 'cell', file('alphagan_s_cifar10'), []),
        ('alphaGAN_(l) published', 'cell', file('alphagan_l_cifar10'), []),
        ('AutoGAN published', 'cell', file('autogan_cifar10'), []),
        ('StyleGAN2 default', 'stylegan2', file('stylegan2_default'), []),
        ('micro_dynw found', 'stylegan2', found('search-dynw'), ['search-dynw']),
    ]

def slug(arm):
    return ''.join(ch if ch.isalnum() else '-' for ch in arm.lower()).strip('-').replace('--', '-')

#----------------------------------------------------------------------------
# The pipeline: searches, one re-training per arm and seed, then metrics in this process.

def plan(outdir, data, cfg, seeds, device, detector):
    sub = lambda name: os.path.join(outdir, name)
    device_args = [f'--device={device}'] if device is not None else []
    common = ['--workers=0'] + device_args
    widths = [f'--g-channels={cfg["search_channels"]}', f'--d-channels={cfg["search_channels"]}']
    controller = [f'--batch={cfg["search_batch"]}', f'--g-batch={cfg["search_batch"]}', '--reward=fid',
                  f'--reward-samples={cfg["reward_samples"]}', f'--reward-real={cfg["reward_real"]}',
                  f'--detector={detector}'] # the reward's real statistics from a subset: Inception on CPU is slow

    def alphagan(seed):
        steps = cfg['search_steps']
        return lambda results: ['search.py', f'--outdir={sub(f"search-alphagan-{seed}")}', f'--data={data}', *widths,
                                f'--batch={cfg["search_batch"]}', f'--T={steps}', f'--S={steps}', f'--R={steps}',
                                f'--iters={cfg["search_iters"]}', f'--seed={seed}'] + common

    def autogan(results):
        return ['search.py', f'--outdir={sub("search-autogan")}', f'--data={data}', '--method=autogan', *widths,
                *controller, f'--iters={cfg["autogan_iters"]}', f'--shared-steps={cfg["autogan_steps"]}',
                '--ctrl-steps=1', '--num-candidates=2', f'--seed={seeds[0]}'] + common

    def random(stage, *variant): # both variants of AutoGAN Sec. 4.3.5, with one budget of candidates and D steps
        return lambda results: ['search.py', f'--outdir={sub(stage)}', f'--data={data}', '--method=random', *variant,
                                *widths, *controller, f'--iters={cfg["random_iters"]}',
                                f'--train-steps={cfg["random_steps"]}', f'--seed={seeds[0]}'] + common

    def dynw(results):
        steps = cfg['dynw_steps']
        return ['search.py', f'--outdir={sub("search-dynw")}', f'--data={data}', '--mode=micro_dynw',
                f'--width-frac={cfg["dynw_width"]!r}', f'--batch={cfg["dynw_batch"]}', f'--T={steps}', f'--S={steps}',
                f'--R={steps}', f'--iters={cfg["dynw_iters"]}', f'--seed={seeds[0]}'] + common

    def train(name, family, genotype, seed):
        if family == 'cell':
            recipe = [*pipeline.CELL_RECIPE, f'--g-channels={cfg["train_channels"]}',
                      f'--d-channels={cfg["train_channels"]}']
        else: # config-f channels times the search's width fraction, the width micro_dynw searched at
            recipe = ['--cfg=stylegan2', f'--cbase={round(32768 * cfg["dynw_width"])}',
                      f'--cmax={max(round(512 * cfg["dynw_width"]), 1)}'] # 8 mapping layers: dynw's W_1..W_8
        return lambda results: [
            'train.py', f'--outdir={sub(name)}', f'--data={data}', f'--genotype={genotype(results, seed)}', *recipe,
            f'--batch={cfg["train_batch"]}', f'--kimg={cfg["train_kimg"]!r}', f'--tick={cfg["train_tick"]!r}',
            f'--ema-kimg={cfg["ema_kimg"]!r}', '--snap=1', '--metrics=none', '--grid-images=64',
            f'--seed={seed}'] + common

    searches = [pipeline.Stage(f'search-alphagan-{seed}', (), pipeline.found_json, argv=alphagan(seed))
                for seed in seeds]
    searches += [pipeline.Stage('search-autogan', (), pipeline.found_json, argv=autogan),
                 pipeline.Stage('search-random', (), pipeline.found_json, argv=random('search-random')),
                 pipeline.Stage('search-random-ws', (), pipeline.found_json,
                                argv=random('search-random-ws', '--weight-sharing')),
                 pipeline.Stage('search-dynw', (), pipeline.found_json, argv=dynw)]
    trainings = []
    for arm, family, genotype, deps in arms(seeds):
        for seed in seeds:
            name = f'train-{slug(arm)}-{seed}'
            stage_deps = tuple(d for d in deps if not d.startswith('search-alphagan-') or d.endswith(f'-{seed}'))
            trainings.append(pipeline.Stage(name, stage_deps, pipeline.newest_snapshot,
                                            argv=train(name, family, genotype, seed)))
    return searches + trainings

#----------------------------------------------------------------------------
# FID and KID against the first test images, from latent seed 0 (and torch's global seed 0, for StyleGAN2's noise).
# The table scores the last snapshot of a re-training with `num` generated and `num` real images; the FID-vs-kimg
# curve scores every snapshot with `curve_num` of each (the last one from the first `curve_num` of its `num`), so
# that one curve never mixes sample sizes. Inception on CPU is the cost here (about 0.09 s per image on 2 cores),
# hence the smaller N for the curve. FID from the mean and biased covariance as StyleGAN2-ADA computes them, KID
# (unbiased MMD^2, cubic kernel) from 100 subsets of min(N, 1000).

def fid_kid(real_features, gen_features):
    stats = []
    for features in (real_features, gen_features):
        feature_stats = metric_utils.FeatureStats(capture_mean_cov=True)
        feature_stats.append(features)
        stats += feature_stats.get_mean_cov()
    fid = frechet_inception_distance.frechet_distance(*stats)
    kid = kernel_inception_distance.kid_from_features(real_features, gen_features, 100, 1000,
                                                       rng=np.random.RandomState(0))
    return float(fid), float(kid)

def score_networks(test_data, trainings, num, curve_num, detector, device, log, on_scored=None):
    """{training: scores} of the last snapshot of each run directory in `trainings`, and its curve; on_scored(scores
    so far) runs after every network, so that an interrupted pass can keep what it finished."""
    opts = metric_utils.MetricOptions(dataset_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset',
                                      path=test_data), num_gpus=1, rank=0, device=device, detector=detector,
                                      batch_size=min(64, num), cache=False)
    det = opts.get_detector()
    real = metric_utils.compute_feature_stats_for_dataset(opts, det, max_items=num, capture_all=True).get_all()
    if len(real) < num:
        raise UserError(f'--test-data: {test_data} has {len(real)} images, fewer than the {num} asked for')

    def generated(G, count):
        opts.G, opts.seed = G, 0
        torch.manual_seed(0) # StyleGAN2's noise inputs come from the global generator: same draws every run
        return metric_utils.compute_feature_stats_for_generator(opts, det, num_gen=count, capture_all=True).get_all()

    scores = dict()
    for name, run_dir in trainings.items():
        snapshots = report.numbered(run_dir, 'network-snapshot-', 'pkl')
        curve = []
        for index, (kimg, path) in enumerate(snapshots):
            G = stylegan2_ada_import.load_network(path, device=opts.device)['G_ema']
            last = index == len(snapshots) - 1
            gen = generated(G, num if last else curve_num)
            fid, kid = fid_kid(real[:curve_num], gen[:curve_num])
            curve.append(dict(kimg=kimg, fid=fid, kid=kid, network=path))
        fid, kid = fid_kid(real, gen)
        params = sum(p.numel() for p in G.parameters())
        scores[name] = dict(curve=curve, fid=fid, kid=kid, params=params, network=path)
        log(f'  {name}: FID {fid:.2f}, KID {kid:.4f} (N = {num}; {len(curve)} snapshots at N = {curve_num})')
        if on_scored is not None:
            on_scored(scores)
    return scores

def reusable_scores(path, settings, networks, log):
    """The scores in an earlier scores.json that still hold: same settings, and for each training the same last
    snapshot, written before the scores were (a re-trained stage has a newer one)."""
    previous = report.read_json(path) if os.path.isfile(path) else None
    if previous is None or any(previous.get(key) != value for key, value in settings.items()):
        return dict()
    written = os.path.getmtime(path)
    kept = {name: score for name, score in previous.get('scores', {}).items() if networks.get(name) == score['network']
            and os.path.isfile(score['network']) and os.path.getmtime(score['network']) <= written}
    if kept:
        log(f'  reusing the scores of {len(kept)} of {len(networks)} networks from {path}')
    return kept

#----------------------------------------------------------------------------
# The table: per arm mean +- std over seeds, the search's cost, G parameters and Welch's t-test (unequal variances,
# scipy.stats.ttest_ind(equal_var=False)) of its FIDs and KIDs against those of its family's baseline.

def welch_p(a, b):
    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return None
    return float(scipy.stats.ttest_ind(a, b, equal_var=False).pvalue)

def summarize(seeds, state, scores):
    rows = []
    per_arm = {arm: [scores[f'train-{slug(arm)}-{seed}'] for seed in seeds] for arm, *_ in arms(seeds)}
    for arm, family, _genotype, searches in arms(seeds):
        fids = [s['fid'] for s in per_arm[arm]]
        kids = [s['kid'] for s in per_arm[arm]]
        base = per_arm[BASELINE[family]]
        cpu = [state[name]['cpu_seconds'] or state[name]['seconds'] for name in searches]
        params = sorted({s['params'] for s in per_arm[arm]})
        rows.append(dict(arm=arm, family=family, n=len(fids), fid=fids, kid=kids,
                         fid_mean=float(np.mean(fids)), fid_std=float(np.std(fids, ddof=1)) if len(fids) > 1 else None,
                         kid_mean=float(np.mean(kids)), kid_std=float(np.std(kids, ddof=1)) if len(kids) > 1 else None,
                         search_cpu_hours=sum(cpu) / 3600 / max(len(searches), 1) if searches else None,
                         params=params, baseline=BASELINE[family],
                         p_fid=None if arm == BASELINE[family] else welch_p(fids, [s['fid'] for s in base]),
                         p_kid=None if arm == BASELINE[family] else welch_p(kids, [s['kid'] for s in base])))
    return rows

def _pm(mean, std, digits):
    return f'{mean:.{digits}f}' + (f' +- {std:.{digits}f}' if std is not None else '')

def table_rows(rows):
    out = []
    for r in rows:
        cost = f'{r["search_cpu_hours"]:.3f}' if r['search_cpu_hours'] is not None else '-'
        params = '/'.join(f'{p:,}' for p in r['params'])
        pval = lambda p: '(baseline)' if r['arm'] == r['baseline'] else ('n/a' if p is None else f'{p:.3g}')
        out.append([r['arm'], str(r['n']), _pm(r['fid_mean'], r['fid_std'], 2), _pm(r['kid_mean'], r['kid_std'], 4),
                    pval(r['p_fid']), pval(r['p_kid']), cost, params])
    return out

TABLE_HEADER = ['arm', 'seeds', 'FID mean +- std', 'KID mean +- std', 'p (FID) vs baseline', 'p (KID) vs baseline',
                'search CPU h per search', 'G parameters']

def markdown_table(rows):
    lines = ['| ' + ' | '.join(TABLE_HEADER) + ' |', '|' + '---|' * len(TABLE_HEADER)]
    return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in table_rows(rows)]) + '\n'

def table_html(rows):
    """The table as HTML with its reading notes (the benchmark's report and the demo's)."""
    return report.table(TABLE_HEADER, [[report.esc(v) for v in row] for row in table_rows(rows)]) + report.note(
        'p: Welch\'s t-test (unequal variances) of the arm\'s per-seed values against its family\'s baseline (SN-GAN '
        'for cell-space arms, StyleGAN2 default for micro_dynw); n/a with fewer than two seeds. std: sample standard '
        'deviation over seeds. A found arm\'s seeds are independent searches each re-trained once, so its spread '
        'holds the search\'s variance too.')

#----------------------------------------------------------------------------
# Pictures and the report page.

def plot_fid_curves(seeds, scores, path):
    """FID against kimg per arm: the mean over seeds (snapshots at the same kimg in every seed's run)."""
    series = dict()
    for arm, *_ in arms(seeds):
        curves = [scores[f'train-{slug(arm)}-{seed}']['curve'] for seed in seeds]
        length = min(len(c) for c in curves)
        series[arm] = ([c['kimg'] for c in curves[0][:length]],
                       [float(np.mean([c[i]['fid'] for c in curves])) for i in range(length)])
    viz.plot_curves(series, path, f'FID (mean of {len(seeds)} seeds)', xlabel='kimg', figsize=(7, 4))

def newest_grid(run_dir):
    grids = report.numbered(run_dir, 'fakes', 'png')
    return grids[-1][1] if grids else None

def write_benchmark_report(outdir, size, cfg, seeds, rows, results, scores, num, curve_num, total_seconds, command):
    curves = os.path.join(outdir, 'fid_vs_kimg.png')
    grids = []
    for arm, *_ in arms(seeds):
        run_dir = results[f'train-{slug(arm)}-{seeds[0]}']['run_dir']
        grid = newest_grid(run_dir)
        if grid is not None:
            grids.append(report.figure(report.grid_bytes(grid, 32, max_px=256)[0], f'{arm} (seed {seeds[0]})',
                                       pixels=True))
    overview = (f'<p>Size <b>{size}</b>, seeds {", ".join(map(str, seeds))}. Cell-space arms re-trained at '
                f'{cfg["train_channels"]} channels, batch {cfg["train_batch"]}, {cfg["train_kimg"]:g} kimg (train.py '
                f'{" ".join(pipeline.CELL_RECIPE)}, G_ema half-life {cfg["ema_kimg"]:g} kimg); StyleGAN2 arms at width '
                f'{cfg["dynw_width"]:g} of config-f. FID and KID of G_ema against the first {num} test images, {num} '
                f'generated images each; the FID-vs-kimg curve with {curve_num} of each. This invocation took '
                f'{format_time(total_seconds)}.</p>')
    stages = [[report.esc(name), r['status'], format_time(r['seconds']),
               format_time(r['cpu_seconds']) if r.get('cpu_seconds') is not None else '-',
               f'<code>{report.esc(r["key"])}</code>'] for name, r in results.items()]
    sections = [
        ('overview', 'Overview', overview),
        ('table', 'Results', table_html(rows)),
        ('curves', 'FID over training', report.figure(curves, 'FID of G_ema against kimg, mean over seeds')),
        ('grids', 'Samples, one grid per arm', '\n'.join(grids)),
        ('stages', 'Stages', report.table(['stage', 'status', 'wall time', 'CPU time', 'command'], stages)),
        ('reproduce', 'Reproduce', report.pre(command)),
    ]
    path = os.path.join(outdir, 'report.html')
    with atomic_write(path, 'w') as f:
        f.write(report.page('ganas benchmark: search methods against baselines', sections))
    return path

#----------------------------------------------------------------------------
# The whole benchmark.

def run_benchmark(outdir, data, test_data, size='quick', seeds=None, scale=1.0, jobs=2, detector=None, device=None,
                  log=functools.partial(print, flush=True)):
    resolved = pipeline.check_inputs(detector, **{'--data': data, '--test-data': test_data})
    cfg = dict(SIZES[size])
    for key in SCALED:
        cfg[key] = cfg[key] * scale if key in ('train_kimg', 'train_tick') else max(round(cfg[key] * scale), 1)
    seeds = list(seeds) if seeds is not None else list(range(cfg['seeds']))
    start = time.time()
    os.makedirs(outdir, exist_ok=True)
    runner = pipeline.Runner(outdir, jobs=jobs, log=log, state_name='benchmark-state.json')
    log(f'Benchmark ({size}, scale {scale:g}, seeds {seeds}) in {outdir}: {jobs} stage(s) at a time')
    stages = plan(outdir, data, cfg, seeds, device, resolved)
    trainings = [s.name for s in stages if s.name.startswith('train-')]
    num, curve_num = cfg['num'], min(cfg['curve_num'], cfg['num'])

    def metrics_key(results): # a re-trained stage may write its network to the same path: its time tells
        networks = {n: results[n]['output'] for n in trainings}
        networks = {n: [path, os.path.getmtime(path) if os.path.isfile(path) else None] for n, path in networks.items()}
        return json.dumps(dict(networks=networks, test=test_data, num=num, curve_num=curve_num, detector=resolved),
                          sort_keys=True)

    # The metrics stage re-runs when any network changed; it keeps the scores of the others.
    scores_path = os.path.join(outdir, 'metrics', 'scores.json')
    settings = dict(num_real=num, num_gen=num, curve_num=curve_num, test_data=test_data, detector=resolved)

    def write_scores(scores):
        os.makedirs(os.path.dirname(scores_path), exist_ok=True)
        with atomic_write(scores_path, 'w') as f:
            json.dump(dict(settings, scores=scores), f, indent=2)

    def metrics(results):
        scores = reusable_scores(scores_path, settings, {n: results[n]['output'] for n in trainings}, log)
        todo = {n: results[n]['run_dir'] for n in trainings if n not in scores}
        if todo:
            scores.update(score_networks(test_data, todo, num, curve_num, resolved, device, log,
                                         on_scored=lambda new: write_scores(dict(scores, **new))))
        write_scores(scores)

    stages.append(pipeline.Stage('metrics', tuple(trainings), lambda stage_dir, run_dir: os.path.join(stage_dir,
                             'scores.json'), key=metrics_key, kind='files'))
    results = runner.run(stages, in_process=dict(metrics=metrics))
    scores = report.read_json(results['metrics']['output'])['scores']
    rows = summarize(seeds, runner.state, scores)
    with atomic_write(os.path.join(outdir, 'table.json'), 'w') as f:
        json.dump(dict(size=size, scale=scale, seeds=seeds, num=num, rows=rows), f, indent=2)
    with atomic_write(os.path.join(outdir, 'table.md'), 'w') as f:
        f.write(markdown_table(rows))
    plot_fid_curves(seeds, scores, os.path.join(outdir, 'fid_vs_kimg.png'))
    command = (f'python -m nas.benchmark --outdir={outdir} --data={data} --test-data={test_data}' +
               (' --quick' if size == 'quick' else '') + f' --seeds={",".join(map(str, seeds))} --scale={scale:g}')
    path = write_benchmark_report(outdir, size, cfg, seeds, rows, results, scores, num, curve_num, time.time() - start,
                                  command)
    log(markdown_table(rows))
    log(f'Benchmark report: {path} ({format_time(time.time() - start)})')
    return rows

#----------------------------------------------------------------------------

def parse_seeds(ctx, param, value):
    if value is None:
        return None
    try:
        seeds = [int(s) for s in value.split(',') if s.strip()]
    except ValueError:
        raise click.BadParameter(f'{value!r} is not a comma-separated list of integers') from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise click.BadParameter(f'{value!r}: expected distinct non-negative integers')
    return seeds

@click.command()
@click.option('--outdir',    help='Run directory (stages resume in it)', metavar='DIR', default='benchmark', show_default=True)
@click.option('--data',      help='Training data zip', metavar='ZIP', default='datasets/fmnist32.zip', show_default=True)
@click.option('--test-data', help='Held-out test split zip', metavar='ZIP', default='datasets/fmnist32-test.zip', show_default=True)
@click.option('--quick',     help='The quick budget (about 15 minutes on 2 cores) instead of the full one', is_flag=True)
@click.option('--seeds',     help='Comma-separated seeds  [default: 0-2 full, 0-1 quick]', metavar='LIST', callback=parse_seeds)
@click.option('--scale',     help='Multiply search iterations, kimg and N (e.g. 10 on a GPU)', metavar='FLOAT', type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option('--jobs',      help='Stages run at the same time', metavar='INT', type=click.IntRange(min=1), default=2, show_default=True)
@click.option('--detector',  help='FID/KID detector: offline, a path or URL', metavar='SPEC', default='offline', show_default=True)
@click.option('--device',    help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
def main(outdir, data, test_data, quick, seeds, scale, jobs, detector, device):
    """Rank searched generators against baselines: re-train each arm over seeds, FID/KID on the test split.

    \b
    Example:
    python -m nas.benchmark --quick --outdir=benchmark-quick
    """
    run_benchmark(outdir, data, test_data, size='quick' if quick else 'full', seeds=seeds, scale=scale, jobs=jobs,
                  detector=detector, device=device)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
