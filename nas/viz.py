"""Plots of an architecture search (alphaGAN, Tian et al. 2022; AutoGAN, Gong et al. 2019): op weights over
iterations, the derived architecture, and scalar curves such as the duality gap or the reward."""

import math
import textwrap

import matplotlib
matplotlib.use('Agg') # files only, no display
import matplotlib.patches
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
# architecture.png: the genotype as its backbone lays it out (Backbone.architecture_graph, nas/backbones/base.py),
# every op and W choice written on the drawing. One x unit is 1.6 inches, one y unit 1.2 inches. A 'skip' edge is a
# dashed curve above or below the nodes it passes, its label at the curve's middle; every arrow stops at the outline
# of its nodes.

X_INCH, Y_INCH = 1.6, 1.2
NOTE_INCH = 0.22                # Height of one note line under the drawing.
BOX_STEM = 0.12                 # x units from a box's left end to where the op arrows between boxes run.
GRAPH_COLOURS = plt.get_cmap('tab10')

def architecture_figure(genotype):
    """The drawing of `genotype` as a matplotlib figure (the caller saves or closes it)."""
    from nas import backbones # imports torch; only needed here
    graph = backbones.get(genotype.backbone).architecture_graph(genotype)
    return draw_graph(graph, f'{genotype.backbone} / {genotype.mode} / {genotype.resolution}px')

def plot_architecture(genotype, path):
    _save(architecture_figure(genotype), path)

def _skip_curve(p0, p1, route):
    """Points of a cubic curve from p0 to p1 that leaves and enters vertically, 0.3 + 0.15 y-units per x-unit of
    span above or below them, so that it passes over the nodes between."""
    (x0, y0), (x1, y1) = p0, p1
    bulge = 0.3 + 0.15 * abs(x1 - x0)
    cy = max(y0, y1) + bulge if route == 'above' else min(y0, y1) - bulge
    ts = np.linspace(0, 1, 51)[:, None]
    return ((1 - ts) ** 3 * [x0, y0] + 3 * ts * (1 - ts) ** 2 * [x0, cy] + 3 * ts ** 2 * (1 - ts) * [x1, cy]
            + ts ** 3 * [x1, y1])

def _box_width(label, fontsize):
    """Width in x units of a box label (an estimate: 0.6 em per character)."""
    return max(len(line) for line in label.split('\n')) * 0.6 * fontsize / 72 / X_INCH + 0.1

def _colour(index, default):
    return default if index is None else GRAPH_COLOURS(index % GRAPH_COLOURS.N)

def draw_graph(graph, title, fontsize=9):
    """A figure of a nas.backbones.base.Graph at X_INCH x Y_INCH per unit."""
    nodes = graph.nodes
    def anchor(name, style):
        node = nodes[name]
        return (node.x + (BOX_STEM if style != 'w' else 0), node.y) if node.shape == 'box' else (node.x, node.y)
    curves = {i: _skip_curve(anchor(e.source, e.style), anchor(e.target, e.style), e.route)
              for i, e in enumerate(graph.edges) if e.style == 'skip'}
    xs = [n.x for n in nodes.values()] + [n.x + _box_width(n.label, fontsize) for n in nodes.values() if n.shape == 'box']
    xs += [x for g in graph.groups for x in (g.x0, g.x1)]
    ys = [n.y for n in nodes.values()] + [y for c in curves.values() for y in (c[:, 1].min(), c[:, 1].max())]
    xlim, ylim = (min(xs) - 0.5, max(xs) + 0.5), (min(ys) - 0.4, max(ys) + 0.4)
    width, height = X_INCH * (xlim[1] - xlim[0]), Y_INCH * (ylim[1] - ylim[0])
    notes = [line for note in graph.notes
             for line in textwrap.wrap(note, int(width * 72 / (0.6 * (fontsize - 1))))] # 0.6 em per character
    top, bottom = 0.4, 0.1 + NOTE_INCH * len(notes)
    total = height + top + bottom
    fig = plt.figure(figsize=(width, total))
    ax = fig.add_axes([0, bottom / total, 1, height / total])
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis('off')
    fig.suptitle(title, fontsize=fontsize + 2, y=1 - 0.1 / total, va='top')
    for i, note in enumerate(notes):
        fig.text(0.01, (bottom - 0.05 - NOTE_INCH * (i + 0.5)) / total, note, fontsize=fontsize - 1, color='0.3',
                 va='center')

    # Groups behind, then the nodes (drawn first, so their outlines are placed when the arrows stop at them), then the
    # edges and their labels on top.
    for group in graph.groups:
        ax.add_patch(matplotlib.patches.FancyBboxPatch((group.x0, group.y0), group.x1 - group.x0, group.y1 - group.y0,
                     boxstyle='round,pad=0,rounding_size=0.05', facecolor='#f3f3f3', edgecolor='#c8c8c8', zorder=0))
        ax.text(group.x1 - 0.05, (group.y0 + group.y1) / 2, group.label, fontsize=fontsize, ha='right', va='center',
                color='0.35', zorder=1)
    patches = dict()
    for name, node in nodes.items():
        edge = _colour(node.colour, '#5577aa')
        if node.shape == 'box':
            text = ax.text(node.x, node.y, node.label, fontsize=fontsize, ha='left', va='center', zorder=2,
                           bbox=dict(boxstyle='round,pad=0.3', facecolor='white', edgecolor=edge, linewidth=1.5))
        else:
            text = ax.text(node.x, node.y, node.label, fontsize=fontsize, ha='center', va='center', zorder=2,
                           bbox=dict(boxstyle='circle,pad=0.3', facecolor='#eef3fb', edgecolor=edge, linewidth=1.5))
        patches[name] = text.get_bbox_patch()
    for i, e in enumerate(graph.edges):
        start, end = anchor(e.source, e.style), anchor(e.target, e.style)
        colour = _colour(e.colour, '#7788bb' if e.style == 'skip' else '#334')
        arrow = dict(arrowstyle='->', color=colour, shrinkA=1, shrinkB=1, patchB=patches[e.target],
                     linewidth=0.9 if e.style == 'w' else 1.1)
        if e.style == 'skip':
            curve = curves[i]
            ax.plot(curve[2:-4, 0], curve[2:-4, 1], color=colour, linestyle='--', linewidth=1.1, zorder=3)
            ax.annotate('', xy=end, xytext=tuple(curve[-6]), arrowprops=arrow, zorder=3)
            middle = curve[len(curve) // 2]
        else:
            ax.annotate('', xy=end, xytext=start, arrowprops=dict(arrow, patchA=patches[e.source]), zorder=3)
            middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        if e.label:
            ax.text(*middle, e.label, fontsize=fontsize - 0.5, ha='center', va='center', color='#223', zorder=4,
                    bbox=dict(boxstyle='round,pad=0.15', facecolor='white', edgecolor='none', alpha=0.9))
    return fig

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
