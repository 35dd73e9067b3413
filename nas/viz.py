"""Plots of an architecture search (alphaGAN, Tian et al. 2022; AutoGAN, Gong et al. 2019): op weights over
iterations, the derived architecture, and scalar curves such as the duality gap or the reward."""

import math

import matplotlib
matplotlib.use('Agg') # files only, no display
import matplotlib.pyplot as plt

from dnnlib.util import atomic_write
from nas.genotype import stylegan2_layer_ops
from nas.space import primitives

#----------------------------------------------------------------------------
# Save a figure atomically and free it.

def _save(fig, path):
    with atomic_write(path) as f:
        fig.savefig(f, format='png', dpi=80)
    plt.close(fig)

#----------------------------------------------------------------------------
# alphas.png: one panel per edge/layer, one line per op: its softmax weight after each iteration (y auto-scaled,
# so early, small moves show).
# `history` is a list of arch_weights() dicts {edge: {op: prob}}, one per iteration.

def plot_alphas(history, path, max_cols=6):
    edges = list(history[-1]) if history else []
    if not edges:
        return # nothing is learned about the ops (random search): no file
    cols = max(min(len(edges), max_cols), 1)
    rows = max(math.ceil(len(edges) / cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.0 * rows), squeeze=False, sharex=True)
    iters = list(range(1, len(history) + 1))
    for ax, edge in zip(axes.flat, edges):
        for op in history[-1][edge]:
            ax.plot(iters, [h[edge][op] for h in history], label=op, linewidth=1)
        ax.set_title(edge, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, loc='upper left', frameon=False)
    for ax in list(axes.flat)[len(edges):]:
        ax.axis('off')
    fig.suptitle('op weights (softmax of alpha) per iteration', fontsize=9)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.06, top=0.9, wspace=0.3, hspace=0.45) # tight_layout is slow
    _save(fig, path)

#----------------------------------------------------------------------------
# architecture.png: conventional = one box per cell listing its edges and ops; AutoGAN = one box per cell with its
# block type, norm, up-sampling, shortcut and skip-ins; StyleGAN2 = a strip of synthesis layers (4x4 to the output)
# with their op and, in the dynw modes, the W_i each one reads.

def _conventional_lines(genotype):
    panels = []
    for cell, ops in genotype.ops.items():
        lines = [f'{edge}: {ops[edge]}' for edge in ('up0', 'up1', 'n0', 'n1', 'n2') if edge in ops]
        lines += [f'skip from {src}: {op}' for src, op in ops.get('skip', {}).items()]
        panels.append((cell, lines))
    return panels

def _autogan_lines(genotype):
    panels = []
    for cell, ops in genotype.ops.items():
        skips = [src for src, on in ops['skip'].items() if on]
        panels.append((cell, [f'block: {ops["conv"]}-activation', f'norm: {ops["norm"]}', f'up: {ops["up"]}',
                              f'shortcut: {"on" if ops["shortcut"] else "off"}',
                              f'skip-in: {", ".join(skips) if skips else "none"}']))
    return panels

def _stylegan2_lines(genotype):
    layers = primitives.stylegan2_layers(genotype.resolution)
    ops = stylegan2_layer_ops(genotype, genotype.resolution)
    w_idx = genotype.w_idx or []
    lines = [f'{name:<10s} {op:<14s}' + (f' W{w_idx[i]}' if i < len(w_idx) else '')
             for i, ((name, _kind), op) in enumerate(zip(layers, ops))]
    if len(w_idx) > len(layers):
        lines.append(f'{"torgb":<10s} {"":<14s} W{w_idx[len(layers)]}')
    return [('synthesis layers (op, W)' if w_idx else 'synthesis layers (op)', lines)]

def plot_architecture(genotype, path):
    describe = dict(conventional=_conventional_lines, autogan=_autogan_lines).get(genotype.backbone, _stylegan2_lines)
    panels = describe(genotype)
    height = max(len(lines) for _, lines in panels) * 0.28 + 0.9
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), height), squeeze=False)
    for ax, (title, lines) in zip(axes.flat, panels):
        ax.axis('off')
        ax.set_title(title, fontsize=10)
        ax.text(0.02, 0.98, '\n'.join(lines), va='top', ha='left', family='monospace', fontsize=8,
                transform=ax.transAxes, bbox=dict(boxstyle='round', facecolor='#eef3fb', edgecolor='#5577aa'))
    fig.suptitle(f'{genotype.backbone} / {genotype.mode} / {genotype.resolution}px', fontsize=9)
    fig.tight_layout()
    _save(fig, path)

#----------------------------------------------------------------------------
# Scalars over iterations (duality gap, reward, entropy): one line per series {label: (xs, ys)} on one axis.

def _draw_curves(ax, series, ylabel, xlabel):
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker='.', linewidth=1, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7, frameon=False)

def plot_curve(xs, ys, path, ylabel, xlabel='iteration'):
    fig, ax = plt.subplots(figsize=(5, 3))
    _draw_curves(ax, {ylabel: (xs, ys)}, ylabel, xlabel)
    fig.tight_layout()
    _save(fig, path)

#----------------------------------------------------------------------------
# reward.png of a controller or random search: one panel of the reward with its baseline (AutoGAN) or the best
# reward so far (random search), and one of the controller's entropy when there is one. `curves` maps a stats.jsonl
# name to [(iteration, value)]; the search loop records the names in CURVE_STATS.

REWARD_PANELS = (               # (y label, {stat: legend label})
    ('reward (IS or 1/FID)', {'Search/reward': 'reward', 'Search/baseline': 'baseline',
                              'Search/best_reward': 'best so far'}),
    ('controller entropy (nats per cell)', {'Search/entropy': 'entropy'}),
)
CURVE_STATS = tuple(name for _ylabel, stats in REWARD_PANELS for name in stats)

def plot_reward_curves(curves, path):
    """Write reward.png when `curves` holds a reward; returns whether it did."""
    if not curves.get('Search/reward'):
        return False
    panels = [(ylabel, {label: ([x for x, _ in curves[name]], [y for _, y in curves[name]])
                        for name, label in stats.items() if curves.get(name)})
              for ylabel, stats in REWARD_PANELS]
    panels = [(ylabel, series) for ylabel, series in panels if series]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3), squeeze=False)
    for ax, (ylabel, series) in zip(axes.flat, panels):
        _draw_curves(ax, series, ylabel, 'iteration')
    fig.tight_layout()
    _save(fig, path)
    return True

#----------------------------------------------------------------------------
