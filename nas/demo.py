"""`make demo`: a shortened alphaGAN_(s) search (Tian et al. 2022) on Fashion-MNIST 32x32, re-training of the found
genotype and of the SN-GAN baseline (Miyato et al. 2018), sample grids, small-N FID, a micro_dynw StyleGAN2 search."""

import dataclasses
import functools
import json
import os
import shlex
import subprocess
import sys
import time

import click

import dnnlib
from dnnlib.util import UserError, atomic_write, cli_main, format_time
from metrics import detectors
from metrics.fast import FastEvaluator
import nas.backbones # every backbone's networks, also under the names older snapshots use
from nas import report
from nas.genotype import Genotype
from training import stylegan2_ada_import

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, 'nas', 'genotypes', 'sngan_baseline.json')

#----------------------------------------------------------------------------
# Budgets. full: the paper's alphaGAN_(s) protocol shortened to fit about 20 minutes on an idle 2-core CPU
# (paper: G 256 / D 128 channels, batch 64, T = S = R = 20, 100 iterations; measured times in docs/demo.md).
# Both re-trainings use the same widths, batch and kimg. toy: a few steps of everything, for the test.

# How a cell-space genotype re-trains at small scale (docs/results.md, "Re-training recipe"): train.py
# --cfg=conv_cifar (hinge loss, AutoGAN's spectral-norm D, Adam 2e-4 (0, 0.9)) with one D step per G step and a
# constant learning rate. At a CPU budget of tens of kimg G's number of steps dominates: the papers' n_critic 5 leaves
# it a fifth of them (FID 302 against 228 after 8 kimg at 32 channels), and TTUR (1e-4 / 4e-4) trailed (266).
CELL_RECIPE = ('--cfg=conv_cifar', '--n-critic=1', '--lr-decay=none')

SIZES = {
    'full': dict(search_channels=16, search_batch=8, search_steps=10, search_iters=16, search_snap=4,
                 train_channels=32, train_batch=16, train_kimg=24, train_tick=6, ema_kimg=1,
                 dynw_width=1 / 32, dynw_batch=4, dynw_T=10, dynw_S=10, dynw_R=5, dynw_iters=30, dynw_snap=5,
                 grid_seeds='0-63', fid_num=500),
    'toy':  dict(search_channels=4, search_batch=2, search_steps=1, search_iters=2, search_snap=2,
                 train_channels=4, train_batch=4, train_kimg=0.016, train_tick=0.008, ema_kimg=0.01,
                 dynw_width=1 / 256, dynw_batch=2, dynw_T=1, dynw_S=1, dynw_R=1, dynw_iters=2, dynw_snap=2,
                 grid_seeds='0-3', fid_num=8),
}

#----------------------------------------------------------------------------
# One step of the pipeline. A stage whose command (or, in-process, whose key) matches the one recorded in
# demo-state.json and whose output file still exists is reused, not run again.

@dataclasses.dataclass
class Stage:
    name:   str                 # Also the sub-directory of the output directory and the log file name.
    deps:   tuple               # Stages whose results the command needs.
    output: object              # (stage dir, run dir) -> the file that exists once the stage has finished.
    argv:   object = None       # results -> argument list of a root CLI (run as a subprocess).
    key:    object = None       # results -> description of an in-process stage (instead of argv).
    kind:   str = 'run'         # 'run' = makes a numbered run directory; 'files' = writes into its own directory.

def found_json(stage_dir, run_dir):
    return os.path.join(run_dir, 'found.json')

def newest_snapshot(stage_dir, run_dir):
    snapshots = report.numbered(run_dir, 'network-snapshot-', 'pkl')
    return snapshots[-1][1] if snapshots else os.path.join(run_dir, 'network-snapshot-missing.pkl')

def grid_png(stage_dir, run_dir):
    return os.path.join(stage_dir, 'grid.png')

def metrics_json(stage_dir, run_dir):
    return os.path.join(stage_dir, 'metrics.json')

#----------------------------------------------------------------------------
# The pipeline: two searches, two re-trainings, two grids, then FID in this process.

def plan(outdir, data, cfg, device, detector):
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

    def fid(results):
        networks = {model: results[f'train-{model}']['output'] for model in ('found', 'baseline')}
        return json.dumps(dict(networks=networks, data=data, num=cfg['fid_num'], detector=detector), sort_keys=True)

    # Listed so that two lanes keep busy: search -> train-found -> grid-found; train-baseline -> grid -> dynw.
    # FID waits for everything, so that it has every core.
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
        Stage('fid', ('train-found', 'train-baseline', 'dynw', 'grid-found', 'grid-baseline'), metrics_json, key=fid,
              kind='files'),
    ]

#----------------------------------------------------------------------------
# FID of both re-trained generators on a small sample (metrics.fast.FastEvaluator: the first `num` real images,
# `num` generated ones, one latent seed), written to <stage dir>/metrics.json.

def compute_fids(stage_dir, networks, data, num, detector, device, log):
    evaluator = FastEvaluator(dataset_kwargs=dnnlib.EasyDict(class_name='training.dataset.ImageFolderDataset',
                                                             path=data), num_gen=num, max_real=num,
                              detector=detector, device=device, batch_size=min(64, num))
    start = time.time()
    evaluator.real_stats()
    result = dict(metric=f'fid (first {num} real images vs {num} generated)', num_real=num, num_gen=num, data=data,
                  detector=detector or 'offline', real_stats_seconds=time.time() - start, models={})
    for model, network in networks.items():
        G = stylegan2_ada_import.load_network(network, device=evaluator.opts.device)['G_ema']
        r = evaluator(G, seed=0)
        result['models'][model] = dict(fid=float(r.fid), network=network, seconds=r.time)
        log(f'  FID {model}: {r.fid:.2f} ({num} vs {num} images, {r.time:.0f} s)')
    os.makedirs(stage_dir, exist_ok=True)
    with atomic_write(os.path.join(stage_dir, 'metrics.json'), 'w') as f:
        json.dump(result, f, indent=2)

#----------------------------------------------------------------------------
# Running the stages: at most `jobs` subprocesses at a time, each with its own log; in-process stages run when no
# subprocess does. The state file records every finished stage. nas/benchmark.py runs its stages with this too.

def _poll(job):
    """Exit code of a finished subprocess (None while it runs); its CPU seconds go into job['cpu']."""
    if not hasattr(os, 'wait4'): # no per-child CPU time on this platform
        return job['proc'].poll()
    pid, status, usage = os.wait4(job['proc'].pid, os.WNOHANG)
    if pid == 0:
        return None
    job['cpu'] = usage.ru_utime + usage.ru_stime
    job['proc'].returncode = os.waitstatus_to_exitcode(status)
    return job['proc'].returncode

def _run_dirs(path):
    if not os.path.isdir(path):
        return set()
    return {name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name))}

class Runner:
    def __init__(self, outdir, jobs, log, state_name='demo-state.json'):
        self.outdir = outdir
        self.jobs = jobs
        self.log = log
        self.state_path = os.path.join(outdir, state_name)
        self.state = report.read_json(self.state_path) if os.path.isfile(self.state_path) else {}
        self.results = {}
        self.env = dict(os.environ)
        if 'OMP_NUM_THREADS' not in self.env: # oversubscribed threads make a 2-core machine several times slower
            cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
            self.env['OMP_NUM_THREADS'] = str(max(cores // jobs, 1))

    def save(self):
        with atomic_write(self.state_path, 'w') as f:
            json.dump(self.state, f, indent=2)

    def command(self, stage):
        """Shell command line of a subprocess stage, relative to the current directory so it can be copied."""
        args = stage.argv(self.results)
        script = os.path.relpath(os.path.join(ROOT, args[0]))
        return [os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable,
                script, *args[1:]]

    def reuse(self, stage, key):
        prev = self.state.get(stage.name)
        if prev is None or prev['key'] != key or not os.path.isfile(prev['output']):
            return False
        self.results[stage.name] = dict(prev, status='reused')
        self.log(f'[{stage.name}] reused: {prev["output"]} ({format_time(prev["seconds"])} when it ran)')
        return True

    def start(self, stage, argv):
        stage_dir = os.path.join(self.outdir, stage.name)
        log_path = os.path.join(self.outdir, 'logs', f'{stage.name}.log')
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self.log(f'[{stage.name}] {shlex.join(argv)}')
        job = dict(start=time.time(), before=_run_dirs(stage_dir), key=shlex.join(argv), log=log_path)
        with open(log_path, 'w') as log_file:
            job['proc'] = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=self.env)
        return job

    def finish(self, stage, job):
        stage_dir = os.path.join(self.outdir, stage.name)
        run_dir = None
        if stage.kind == 'run':
            new = sorted(_run_dirs(stage_dir) - job['before'])
            if not new:
                raise UserError(f'{stage.name}: the command finished but wrote no run directory in {stage_dir}')
            run_dir = os.path.join(stage_dir, new[-1])
        seconds = time.time() - job['start']
        output = stage.output(stage_dir, run_dir)
        if not os.path.isfile(output):
            raise UserError(f'{stage.name}: finished without writing {output}; see {job["log"]}')
        self.state[stage.name] = dict(key=job['key'], output=output, run_dir=run_dir, seconds=seconds,
                                      cpu_seconds=job.get('cpu'), log=job.get('log'), shell=stage.argv is not None)
        self.save()
        self.results[stage.name] = dict(self.state[stage.name], status='ran')
        cpu = f', CPU {format_time(job["cpu"])}' if job.get('cpu') is not None else ''
        self.log(f'[{stage.name}] done in {format_time(seconds)}{cpu}: {output}')

    def fail(self, stage, job, running):
        for other in running.values(): # only processes this runner started
            other['proc'].terminate()
            other['proc'].wait()
        with open(job['log'], encoding='utf-8', errors='replace') as f:
            tail = f.read().splitlines()[-15:]
        self.log('\n'.join(f'  {line}' for line in tail))
        raise UserError(f'stage {stage.name} failed with exit code {job["proc"].returncode}; log: {job["log"]}')

    def run(self, stages, in_process):
        pending = list(stages)
        running = {} # stage name -> job
        last_beat = time.time()
        while pending or running:
            for stage in list(pending):
                if not all(dep in self.results for dep in stage.deps):
                    continue
                if stage.argv is not None:
                    argv = self.command(stage)
                    if self.reuse(stage, shlex.join(argv)):
                        pending.remove(stage)
                    elif len(running) < self.jobs:
                        running[stage.name] = dict(self.start(stage, argv), stage=stage)
                        pending.remove(stage)
                else:
                    key = stage.key(self.results)
                    if self.reuse(stage, key):
                        pending.remove(stage)
                    elif not running:
                        self.log(f'[{stage.name}] computing in this process')
                        job = dict(start=time.time(), before=set(), key=key, cpu=time.process_time())
                        in_process[stage.name](self.results)
                        job['cpu'] = time.process_time() - job['cpu'] # every thread of this process
                        self.finish(stage, job)
                        pending.remove(stage)
            for name, job in list(running.items()):
                if _poll(job) is None:
                    continue
                del running[name]
                if job['proc'].returncode != 0:
                    self.fail(job['stage'], job, running)
                self.finish(job['stage'], job)
            if running:
                if time.time() - last_beat >= 60:
                    last_beat = time.time()
                    self.log('  running: ' + ', '.join(f'{n} ({format_time(time.time() - j["start"])})'
                                                       for n, j in running.items()))
                time.sleep(0.2)
            elif pending and not any(all(d in self.results for d in s.deps) for s in pending):
                raise UserError(f'stages {", ".join(s.name for s in pending)} wait for stages that never ran')
        return self.results

#----------------------------------------------------------------------------
# The demo report: metrics table with both FIDs, both grids, the search and the W choice, the stages. Links are
# relative to the output directory, so the directory can be moved or copied as a whole.

def _link(outdir, path, text):
    return f'<a href="{report.esc(os.path.relpath(path, outdir))}">{report.esc(text)}</a>'

def _overview(cfg, size, fid, n_critic, total_seconds):
    return (f'<p>Data {report.esc(fid["data"])}, size <b>{size}</b>. This invocation took '
            f'{format_time(total_seconds)}; stages reused from an earlier one cost nothing here (their times are in the '
            f'stage table). An alphaGAN_(s) search on the conventional backbone shortened '
            f'to {cfg["search_iters"]} iterations of T = S = R = {cfg["search_steps"]} at {cfg["search_channels"]} '
            f'channels and batch {cfg["search_batch"]} (paper: 100 iterations of 20, 256/128 channels, batch 64); the '
            f'found genotype and the SN-GAN baseline re-trained the same way ({cfg["train_channels"]} channels, '
            f'D batch {cfg["train_batch"]}, {cfg["train_kimg"]} kimg of D images, n_critic {n_critic}); a micro_dynw '
            f'StyleGAN2 search at width {cfg["dynw_width"]:g} of config-f for {cfg["dynw_iters"]} iterations.</p>')

def _metrics(outdir, results, fid):
    rows = []
    for model, genotype in [('found', _link(outdir, results['search']['output'], 'found.json')),
                            ('baseline', _link(outdir, BASELINE, os.path.relpath(BASELINE)))]:
        m = fid['models'][model]
        rows.append([model, genotype, f'{m["fid"]:.2f}', _link(outdir, m['network'], os.path.basename(m['network'])),
                     _link(outdir, results[f'grid-{model}']['output'], 'grid.png')])
    header = ['model', 'genotype', f'FID ({fid["num_gen"]} vs {fid["num_real"]})', 'network', 'grid']
    return report.table(header, rows) + report.note(
        f'FID with the {fid["detector"]} detector from {fid["num_gen"]} generated images against the first '
        f'{fid["num_real"]} images of {fid["data"]}: a small N, so the values are biased upwards and noisy; compare '
        f'the two only with each other, never with published FID50k numbers. A standard number: python '
        f'calc_metrics.py --metrics=fid10k_full --network=<network>.')

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
        what = f'<code>{report.esc(r["key"])}</code>' if r['shell'] else 'in this process (metrics.fast.FastEvaluator)'
        cpu = format_time(r['cpu_seconds']) if r.get('cpu_seconds') is not None else '-'
        rows.append([report.esc(name), r['status'], format_time(r['seconds']), cpu, what, log])
    return report.table(['stage', 'status', 'wall time', 'CPU time', 'command', 'log'], rows) + report.note(
        "CPU time: user + system seconds of the stage's process (all its threads); on an idle machine a one-thread "
        "stage takes about its CPU time.")

def write_demo_report(outdir, results, cfg, size, total_seconds):
    fid = report.read_json(results['fid']['output'])
    n_critic = report.read_json(os.path.join(results['train-found']['run_dir'], 'training_options.json'))['n_critic']
    command = f'python -m nas.demo --outdir={outdir}' + (' --toy' if size == 'toy' else '')
    sections = [
        ('overview',  'Overview', _overview(cfg, size, fid, n_critic, total_seconds)),
        ('metrics',   'Metrics', _metrics(outdir, results, fid)),
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

def check_inputs(detector, **paths):
    """The resolved detector spec, after checking that every data file {option: path} and the detector exist."""
    for option, path in paths.items():
        if not os.path.isfile(path):
            raise UserError(f'{option}: {path}: no such file; run "make data" first')
    try:
        resolved = detectors.resolve_detector(detector)
    except UserError as err:
        raise UserError(f'--detector: {err}') from None
    if not dnnlib.util.is_url(resolved) and not os.path.isfile(resolved):
        raise UserError(f'--detector: {resolved}: no such file')
    return resolved

def run_demo(outdir, data, size='full', jobs=2, detector=None, device=None,
             log=functools.partial(print, flush=True)):
    check_inputs(detector, **{'--data': data})
    cfg = SIZES[size]
    start = time.time()
    os.makedirs(outdir, exist_ok=True)
    runner = Runner(outdir, jobs=jobs, log=log)
    log(f'Demo ({size}) in {outdir}: {jobs} stage(s) at a time, OMP_NUM_THREADS={runner.env["OMP_NUM_THREADS"]} '
        f'each; logs in {os.path.join(outdir, "logs")}')

    def fid(results):
        networks = {model: results[f'train-{model}']['output'] for model in ('found', 'baseline')}
        compute_fids(os.path.join(outdir, 'fid'), networks, data, cfg['fid_num'], detector, device, log)

    results = runner.run(plan(outdir, data, cfg, device, detector), in_process=dict(fid=fid))
    for name in ('search', 'dynw', 'train-found', 'train-baseline'):
        report.write_report(results[name]['run_dir'])
    path = write_demo_report(outdir, results, cfg, size, time.time() - start)
    log(f'Demo report: {path} ({format_time(time.time() - start)})')
    return results

#----------------------------------------------------------------------------

@click.command()
@click.option('--outdir',   help='Where to put the demo', metavar='DIR', default='demo', show_default=True)
@click.option('--data',     help='Fashion-MNIST 32x32 zip (make data)', metavar='ZIP', default='datasets/fmnist32.zip', show_default=True)
@click.option('--toy',      help='A few steps of everything (seconds; for tests)', is_flag=True)
@click.option('--jobs',     help='Stages run at the same time', metavar='INT', type=click.IntRange(min=1), default=2, show_default=True)
@click.option('--detector', help='FID detector: offline, a path or URL', metavar='SPEC', default='offline', show_default=True)
@click.option('--device',   help='Device (default: cuda when available)', type=click.Choice(['cuda', 'cpu']))
def main(outdir, data, toy, jobs, detector, device):
    """Run the ganas demo end to end; finished stages are reused on a second run.

    \b
    Example:
    python -m nas.demo --outdir=demo
    """
    run_demo(outdir, data, size='toy' if toy else 'full', jobs=jobs, detector=detector, device=device)

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
