"""Plots of an architecture search (alphaGAN, Tian et al. 2022; AutoGAN, Gong et al. 2019): op weights over
iterations, the derived architecture, and scalar curves such as the duality gap or the reward."""

import math

import matplotlib
matplotlib.use('Agg') # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from dnnlib.util import atomic_write

#----------------------------------------------------------------------------
# Save a figure atomically and free it.

def _save(fig, path):
    with atomic_write(path) as f:
        fig.savefig(f, format='png', dpi=80)
    plt.close(fig)

#----------------------------------------------------------------------------
# alphas.png: one panel per edge/layer, one line per op: its softmax weight after each iteration. Edges of one kind
# (the same op set) share their y range, so their panels compare at a glance; the dashed line is the uniform weight
# 1 / (ops of the kind), the chosen op (largest last weight) is dotted at the end and named in the panel's title.
# One colour per op name in every panel, one legend for the figure.
# `history` is a list of arch_weights() dicts {edge: {op: prob}}, one per iteration.

def plot_alphas(history, path, max_cols=6):
    edges = list(history[-1]) if history else []
    if not edges:
        return # nothing is learned about the ops (random search): no file
    cols = max(min(len(edges), max_cols), 1)
    rows = max(math.ceil(len(edges) / cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.0 * rows), squeeze=False, sharex=True)
    iters = list(range(1, len(history) + 1))
    op_names = list(dict.fromkeys(op for edge in edges for op in history[-1][edge]))
    palette = plt.get_cmap('tab20' if len(op_names) > 10 else 'tab10')
    colors = {op: palette(i % palette.N) for i, op in enumerate(op_names)}
    kind_top = dict() # op set -> largest weight of any of its edges, the top of their shared y range
    for edge in edges:
        kind = tuple(history[-1][edge])
        kind_top[kind] = max(kind_top.get(kind, 0), max(h[edge][op] for h in history for op in kind))
    handles = dict()
    for ax, edge in zip(axes.flat, edges):
        kind = tuple(history[-1][edge])
        chosen = max(kind, key=lambda op: history[-1][edge][op])
        for op in kind:
            handles[op], = ax.plot(iters, [h[edge][op] for h in history], color=colors[op], linewidth=1)
        ax.plot([iters[-1]], [history[-1][edge][chosen]], 'o', color=colors[chosen], markersize=4)
        ax.axhline(1 / len(kind), color='0.5', linestyle='--', linewidth=0.8)
        ax.set_ylim(0, min(1.0, kind_top[kind] * 1.1))
        ax.set_title(f'{edge}: {chosen}', fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(edges):]:
        ax.axis('off')
    handles['uniform'] = plt.Line2D([], [], color='0.5', linestyle='--', linewidth=0.8)
    fig.legend(list(handles.values()), list(handles), loc='upper center', ncol=min(len(handles), 8), fontsize=6,
               frameon=False, bbox_to_anchor=(0.5, 0.995))
    fig.suptitle('op weights (softmax of alpha) per iteration; dot: chosen op', fontsize=8, y=0.93)
    top = 0.82 if rows > 1 else 0.7
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.08, top=top, wspace=0.3, hspace=0.5) # tight_layout is slow
    _save(fig, path)

#----------------------------------------------------------------------------
# architecture.png: one box per panel of the genotype's backbone (Backbone.architecture_panels): conventional and
# AutoGAN one per cell, StyleGAN2 one strip of synthesis layers with their op and W_i.

def plot_architecture(genotype, path):
    from nas import backbones # imports torch; only needed here
    backbone = backbones.get(genotype.backbone)
    graph = backbone.cell_graph(genotype)
    if graph is not None:
        _plot_graph(*graph, f'{genotype.backbone} / {genotype.mode} / {genotype.resolution}px', path)
        return
    panels = backbone.architecture_panels(genotype)
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

# A cell graph (Backbone.cell_graph): nodes as circles, edges as arrows named by their op. An edge that passes over
# other nodes (a skip edge, more than 2 apart in x) is a dashed quadratic curve above them, its op at its top.

def _plot_graph(nodes, edges, title, path):
    xs = [x for _label, x, _y in nodes.values()]
    ys = [y for _label, _x, y in nodes.values()]
    top = max(ys)
    fig, ax = plt.subplots(figsize=(1.6 * (max(xs) - min(xs) + 1), 3.6))
    for source, target, op in edges:
        (_, x0, y0), (_, x1, y1) = nodes[source], nodes[target]
        if x1 - x0 > 2:
            cx, cy = (x0 + x1) / 2, max(y0, y1) + 0.3 + 0.15 * (x1 - x0) # control point of the curve
            ts = np.linspace(0, 1, 50)[:, None]
            curve = (1 - ts) ** 2 * [x0, y0] + 2 * ts * (1 - ts) * [cx, cy] + ts ** 2 * [x1, y1]
            ax.plot(curve[:-3, 0], curve[:-3, 1], color='#7788bb', linestyle='--', linewidth=1)
            ax.annotate('', xy=(x1, y1), xytext=tuple(curve[-8]), arrowprops=dict(arrowstyle='->', color='#7788bb',
                        shrinkA=0, shrinkB=11, linewidth=1))
            mx, my = curve[25]
            top = max(top, my)
        else:
            ax.annotate('', xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle='->', color='#335',
                        shrinkA=11, shrinkB=11, linewidth=1))
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        ax.text(mx, my, op, fontsize=7, ha='center', va='center', color='#224',
                bbox=dict(boxstyle='round,pad=0.15', facecolor='white', edgecolor='none', alpha=0.9))
    for label, x, y in nodes.values():
        ax.text(x, y, label, fontsize=7, ha='center', va='center',
                bbox=dict(boxstyle='circle,pad=0.3', facecolor='#eef3fb', edgecolor='#5577aa'))
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.4, top + 0.3)
    ax.axis('off')
    ax.set_title(title, fontsize=9)
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
    plot_curves({ylabel: (xs, ys)}, path, ylabel, xlabel)

def plot_curves(series, path, ylabel, xlabel='iteration', figsize=(5, 3)):
    fig, ax = plt.subplots(figsize=figsize)
    _draw_curves(ax, series, ylabel, xlabel)
    fig.tight_layout()
    _save(fig, path)

#----------------------------------------------------------------------------
# reward.png of a controller or random search: one panel of the reward with its baseline (AutoGAN) or the best
# reward so far (random search), and one of the controller's entropy when there is one. `curves` maps a stats.jsonl
# name to [(iteration, value)]; the search loop records the names in CURVE_STATS.

REWARD_NAMES = {'is': 'Inception Score', 'fid': '1 / FID'}
REWARD_PANELS = (               # (y label, {stat: legend label})
    ('reward', {'Search/reward': 'reward', 'Search/baseline': 'baseline',
                              'Search/best_reward': 'best so far'}),
    ('controller entropy (nats per cell)', {'Search/entropy': 'entropy'}),
)
CURVE_STATS = tuple(name for _ylabel, stats in REWARD_PANELS for name in stats)

def plot_reward_curves(curves, path, reward=None, stages=()):
    """Write reward.png when `curves` holds a reward; returns whether it did. reward: 'is', 'fid' or a function's
    name (the y label says which); stages: iterations after which the search grew by a cell (dotted lines)."""
    if not curves.get('Search/reward'):
        return False
    panels = [(ylabel, {label: ([x for x, _ in curves[name]], [y for _, y in curves[name]])
                        for name, label in stats.items() if curves.get(name)})
              for ylabel, stats in REWARD_PANELS]
    panels = [(ylabel, series) for ylabel, series in panels if series]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3), squeeze=False)
    for ax, (ylabel, series) in zip(axes.flat, panels):
        if ylabel == 'reward':
            ylabel = f'reward: {REWARD_NAMES.get(reward, reward)}' if reward else 'reward (IS or 1/FID)'
        _draw_curves(ax, series, ylabel, 'iteration')
        for i, it in enumerate(stages):
            ax.axvline(it + 0.5, color='0.4', linestyle=':', linewidth=1)
            ax.text(it + 0.5, 1, f' cell {i + 2} added', transform=ax.get_xaxis_transform(), fontsize=6, va='top')
    fig.tight_layout()
    _save(fig, path)
    return True

#----------------------------------------------------------------------------
