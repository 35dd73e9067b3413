"""Architecture search driver, the twin of the StyleGAN2-ADA training loop (Karras et al. 2020) for alphaGAN
(Tian et al. 2022) and AutoGAN (Gong et al. 2019): splits, iterations, genotypes, plots, exact resume."""

import json
import math
import os
import sys
import time

import numpy as np
import torch
import tqdm

import dnnlib
from nas import viz
from nas.search.base import SearchData
from torch_utils import checkpoint
from training.image_grid import grid_size_for, save_image_grid

#----------------------------------------------------------------------------
# Options that must not change between a search and its resumed continuation.

RESUME_KEYS = ('training_set_kwargs', 'G_kwargs', 'D_kwargs', 'algorithm_kwargs', 'batch_size', 'val_fraction',
               'random_seed')

def state_path(run_dir, iteration):
    return os.path.join(run_dir, f'search-state-{iteration:06d}.pt')

def genotype_path(run_dir, iteration):
    return os.path.join(run_dir, f'genotype-{iteration:06d}.json')

def _plain(value):
    """JSON round trip: EasyDicts and tuples become the plain types a weights-only state file may hold."""
    return json.loads(json.dumps(value))

#----------------------------------------------------------------------------
# Mean entropy (nats) of the op distributions of one group of edges; W selectors are named 'w.<layer>'.

def mean_entropy(probs, w_selectors=False):
    values = [-sum(p * math.log(p) for p in row.values() if p > 0)
              for edge, row in probs.items() if edge.startswith('w.') == w_selectors]
    return float(np.mean(values)) if values else None

#----------------------------------------------------------------------------
# Supernet samples for the fakes grids: eval mode (BN running statistics), no gradients.

@torch.no_grad()
def generate_images(G, z, c, batch_size):
    mode = G.training
    G.eval()
    out = [G(zb, cb).float().cpu() for zb, cb in zip(z.split(batch_size), c.split(batch_size))]
    G.train(mode)
    return torch.cat(out).numpy()

#----------------------------------------------------------------------------
# Plots of the run so far: alphas.png, architecture.png, duality_gap.png (when the algorithm reports one).

def write_plots(run_dir, history, gaps, genotype):
    viz.plot_alphas(history, os.path.join(run_dir, 'alphas.png'))
    viz.plot_architecture(genotype, os.path.join(run_dir, 'architecture.png'))
    if gaps:
        viz.plot_curve([it for it, _ in gaps], [v for _, v in gaps], os.path.join(run_dir, 'duality_gap.png'),
                       ylabel='duality gap (validation)')

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
    max_grid_images         = 64,       # Images in a fakes grid.
    provenance              = {},       # Recorded in every genotype: method, data.
    resume                  = None,     # search-state-NNNNNN.pt to continue, None = start afresh.
    progress                = True,     # tqdm bar per iteration (on stdout, so stderr holds only errors).
):
    # Initialize.
    start_time = time.time()
    device = torch.device(device)
    np.random.seed(random_seed)
    torch.manual_seed(random_seed)
    options = dict(training_set_kwargs=training_set_kwargs, G_kwargs=G_kwargs, D_kwargs=D_kwargs,
                   algorithm_kwargs=algorithm_kwargs, batch_size=batch_size, val_fraction=val_fraction,
                   random_seed=random_seed)

    # Load the resume point first, so that a mismatch fails before any work.
    state = None
    if resume is not None:
        state = checkpoint.load_state(resume)
        saved = state['options']
        for key in RESUME_KEYS:
            if _plain(saved[key]) != _plain(options[key]):
                raise dnnlib.util.UserError(f'--resume: {resume} was written with different {key} '
                                            f'({json.dumps(saved[key])} vs {json.dumps(_plain(options[key]))})')

    # Load the dataset and split it.
    print('Loading training set...')
    dataset = dnnlib.util.construct_class_by_name(**training_set_kwargs)
    print(f'Num images:  {len(dataset)}')
    print(f'Image shape: {dataset.image_shape}')

    # Construct networks and the algorithm.
    print('Constructing networks...')
    common_kwargs = dict(c_dim=dataset.label_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels)
    G = dnnlib.util.construct_class_by_name(**G_kwargs, **common_kwargs).train().to(device)
    D = dnnlib.util.construct_class_by_name(**D_kwargs, **common_kwargs).train().to(device)
    algorithm = dnnlib.util.construct_class_by_name(G=G, D=D, device=device, **algorithm_kwargs)
    num_arch = sum(p.numel() for p in G.arch_parameters()) if hasattr(G, 'arch_parameters') else 0
    print(f'G parameters: {sum(p.numel() for p in G.parameters())} ({num_arch} architecture)')
    print(f'D parameters: {sum(p.numel() for p in D.parameters())}')
    data = SearchData(dataset, batch_size=batch_size, device=device, val_fraction=val_fraction, seed=random_seed,
                      loader_kwargs=data_loader_kwargs, state=state['data'] if state is not None else None)
    print(f'Split:       {data.split_size("train")} train, {data.split_size("val")} validation')

    # Fixed latents for the fakes grids.
    grid_size = grid_size_for(dataset.resolution, max_images=max_grid_images)
    num_grid = grid_size[0] * grid_size[1]
    grid_z = torch.randn([num_grid, G.z_dim], generator=torch.Generator().manual_seed(random_seed)).to(device)
    grid_c = torch.from_numpy(np.stack([dataset.get_label(i % len(dataset)) for i in range(num_grid)])).to(device)

    # Logs.
    stats_jsonl = open(os.path.join(run_dir, 'stats.jsonl'), 'at')
    stats_tfevents = None
    try:
        import torch.utils.tensorboard as tensorboard
        stats_tfevents = tensorboard.SummaryWriter(run_dir)
    except ImportError as err:
        print('Skipping tfevents export:', err)

    # Restore the search state last: building the networks and data iterators above draws random numbers.
    start_iter = 0
    history = [] # arch_weights() after each iteration
    gaps = []    # (iteration, duality gap)
    if state is not None:
        algorithm.load_state_dict(state['algorithm'])
        start_iter = int(state['iteration'])
        history = state['history']
        gaps = [tuple(g) for g in state['gaps']]
        checkpoint.restore_rng_state(state['rng'])
        print(f'Resuming from "{resume}" after iteration {start_iter}')
    elif image_snapshot_iters is not None:
        images = generate_images(G, grid_z, grid_c, batch_size)
        save_image_grid(images, os.path.join(run_dir, 'fakes_init.png'), grid_size)

    # Search.
    print(f'Searching for {num_iters} iterations...')
    genotype = None
    bar = tqdm.tqdm(range(start_iter, num_iters), initial=start_iter, total=num_iters, unit='iter',
                    disable=not progress, file=sys.stdout)
    for iteration in bar:
        done_iters = iteration + 1
        iter_start = time.time()
        stats = algorithm.step(iteration, data)
        iter_time = time.time() - iter_start

        # Derive and save this iteration's architecture.
        genotype = algorithm.derive(**provenance, seed=random_seed, iteration=done_iters)
        genotype.to_json(genotype_path(run_dir, done_iters))
        probs = algorithm.arch_weights()
        history.append(probs)

        # Statistics.
        fields = dict(stats)
        fields['Search/entropy_alpha'] = mean_entropy(probs)
        fields['Search/entropy_beta'] = mean_entropy(probs, w_selectors=True)
        fields['Timing/sec_per_iter'] = iter_time
        fields['Timing/total_sec'] = time.time() - start_time
        fields = {k: float(v) for k, v in fields.items() if v is not None}
        if 'Search/duality_gap' in fields:
            gaps.append((done_iters, fields['Search/duality_gap']))
        stats_jsonl.write(json.dumps(dict(fields, iteration=done_iters, timestamp=time.time())) + '\n')
        stats_jsonl.flush()
        if stats_tfevents is not None:
            for name, value in fields.items():
                stats_tfevents.add_scalar(name, value, global_step=done_iters)
            stats_tfevents.flush()
        shown = {k.split('/', 1)[-1]: f'{v:.3g}' for k, v in fields.items() if k.startswith(('Search/', 'Loss/'))}
        bar.set_postfix(shown, refresh=False)

        # Snapshots: fakes grid, plots, then the resume point, whose RNG state is captured last.
        last = done_iters == num_iters
        if last or (image_snapshot_iters is not None and done_iters % image_snapshot_iters == 0):
            images = generate_images(G, grid_z, grid_c, batch_size)
            save_image_grid(images, os.path.join(run_dir, f'fakes{done_iters:06d}.png'), grid_size)
        if last or done_iters % state_snapshot_iters == 0:
            if not last: # the last plots are drawn once, after the loop
                write_plots(run_dir, history, gaps, genotype)
            checkpoint.save_state(state_path(run_dir, done_iters), dict(
                iteration=done_iters, algorithm=algorithm.state_dict(), data=data.state_dict(),
                history=history, gaps=[list(g) for g in gaps], options=_plain(options),
                rng=checkpoint.capture_rng_state()))
            if keep_states is not None:
                checkpoint.prune_checkpoints(run_dir, keep=keep_states, kind='search')
    bar.close()

    # Done: the last iteration's architecture is the result.
    if genotype is None:
        genotype = algorithm.derive(**provenance, seed=random_seed, iteration=start_iter)
    genotype.to_json(os.path.join(run_dir, 'found.json'))
    write_plots(run_dir, history, gaps, genotype)
    stats_jsonl.close()
    if stats_tfevents is not None:
        stats_tfevents.close()
    print(f'Found architecture: {os.path.join(run_dir, "found.json")}')
    print('Exiting...')
    return genotype

#----------------------------------------------------------------------------
