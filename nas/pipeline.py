"""Resumable pipelines of the project's commands, shared by `make demo` (nas/demo.py) and the benchmark
(nas/benchmark.py): stages run as subprocesses on a few lanes, recorded in a state file and reused on the next run."""

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time

import dnnlib
from dnnlib.util import UserError, atomic_write, format_time
from metrics import detectors
from nas import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# How a cell-space genotype re-trains at small scale (docs/results.md, "Re-training recipe"): train.py
# --cfg=conv_cifar (hinge loss, AutoGAN's spectral-norm D, Adam 2e-4 (0, 0.9)) with one D step per G step and a
# constant learning rate. At a CPU budget of tens of kimg G's number of steps dominates: the papers' n_critic 5 leaves
# it a fifth of them (FID 302 against 228 after 8 kimg at 32 channels), and TTUR (1e-4 / 4e-4) trailed (266).
CELL_RECIPE = ('--cfg=conv_cifar', '--n-critic=1', '--lr-decay=none')

#----------------------------------------------------------------------------
# One step of a pipeline. A stage whose command (or, in-process, whose key) matches the one recorded in the state
# file and whose output file still exists is reused, not run again.

@dataclasses.dataclass
class Stage:
    name:   str                 # Also the sub-directory of the output directory and the log file name.
    deps:   tuple               # Stages that must finish first: their results feed the command, or it needs every core.
    output: object              # (stage dir, run dir) -> the file that exists once the stage has finished.
    argv:   object = None       # results -> argument list of a root CLI (run as a subprocess).
    key:    object = None       # results -> description of an in-process stage (instead of argv).
    kind:   str = 'run'         # 'run' = makes a numbered run directory; 'files' = writes into its own directory.

def found_json(stage_dir, run_dir):
    return os.path.join(run_dir, 'found.json')

def newest_snapshot(stage_dir, run_dir):
    snapshots = report.numbered(run_dir, 'network-snapshot-', 'pkl')
    return snapshots[-1][1] if snapshots else os.path.join(run_dir, 'network-snapshot-missing.pkl')

#----------------------------------------------------------------------------
# Inputs, checked before any stage runs.

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

#----------------------------------------------------------------------------
# Running the stages: at most `jobs` subprocesses at a time, each with its own log; in-process stages run when no
# subprocess does. The state file records every finished stage.

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

def _cpu_seconds():
    """CPU seconds of this process (every thread) and of the subprocesses it has waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system

class Runner:
    def __init__(self, outdir, jobs, log, state_name):
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
        job = dict(start=time.time(), before=dnnlib.util.sub_dirs(stage_dir), key=shlex.join(argv), log=log_path)
        with open(log_path, 'w') as log_file:
            job['proc'] = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=self.env)
        return job

    def finish(self, stage, job):
        stage_dir = os.path.join(self.outdir, stage.name)
        run_dir = None
        if stage.kind == 'run':
            new = sorted(dnnlib.util.sub_dirs(stage_dir) - job['before'])
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
                        job = dict(start=time.time(), before=set(), key=key, cpu=_cpu_seconds())
                        in_process[stage.name](self.results)
                        job['cpu'] = _cpu_seconds() - job['cpu'] # no other subprocess of ours runs meanwhile
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
