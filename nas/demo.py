"""`make demo`: a shortened alphaGAN_(s) search (Tian et al. 2022) on Fashion-MNIST 32x32, re-training of the found
genotype and of the SN-GAN baseline (Miyato et al. 2018), sample grids, a micro_dynw StyleGAN2 search, then the quick
benchmark of search methods against baselines (nas/benchmark.py)."""

import functools
import json
import os
import time

import click

from dnnlib.util import atomic_write, cli_main, format_time
from nas import benchmark
from nas import report
from nas.genotype import Genotype
from nas.pipeline import CELL_RECIPE, ROOT, Runner, Stage, check_inputs, found_json, newest_snapshot

BASELINE = os.path.join(ROOT, 'nas', 'genotypes', 'sngan_baseline.json')

#----------------------------------------------------------------------------
# Budgets. full: the paper's alphaGAN_(s) protocol shortened to fit about 20 minutes on an idle 2-core CPU
# (paper: G 256 / D 128 channels, batch 64, T = S = R = 20, 100 iterations), then the quick benchmark. Both
# re-trainings use the same widths, batch, kimg and recipe (nas.pipeline.CELL_RECIPE). toy: a few steps of
# everything, the toy benchmark included, for the test.

SIZES = {
    'full': dict(search_channels=16, search_batch=8, search_steps=10, search_iters=16, search_snap=4,
                 train_channels=32, train_batch=16, train_kimg=24, train_tick=6, ema_kimg=1,
                 dynw_width=1 / 32, dynw_batch=4, dynw_T=10, dynw_S=10, dynw_R=5, dynw_iters=30, dynw_snap=5,
                 grid_seeds='0-63', benchmark='quick'),
    'toy':  dict(search_channels=4, search_batch=2, search_steps=1, search_iters=2, search_snap=2,
                 train_channels=4, train_batch=4, train_kimg=0.016, train_tick=0.008, ema_kimg=0.01,
                 dynw_width=1 / 256, dynw_batch=2, dynw_T=1, dynw_S=1, dynw_R=1, dynw_iters=2, dynw_snap=2,
                 grid_seeds='0-3', benchmark='toy'),
}

def grid_png(stage_dir, run_dir):
    return os.path.join(stage_dir, 'grid.png')

def table_json(stage_dir, run_dir):
    return os.path.join(stage_dir, 'table.json')

#----------------------------------------------------------------------------
# The pipeline: two searches, two re-trainings, two grids, then the benchmark: one in-process stage that waits for
# every other one and runs the benchmark's stages through nas.benchmark.run_benchmark on the demo's lanes. So those
# stages get every core (DEMO_JOBS at a time) instead of sharing them with the demo's, and they resume from
# <outdir>/benchmark/benchmark-state.json as `python -m nas.benchmark --outdir=<outdir>/benchmark` would there; the
# price is that one lane idles while the demo's longer lane finishes.

def plan(outdir, data, test_data, cfg, device, detector):
    def sub(name):
        return os.path.join(outdir, name)
    device_args = [f'--device={device}'] if device is not None else []
    common = ['--workers=0', '--seed=0'] + device_args

    def search(results):
        steps = cfg['search_steps']
        return ['search.py', f'--outdir={sub("search")}', f'--data={data}', f'--g-channels={cfg["search_channels"]}',
                f'--d-channels={cfg["search_channels"]}', f'--batch={cfg["search_batch"]}', f'--T={steps}',
                f'--S={steps}', f'--R={steps}', f'--iters={cfg["search_iters"]}',
                f'--snap={cfg["search_snap"]}'] + common

    def dynw(results):
        return ['search.py', f'--outdir={sub("dynw")}', f'--data={data}', '--mode=micro_dynw',
                f'--width-frac={cfg["dynw_width"]!r}', f'--batch={cfg["dynw_batch"]}', f'--T={cfg["dynw_T"]}',
                f'--S={cfg["dynw_S"]}', f'--R={cfg["dynw_R"]}', f'--iters={cfg["dynw_iters"]}',
                f'--snap={cfg["dynw_snap"]}'] + common

    def train(name, genotype): # one recipe for both: the baseline's AutoGAN-space default would be --cfg=autogan
        return lambda results: [
            'train.py', f'--outdir={sub(name)}', f'--data={data}', f'--genotype={genotype(results)}', *CELL_RECIPE,
            f'--g-channels={cfg["train_channels"]}', f'--d-channels={cfg["train_channels"]}',
            f'--batch={cfg["train_batch"]}', f'--kimg={cfg["train_kimg"]}', f'--tick={cfg["train_tick"]}',
            f'--ema-kimg={cfg["ema_kimg"]}', '--snap=1', '--metrics=none', '--grid-images=64'] + common

    def grid(name, model):
        return lambda results: ['generate.py', f'--network={results[model]["output"]}', f'--seeds={cfg["grid_seeds"]}',
                                '--grid', f'--outdir={sub(name)}'] + device_args

    def benchmark_key(results):
        return json.dumps(dict(size=cfg['benchmark'], data=data, test_data=test_data, detector=detector),
                          sort_keys=True)

    # Listed so that two lanes keep busy: search -> train-found -> grid-found; train-baseline -> grid -> dynw.
    return [
        Stage('search', (), found_json, argv=search),
        Stage('train-baseline', (), newest_snapshot,
              argv=train('train-baseline', lambda results: os.path.relpath(BASELINE))),
        Stage('train-found', ('search',), newest_snapshot,
              argv=train('train-found', lambda results: results['search']['output'])),
        Stage('grid-baseline', ('train-baseline',), grid_png, argv=grid('grid-baseline', 'train-baseline'),
              kind='files'),
        Stage('dynw', ('train-baseline',), found_json, argv=dynw),
        Stage('grid-found', ('train-found',), grid_png, argv=grid('grid-found', 'train-found'), kind='files'),
        Stage('benchmark', ('train-found', 'train-baseline', 'dynw', 'grid-found', 'grid-baseline'), table_json,
              key=benchmark_key, kind='files'),
    ]

#----------------------------------------------------------------------------
# The demo report: the benchmark's table, both grids, the search and the W choice, the stages. Links are relative to
# the output directory, so the directory can be moved or copied as a whole.

def _link(outdir, path, text):
    return f'<a href="{report.esc(os.path.relpath(path, outdir))}">{report.esc(text)}</a>'

def _overview(cfg, size, data, n_critic, total_seconds):
    return (f'<p>Data {report.esc(data)}, size <b>{size}</b>. This invocation took {format_time(total_seconds)}; '
            f'stages reused from an earlier one cost nothing here (their times are in the stage table). An '
            f'alphaGAN_(s) search on the conventional backbone shortened to {cfg["search_iters"]} iterations of '
            f'T = S = R = {cfg["search_steps"]} at {cfg["search_channels"]} channels and batch {cfg["search_batch"]} '
            f'(paper: 100 iterations of 20, 256/128 channels, batch 64); the found genotype and the SN-GAN baseline '
            f're-trained the same way ({cfg["train_channels"]} channels, D batch {cfg["train_batch"]}, '
            f'{cfg["train_kimg"]} kimg of D images, n_critic {n_critic}, G_ema half-life {cfg["ema_kimg"]} kimg); a '
            f'micro_dynw StyleGAN2 search at width {cfg["dynw_width"]:g} of config-f for {cfg["dynw_iters"]} '
            f'iterations; then the {cfg["benchmark"]} benchmark.</p>')

def _benchmark(outdir, table_path):
    table = report.read_json(table_path)
    bench_dir = os.path.dirname(table_path)
    cfg = benchmark.SIZES[table['size']]
    kimg = cfg['train_kimg'] * table['scale']
    links = [_link(outdir, os.path.join(bench_dir, name), text) for name, text in [('report.html', 'benchmark report'),
                                                                                   ('table.md', 'table.md')]]
    return (f'<p>The {table["size"]} benchmark (scale {table["scale"]:g}): every arm re-trained with one budget '
            f'({cfg["train_channels"]} channels, {kimg:g} kimg) for seeds {", ".join(map(str, table["seeds"]))}; FID '
            f'and KID of G_ema against the first {table["num"]} images of the test split, {table["num"]} generated '
            f'images each. Full report: {links[0]} (FID-vs-kimg curves, one grid per arm, every stage); the table as '
            f'Markdown: {links[1]}.</p>' + benchmark.table_html(table['rows']))

def _grids(results, cfg):
    parts = [report.figure(results[f'grid-{model}']['output'], f'{model}: generate.py --seeds={cfg["grid_seeds"]} '
                           f'--grid', pixels=True) for model in ('found', 'baseline')]
    reals = os.path.join(results['train-found']['run_dir'], 'reals.png')
    if os.path.isfile(reals):
        parts.append(report.figure(report.grid_bytes(reals, 32, max_px=256)[0], 'real images', pixels=True))
    return '\n'.join(parts)

def _search(outdir, run_dir, found):
    parts = [f'<p>Full report: {_link(outdir, os.path.join(run_dir, "report.html"), "search report")}.</p>']
    parts += [report.figure(os.path.join(run_dir, name), name) for name in ('architecture.png', 'duality_gap.png')
              if os.path.isfile(os.path.join(run_dir, name))]
    parts.append('<p>Found (top) and baseline (bottom):</p>' + report.genotype_table(found) +
                 report.genotype_table(Genotype.from_json(BASELINE)))
    return '\n'.join(parts)

def _dynw(outdir, run_dir, genotype):
    link = _link(outdir, os.path.join(run_dir, 'report.html'), 'micro_dynw search report')
    parts = [f'<p>Full report: {link}. Ops: normal {report.esc(genotype.ops["normal"][0])}, up '
             f'{report.esc(genotype.ops["up"][0])}; the W_i each layer reads:</p>' + report.w_selection_table(genotype)]
    if os.path.isfile(os.path.join(run_dir, 'alphas.png')):
        parts.append(report.figure(os.path.join(run_dir, 'alphas.png'), 'op weights and W choice (panels w.*) over '
                                   'iterations'))
    return '\n'.join(parts)

def _stages(outdir, results):
    rows = []
    for name, r in results.items():
        log = _link(outdir, r['log'], 'log') if r.get('log') and os.path.isfile(r['log']) else '-'
        what = f'<code>{report.esc(r["key"])}</code>' if r['shell'] else 'in this process (nas.benchmark.run_benchmark)'
        cpu = format_time(r['cpu_seconds']) if r.get('cpu_seconds') is not None else '-'
        rows.append([report.esc(name), r['status'], format_time(r['seconds']), cpu, what, log])
    return report.table(['stage', 'status', 'wall time', 'CPU time', 'command', 'log'], rows) + report.note(
        "CPU time: user + system seconds of the stage's process (all its threads; the benchmark's: this process and "
        "its stages' subprocesses); on an idle machine a one-thread stage takes about its CPU time.")

def write_demo_report(outdir, data, results, cfg, size, total_seconds):
    n_critic = report.read_json(os.path.join(results['train-found']['run_dir'], 'training_options.json'))['n_critic']
    command = f'python -m nas.demo --outdir={outdir}' + (' --toy' if size == 'toy' else '')
    sections = [
        ('overview',  'Overview', _overview(cfg, size, data, n_critic, total_seconds)),
        ('benchmark', 'Benchmark: search methods against baselines',
         _benchmark(outdir, results['benchmark']['output'])),
        ('grids',     'Re-trained samples', _grids(results, cfg)),
        ('search',    'alphaGAN search (conventional backbone)',
         _search(outdir, results['search']['run_dir'], Genotype.from_json(results['search']['output']))),
        ('dynw',      'micro_dynw search (StyleGAN2): W selection',
         _dynw(outdir, results['dynw']['run_dir'], Genotype.from_json(results['dynw']['output']))),
        ('stages',    'Stages and commands', _stages(outdir, results)),
        ('reproduce', 'Reproduce', report.pre(f'make demo    # or: {command}\nrm -r {outdir}    # start afresh; '
                                              f'otherwise finished stages are reused')),
    ]
    path = os.path.join(outdir, 'report.html')
    with atomic_write(path, 'w') as f:
        f.write(report.page('ganas demo: alphaGAN on Fashion-MNIST 32x32', sections))
    return path

#----------------------------------------------------------------------------
# The whole demo.

def run_demo(outdir, data, test_data, size='full', jobs=2, detector=None, device=None,
             log=functools.partial(print, flush=True)):
    resolved = check_inputs(detector, **{'--data': data, '--test-data': test_data})
    cfg = SIZES[size]
    start = time.time()
    os.makedirs(outdir, exist_ok=True)
    runner = Runner(outdir, jobs=jobs, log=log, state_name='demo-state.json')
    log(f'Demo ({size}) in {outdir}: {jobs} stage(s) at a time, OMP_NUM_THREADS={runner.env["OMP_NUM_THREADS"]} '
        f'each; logs in {os.path.join(outdir, "logs")}')

    def run_benchmark(results):
        benchmark.run_benchmark(os.path.join(outdir, 'benchmark'), data, test_data, size=cfg['benchmark'], jobs=jobs,
                                detector=detector, device=device, log=log)

    results = runner.run(plan(outdir, data, test_data, cfg, device, resolved),
                         in_process=dict(benchmark=run_benchmark))
    for name in ('search', 'dynw', 'train-found', 'train-baseline'):
        report.write_report(results[name]['run_dir'])
    path = write_demo_report(outdir, data, results, cfg, size, time.time() - start)
    log(f'Demo report: {path} ({format_time(time.time() - start)})')
    return results

#----------------------------------------------------------------------------

@click.command()
@click.option('--outdir',    help='Where to put the demo', metavar='DIR', default='demo', show_default=True)
@click.option('--data',      help='Fashion-MNIST 32x32 zip (make data)', metavar='ZIP', default='datasets/fmnist32.zip', show_default=True)
@click.option('--test-data', help='Fashion-MNIST 32x32 test split zip, for the benchmark (make data)', metavar='ZIP', default='datasets/fmnist32-test.zip', show_default=True)
@click.option('--toy',       help='A few steps of everything, the toy benchmark included (for tests)', is_flag=True)
@click.option('--jobs',      help='Stages run at the same time', metavar='INT', type=click.IntRange(min=1), default=2, show_default=True)
@click.option('--detector',  help='FID/KID detector: offline, a path or URL', metavar='SPEC', default='offline', show_default=True)
@click.option('--device',    help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
def main(outdir, data, test_data, toy, jobs, detector, device):
    """Run the ganas demo end to end; finished stages are reused on a second run.

    \b
    Example:
    python -m nas.demo --outdir=demo
    """
    run_demo(outdir, data, test_data, size='toy' if toy else 'full', jobs=jobs, detector=detector, device=device)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
