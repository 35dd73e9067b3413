"""The last step of AutoGAN's search protocol (Gong et al. 2019, Sec. 3.3.2) for every search method: re-train the
top-K candidates from scratch for a set budget with train.py --genotype, score each by the run's metric, keep the
best."""

import json
import os
import re
import subprocess
import sys
import time

import torch

import dnnlib
from dnnlib.util import UserError, atomic_write, format_time
from nas.genotype import Genotype
from nas.search.reward import RewardEvaluator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECORD_NAME = 'selection.json'     # The stage's record in the run directory, rewritten after every candidate.
SELECT_DIR = 'select'               # Candidate genotypes, re-training runs and their logs, under the run directory.
OWN_TRAIN_OPTIONS = ('--outdir', '--data', '--genotype', '--kimg', '--seed', '--metrics', '--resume', '--dry-run',
                     '-n', '--device') # train.py options the stage sets itself

#----------------------------------------------------------------------------
# The candidates. A method that ranks architectures by its own score (AutoGAN's final beam, random search's rewards)
# offers ranked_genotypes(k); for the others (alphaGAN) they are the newest distinct architectures among the derived
# genotypes of the last iterations (genotype-NNNNNN.json), read through the run directories a resumed search went
# through (each resume starts a new one).

def architecture(genotype):
    """What re-training builds from a genotype: everything but its provenance."""
    return json.dumps({k: v for k, v in genotype.to_dict().items() if k != 'provenance'}, sort_keys=True)

def iteration_genotypes(run_dir, resume):
    """{iteration: genotype-NNNNNN.json} of this run and the runs it continues, each iteration from the newest run
    that wrote it (an earlier run's files count up to the state the next run resumed from)."""
    from nas import report
    found, limit, seen = dict(), None, set()
    while run_dir is not None and os.path.abspath(run_dir) not in seen:
        seen.add(os.path.abspath(run_dir))
        for iteration, path in report.numbered(run_dir, 'genotype-', 'json'):
            if iteration not in found and (limit is None or iteration <= limit):
                found[iteration] = path
        m = re.fullmatch(r'search-state-(\d+)\.pt', os.path.basename(resume or ''))
        if m is None:
            break
        limit = int(m.group(1)) if limit is None else min(limit, int(m.group(1)))
        run_dir = os.path.dirname(resume)
        options = os.path.join(run_dir, 'search_options.json')
        resume = report.read_json(options).get('resume') if os.path.isfile(options) else None
    return found

def recent_genotypes(run_dir, resume, k):
    """The k newest distinct architectures of the iterations, newest first (k=1: the last iteration's)."""
    candidates, seen = [], set()
    for iteration, path in sorted(iteration_genotypes(run_dir, resume).items(), reverse=True):
        genotype = Genotype.from_json(path)
        if architecture(genotype) not in seen and len(candidates) < k:
            seen.add(architecture(genotype))
            candidates.append(dict(genotype=genotype, source=f'iteration {iteration}', search_score=None))
    return candidates

def search_candidates(algorithm, run_dir, resume, k, provenance):
    """[dict(genotype, source, search_score)] of at most k candidates, the search's own pick first."""
    if hasattr(algorithm, 'ranked_genotypes'):
        return algorithm.ranked_genotypes(k, **provenance)
    return recent_genotypes(run_dir, resume, k)

#----------------------------------------------------------------------------
# One candidate: train.py --genotype in a subprocess (the re-training path of the backbone, its log beside it), then
# the metric of the last snapshot's G_ema with torch's global seed fixed (StyleGAN2's noise inputs repeat).

def train_candidate(genotype_path, outdir, log_path, data, kimg, seed, device, train_args):
    """Run train.py on one candidate; returns its last network snapshot."""
    argv = [sys.executable, os.path.join(ROOT, 'train.py'), f'--outdir={outdir}', f'--data={data}',
            f'--genotype={genotype_path}', f'--kimg={kimg!r}', f'--seed={seed}', '--metrics=none',
            f'--device={device}', *train_args]
    before = dnnlib.util.sub_dirs(outdir)
    with open(log_path, 'w', encoding='utf-8') as log:
        returncode = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
    if returncode != 0:
        with open(log_path, encoding='utf-8', errors='replace') as f:
            errors = [line.strip() for line in f if line.startswith('Error: ')]
        why = errors[-1].removeprefix('Error: ') if errors else f'exit code {returncode}'
        raise UserError(f'--select-top: train.py failed on {genotype_path}: {why} (log: {log_path})')
    from nas import report
    made = sorted(dnnlib.util.sub_dirs(outdir) - before)
    snapshots = report.numbered(os.path.join(outdir, made[-1]), 'network-snapshot-', 'pkl') if made else []
    if not snapshots:
        raise UserError(f'--select-top: train.py wrote no network snapshot in {outdir} (log: {log_path})')
    return snapshots[-1][1]

def score_network(evaluator, snapshot, device):
    """The evaluator's reward (higher is better) of the snapshot's G_ema."""
    from training import stylegan2_ada_import
    G = stylegan2_ada_import.load_network(snapshot, device=device)['G_ema']
    devices = [device] if torch.device(device).type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        return float(evaluator(G))

#----------------------------------------------------------------------------
# What is measured, for the record: 'fid' is stored as the FID (lower is better), any other reward as it is.

def metric_name(reward):
    return reward if isinstance(reward, str) else getattr(reward, '__name__', str(reward))

def metric_value(reward, value):
    return 1 / value if reward == 'fid' else value

def previous_record(resume):
    """selection.json of the run a resume continues, or None."""
    path = os.path.join(os.path.dirname(resume), RECORD_NAME) if resume is not None else None
    if path is None or not os.path.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)

def table_lines(record):
    """The selection as aligned text lines (log), the pick marked."""
    lines = [f'{"":2}{"#":>3}  {"candidate":<14}{"search score":>14}{record["metric"]:>14}']
    for i, entry in enumerate(record['candidates']):
        mark = '*' if i == record.get('picked') else ''
        search = '-' if entry['search_score'] is None else f'{entry["search_score"]:.6g}'
        value = '-' if entry.get('value') is None else f'{entry["value"]:.6g}'
        lines.append(f'{mark:2}{i + 1:>3}  {entry["source"]:<14}{search:>14}{value:>14}')
    return lines

#----------------------------------------------------------------------------
# The stage. selection.json (atomic) holds every finished candidate; a resumed run takes over the finished ones of the
# run it continues when the candidate, the budget, the train.py options and the metric are the same, and re-trains
# the others from scratch. Returns the picked genotype with the record in provenance.extra.selection.

def select_genotype(
    run_dir,                        # The search's run directory.
    algorithm,                      # The finished SearchAlgorithm.
    provenance,                     # Recorded in the candidates' genotypes: method, data, seed, iteration.
    top             = 3,            # Candidates to re-train (K).
    kimg            = 1000,         # Re-training budget of each, in thousands of real images shown to D.
    data            = None,         # Training data of the re-training (the search's).
    train_args      = (),           # Other train.py options of the re-training.
    seed            = 0,            # train.py --seed.
    device          = 'cpu',        # Device of the re-training and of the metric.
    reward          = 'fid',        # The metric: 'fid', 'is' or callable(G) -> float (higher is better), see reward.py.
    reward_samples  = 5000,         # Generated images per metric.
    evaluator_kwargs = {},          # metrics.fast.FastEvaluator options (dataset_kwargs, max_real, detector).
    resume          = None,         # The search state the run continued from, None = a fresh run.
):
    candidates = search_candidates(algorithm, run_dir, resume, top, provenance)
    metric = metric_name(reward)
    budget = dict(kimg=kimg, train_args=list(train_args), metric=metric, samples=reward_samples,
                  detector=evaluator_kwargs.get('detector'), real=evaluator_kwargs.get('max_real'))
    record = dict(budget, candidates=[], picked=None)
    previous = previous_record(resume)
    reusable = {}
    if previous is not None and all(previous.get(key) == value for key, value in budget.items()):
        reusable = {entry['architecture']: entry for entry in previous['candidates'] if entry.get('value') is not None}
    print(f'Selection: re-training {len(candidates)} candidate(s) from scratch for {kimg:g} kimg each with train.py, '
          f'scored by {metric}' + (f' (--select-top={top}: the search offered {len(candidates)})'
                                   if len(candidates) < top else ''))
    evaluator = RewardEvaluator(device, reward, reward_samples, evaluator_kwargs)
    select_dir = os.path.join(run_dir, SELECT_DIR)
    os.makedirs(select_dir, exist_ok=True)
    for i, candidate in enumerate(candidates):
        name = f'candidate-{i + 1}'
        genotype = candidate['genotype']
        key = architecture(genotype)
        entry = reusable.get(key)
        if entry is not None:
            print(f'Selection {i + 1}/{len(candidates)} ({candidate["source"]}): {metric} {entry["value"]:.6g}, '
                  f'taken over from {entry["network"]}')
        else:
            print(f'Selection {i + 1}/{len(candidates)} ({candidate["source"]}): re-training, log '
                  f'{os.path.join(select_dir, name + ".log")}')
            start = time.time()
            genotype_path = os.path.join(select_dir, f'{name}.json')
            genotype.to_json(genotype_path)
            snapshot = train_candidate(genotype_path, os.path.join(select_dir, name),
                                       os.path.join(select_dir, f'{name}.log'), data, kimg, seed, device, train_args)
            reward_value = score_network(evaluator, snapshot, device)
            entry = dict(architecture=key, value=metric_value(reward, reward_value), reward=reward_value,
                         network=snapshot, seconds=time.time() - start)
            print(f'Selection {i + 1}/{len(candidates)}: {metric} {entry["value"]:.6g} '
                  f'({format_time(entry["seconds"])})')
        record['candidates'].append(dict(entry, source=candidate['source'], search_score=candidate['search_score']))
        with atomic_write(os.path.join(run_dir, RECORD_NAME), 'w') as f:
            json.dump(record, f, indent=2)
    rewards = [entry['reward'] for entry in record['candidates']]
    record['picked'] = max(range(len(rewards)), key=lambda i: (rewards[i], -i)) # earliest of equals
    with atomic_write(os.path.join(run_dir, RECORD_NAME), 'w') as f:
        json.dump(record, f, indent=2)
    for line in table_lines(record):
        print(line)
    picked = candidates[record['picked']]['genotype'].to_dict()
    summary = dict(budget, picked=record['picked'], candidates=[
        dict(source=e['source'], search_score=e['search_score'], value=e['value'], network=e['network'])
        for e in record['candidates']])
    picked['provenance']['extra'] = dict(picked['provenance'].get('extra') or {}, selection=summary)
    return Genotype.from_dict(picked, source='selected genotype')

#----------------------------------------------------------------------------
