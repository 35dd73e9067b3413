"""Architecture search driver, the twin of the StyleGAN2-ADA training loop (Karras et al. 2020) for alphaGAN
(Tian et al. 2022) and AutoGAN (Gong et al. 2019): splits, iterations, genotypes, plots, exact resume."""

import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import tqdm

import dnnlib
from nas import cost
from nas import viz
from nas.search.base import SearchData
from torch_utils import checkpoint
from torch_utils import distributed
from torch_utils import health
from training.image_grid import grid_size_for, save_image_grid
from training.training_loop import StatsLogs, load_training_set

#----------------------------------------------------------------------------
# Options that must not change between a search and its resumed continuation.

RESUME_KEYS = ('training_set_kwargs', 'G_kwargs', 'D_kwargs', 'algorithm_kwargs', 'batch_size', 'val_fraction',
               'random_seed', 'num_gpus')

def state_path(run_dir, iteration):
    return os.path.join(run_dir, f'search-state-{iteration:06d}.pt')

def genotype_path(run_dir, iteration):
    return os.path.join(run_dir, f'genotype-{iteration:06d}.json')

def _plain(value):
    """JSON round trip: EasyDicts and tuples become the plain types a weights-only state file may hold."""
    return json.loads(json.dumps(value))

#----------------------------------------------------------------------------
# Data-parallel search: the statistics of an iteration are averaged over the processes (so every process takes the
# same health decisions), and the resume point holds every process's RNG state.

def average_stats(stats):
    world_size = distributed.get_world_size()
    if world_size == 1:
        return stats
    names = sorted(name for name, value in stats.items() if value is not None)
    values = torch.tensor([float(stats[name]) for name in names], dtype=torch.float64)
    torch.distributed.all_reduce(values)
    return dict(stats, **{name: value / world_size for name, value in zip(names, values.tolist())})

#----------------------------------------------------------------------------
# Mean entropy (nats) of the op distributions of one group of edges; W selectors are named 'w.<layer>'.

def mean_entropy(probs, w_selectors=False):
    values = [-sum(p * math.log(p) for p in row.values() if p > 0)
              for edge, row in probs.items() if edge.startswith('w.') == w_selectors]
    return float(np.mean(values)) if values else None

#----------------------------------------------------------------------------
# Supernet samples for the fakes grids: eval mode (BN running statistics), no gradients, StyleGAN2's constant noise
# maps (the grids of successive snapshots differ by the search alone; every generator takes noise_mode).

@torch.no_grad()
def generate_images(G, z, c, batch_size):
    mode = G.training
    G.eval()
    out = [G(zb, cb, noise_mode='const').float().cpu() for zb, cb in zip(z.split(batch_size), c.split(batch_size))]
    G.train(mode)
    return torch.cat(out).numpy()

#----------------------------------------------------------------------------
# The network the fakes grids show: the algorithm's pick when it has one (random search: the best child so far).

def preview_generator(algorithm, G):
    return algorithm.preview_G() if hasattr(algorithm, 'preview_G') else G

#----------------------------------------------------------------------------
# Plots of the run so far: alphas.png, architecture.png, duality_gap.png and reward.png (when the algorithm
# reports a gap or a reward; it names the algorithm's reward and marks where its search grew by a cell).

def write_plots(run_dir, history, gaps, genotype, curves={}, algorithm=None):
    viz.plot_alphas(history, os.path.join(run_dir, 'alphas.png'))
    viz.plot_architecture(genotype, os.path.join(run_dir, 'architecture.png'))
    if gaps:
        viz.plot_curve([it for it, _ in gaps], [v for _, v in gaps], os.path.join(run_dir, 'duality_gap.png'),
                       ylabel='duality gap (validation)')
    reward = getattr(algorithm, 'reward', None)
    viz.plot_reward_curves(curves, os.path.join(run_dir, 'reward.png'),
                           reward=reward if isinstance(reward, str) else getattr(reward, '__name__', None),
                           stages=getattr(algorithm, 'grow_iters', ()))

#----------------------------------------------------------------------------
# The resume point, checked against this run's options before any work.

def load_resume_state(resume, options):
    state = checkpoint.load_state(resume)
    saved = state['options']
    for key in RESUME_KEYS:
        if _plain(saved.get(key, 1 if key == 'num_gpus' else None)) != _plain(options[key]):
            raise dnnlib.util.UserError(f'--resume: {resume} was written with different {key} '
                                        f'({json.dumps(saved[key])} vs {json.dumps(_plain(options[key]))})')
    return state

#----------------------------------------------------------------------------
# What the plots show and the resume point keeps: arch_weights() after each iteration, the duality gap and the
# curves of viz.CURVE_STATS, by iteration.

class SearchHistory:
    def __init__(self):
        self.probs = []             # arch_weights() after each iteration
        self.gaps = []              # (iteration, duality gap)
        self.curves = {}            # {stat in viz.CURVE_STATS: [(iteration, value)]}

    def add(self, iteration, probs, fields):
        self.probs.append(probs)
        if 'Search/duality_gap' in fields:
            self.gaps.append((iteration, fields['Search/duality_gap']))
        for name in viz.CURVE_STATS:
            if name in fields:
                self.curves.setdefault(name, []).append((iteration, fields[name]))

    def state_dict(self):
        return dict(history=self.probs, gaps=[list(g) for g in self.gaps],
                    curves={name: [list(p) for p in points] for name, points in self.curves.items()})

    def load_state_dict(self, state):
        self.probs = state['history']
        self.gaps = [tuple(g) for g in state['gaps']]
        self.curves = {name: [tuple(p) for p in points] for name, points in state.get('curves', {}).items()}

    def plot(self, run_dir, genotype, algorithm=None):
        write_plots(run_dir, self.probs, self.gaps, genotype, self.curves, algorithm)

#----------------------------------------------------------------------------
# The statistics of one iteration: the algorithm's, the entropies of its op and W choices, and the timings.

def iteration_fields(stats, probs, iter_time, start_time):
    fields = dict(stats)
    fields['Search/entropy_alpha'] = mean_entropy(probs)
    fields['Search/entropy_beta'] = mean_entropy(probs, w_selectors=True)
    fields['Timing/sec_per_iter'] = iter_time
    fields['Timing/total_sec'] = time.time() - start_time
    return {k: float(v) for k, v in fields.items() if v is not None}

#----------------------------------------------------------------------------
# Collapse watch of an iteration: the op distributions, and the flat D loss. Returns the events and the
# CollapseError to raise once they are logged (on_collapse='stop'), or None.

def check_collapse(monitor, iteration, probs, fields):
    events = []
    try:
        events += monitor.check_probs(iteration, probs)
        loss_name = 'Loss/D/loss' if 'Loss/D/loss' in fields else 'Loss/D' # alphaGAN, AutoGAN/random
        if loss_name in fields:
            events += monitor.check_loss(iteration, fields[loss_name])
    except health.CollapseError as err:
        return events + [err.event], err
    return events, None

#----------------------------------------------------------------------------
# The resume point, written by process 0 after checking the disk: the algorithm, the data position, the history,
# the collapse monitor and every process's RNG state (checkpoint.gather_ranks).

def save_search_state(run_dir, iteration, algorithm, data, history, monitor, options, rng_states, keep_states):
    search_state = dict(iteration=iteration, algorithm=algorithm.state_dict(), data=data.state_dict(),
                        **history.state_dict(), options=_plain(options), health=monitor.state_dict(), **rng_states)
    checkpoint.check_free_disk(run_dir, checkpoint.tensor_bytes(search_state) + 2**20)
    checkpoint.save_state(state_path(run_dir, iteration), search_state)
    if keep_states is not None:
        checkpoint.prune_checkpoints(run_dir, keep=keep_states, kind='search')

#----------------------------------------------------------------------------
# The end of a search on process 0: found.json, the final plots and the report.

def write_results(run_dir, genotype, history, algorithm=None, img_channels=3, c_dim=0):
    found = copy.deepcopy(genotype) # found.json adds the exact cost of the generator it builds (nas.cost)
    found_cost = cost.genotype_cost(genotype, img_channels, c_dim)
    found.provenance['extra'] = dict(found.provenance.get('extra') or {}, **found_cost)
    found.to_json(os.path.join(run_dir, 'found.json'))
    history.plot(run_dir, genotype, algorithm)
    distributed.print0(f'Found architecture: {os.path.join(run_dir, "found.json")} ({cost.describe(found_cost)})')
    try:
        from nas import report # imported here: a broken report must not cost the search its result
        distributed.print0(f'Report: {report.write_report(run_dir)}')
    except Exception as err: # any failure of the report only warns
        distributed.print0(f'Warning: report.html not written ({type(err).__name__}: {err})')

#----------------------------------------------------------------------------

def search_loop(
    run_dir                 = '.',      # Output directory.
    training_set_kwargs     = {},       # Options for the dataset (split into train and validation).
    data_loader_kwargs      = {},       # Options for torch.utils.data.DataLoader.
    G_kwargs                = {},       # Options for the supernet (or shared) generator.
    D_kwargs                = {},       # Options for the discriminator.
    algorithm_kwargs        = {},       # Options for the search algorithm, class_name included.
    num_iters               = 100,      # Search iterations (paper: 100 conventional, 500 StyleGAN2).
    batch_size              = 64,       # Batch size of every step, both splits.
    val_fraction            = 0.5,      # Share of the data in the validation split (paper: half).
    random_seed             = 0,        # Seed of the networks, the split and the samplers.
    device                  = 'cuda',   # 'cuda' or 'cpu'.
    image_snapshot_iters    = 10,       # Supernet fakes grid every this many iterations, None = only at the end.
    state_snapshot_iters    = 1,        # Search state (resume point) every this many iterations.
    keep_states             = 3,        # Keep only the newest this many search states, None = keep all.
    on_collapse             = 'warn',   # Collapse (entropy at zero early, deconv dominating, flat D loss): 'warn' | 'stop'.
    collapse_kwargs         = {},       # Options for health.CollapseMonitor.
    max_grid_images         = 64,       # Images in a fakes grid.
    provenance              = {},       # Recorded in every genotype: method, data.
    resume                  = None,     # search-state-NNNNNN.pt to continue, None = start afresh.
    progress                = True,     # tqdm bar per iteration (on stdout, so stderr holds only errors).
    rank                    = 0,        # This process; process 0 writes the run directory.
    num_gpus                = 1,        # Processes sharing every batch (data-parallel alphaGAN).
    select_kwargs           = None,     # Re-train the top candidates and keep the best (selection.select_genotype
                                        # options), None = the search's own result.
):
    # Initialize.
    start_time = time.time()
    device = torch.device(device, rank) if device == 'cuda' and num_gpus > 1 else torch.device(device)
    np.random.seed(random_seed)
    torch.manual_seed(random_seed)
    options = dict(training_set_kwargs=training_set_kwargs, G_kwargs=G_kwargs, D_kwargs=D_kwargs,
                   algorithm_kwargs=algorithm_kwargs, batch_size=batch_size, val_fraction=val_fraction,
                   random_seed=random_seed, num_gpus=num_gpus)
    if batch_size % num_gpus != 0:
        raise dnnlib.util.UserError(f'--batch: {batch_size} is not divisible by {num_gpus} processes')
    writer = rank == 0

    # Load the resume point first, so that a mismatch fails before any work.
    state = load_resume_state(resume, options) if resume is not None else None

    # Load the dataset and split it.
    dataset = load_training_set(training_set_kwargs)

    # Construct networks and the algorithm.
    distributed.print0('Constructing networks...')
    common_kwargs = dict(c_dim=dataset.label_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common_kwargs).train().to(device)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common_kwargs).train().to(device)
    algorithm = dnnlib.util.construct_class_by_name(G=G, D=D, device=device, **algorithm_kwargs)
    num_arch = sum(p.numel() for p in G.arch_parameters()) if hasattr(G, 'arch_parameters') else 0
    distributed.print0(f'G parameters: {sum(p.numel() for p in G.parameters())} ({num_arch} architecture)')
    distributed.print0(f'D parameters: {sum(p.numel() for p in D.parameters())}')
    data = SearchData(dataset, batch_size=batch_size // num_gpus, device=device, val_fraction=val_fraction,
                      seed=random_seed, loader_kwargs=data_loader_kwargs, state=state['data'] if state is not None else None,
                      rank=rank, num_replicas=num_gpus)
    if num_gpus > 1: # same networks everywhere, but each process draws its own noise
        torch.manual_seed(random_seed + rank)
    distributed.print0(f'Split:       {data.split_size("train")} train, {data.split_size("val")} validation')

    # Fixed latents for the fakes grids.
    grid_size = grid_size_for(dataset.resolution, max_images=max_grid_images)
    num_grid = grid_size[0] * grid_size[1]
    grid_z = torch.randn([num_grid, G.z_dim], generator=torch.Generator().manual_seed(random_seed)).to(device)
    grid_c = torch.from_numpy(np.stack([dataset.get_label(i % len(dataset)) for i in range(num_grid)])).to(device)
    def save_fakes(name):
        with health.oom_guard('--batch', what='the fakes grid'):
            images = generate_images(preview_generator(algorithm, G), grid_z, grid_c, batch_size)
        save_image_grid(images, os.path.join(run_dir, name), grid_size)

    # Logs; watch the search for collapse, events go to stats.jsonl.
    logs = StatsLogs(run_dir, writer)
    monitor = health.CollapseMonitor(total_steps=num_iters, on_collapse=on_collapse,
                                     log=tqdm.tqdm.write if writer else (lambda message: None), **collapse_kwargs)

    # Restore the search state last: building the networks and data iterators above draws random numbers.
    start_iter = 0
    history = SearchHistory()
    if state is not None:
        algorithm.load_state_dict(state['algorithm'])
        start_iter = int(state['iteration'])
        history.load_state_dict(state)
        monitor.load_state_dict(state.get('health', monitor.state_dict()))
        checkpoint.restore_rank_rng_state(state, rank)
        distributed.print0(f'Resuming from "{resume}" after iteration {start_iter}')
    elif image_snapshot_iters is not None and writer:
        save_fakes('fakes_init.png')

    # Search.
    distributed.print0(f'Searching for {num_iters} iterations...')
    genotype = None
    bar = tqdm.tqdm(range(start_iter, num_iters), initial=start_iter, total=num_iters, unit='iter',
                    disable=not (progress and writer), file=sys.stdout)
    for iteration in bar:
        done_iters = iteration + 1
        iter_start = time.time()
        with health.oom_guard('--batch', what=f'search iteration {done_iters}'):
            stats = average_stats(algorithm.step(iteration, data))
        iter_time = time.time() - iter_start
        for name, value in [*stats.items(), ('G', G), ('D', D)]: # stop on NaN/Inf before anything is written
            if value is not None:
                health.check_finite(name, value, where=f'iteration {done_iters}')

        # Derive and save this iteration's architecture.
        genotype = algorithm.derive(**provenance, seed=random_seed, iteration=done_iters)
        if writer:
            genotype.to_json(genotype_path(run_dir, done_iters))
        probs = algorithm.arch_weights()

        # Statistics and collapse watch.
        fields = iteration_fields(stats, probs, iter_time, start_time)
        history.add(done_iters, probs, fields)
        events, collapse = check_collapse(monitor, done_iters, probs, fields)
        line = dict(fields, iteration=done_iters, timestamp=time.time())
        if events:
            line['collapse'] = events
        logs.write(line, fields, global_step=done_iters)
        shown = {k.split('/', 1)[-1]: f'{v:.3g}' for k, v in fields.items() if k.startswith(('Search/', 'Loss/'))}
        bar.set_postfix(shown, refresh=False)
        if collapse is not None: # on_collapse='stop': the last search state stays the resume point
            bar.close()
            raise collapse

        # Snapshots: fakes grid, then the resume point with the RNG state captured before the plots.
        last = done_iters == num_iters
        if writer and (last or (image_snapshot_iters is not None and done_iters % image_snapshot_iters == 0)):
            save_fakes(f'fakes{done_iters:06d}.png')
        if last or done_iters % state_snapshot_iters == 0:
            rng_states = checkpoint.gather_ranks('rng', checkpoint.capture_rng_state())
            if writer and not last: # the last plots are drawn once, after the loop
                history.plot(run_dir, genotype, algorithm)
            if writer:
                save_search_state(run_dir, done_iters, algorithm, data, history, monitor, options, rng_states,
                                  keep_states)
    bar.close()

    # Done: the last iteration's architecture is the result.
    if genotype is None:
        genotype = algorithm.derive(**provenance, seed=random_seed, iteration=start_iter)
    logs.close()
    if writer and select_kwargs is not None:
        from nas.search import selection
        genotype = selection.select_genotype(run_dir, algorithm, dict(provenance, seed=random_seed,
            iteration=num_iters), device=device.type, resume=resume, **select_kwargs)
    if writer:
        write_results(run_dir, genotype, history, algorithm, img_channels=dataset.num_channels,
                      c_dim=dataset.label_dim)
    distributed.print0('Exiting...')
    return genotype

#----------------------------------------------------------------------------
