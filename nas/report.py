"""Static HTML report of one run directory, a search (alphaGAN, Tian et al. 2022) or a training run (StyleGAN2-ADA
layout, Karras et al. 2020): architecture, op weights, curves, sample grids, metrics and the command to rerun it."""

import base64
import glob
import html
import io
import json
import math
import os
import re
import tempfile
import time

import click
import numpy as np
import PIL.Image
from matplotlib.figure import Figure

from dnnlib.util import UserError, atomic_write, cli_main
from nas import viz
from nas.genotype import Genotype
from nas.space import primitives

#----------------------------------------------------------------------------
# Sections of every run report, in page order: (HTML id, heading). Each is always present; one with nothing to
# show says so.

SECTIONS = [
    ('summary',      'Run'),
    ('architecture', 'Architecture'),
    ('selection',    'Selection: the top candidates re-trained from scratch'),
    ('alphas',       'Op weights (alpha) and W choice (beta) over iterations'),
    ('curves',       'Curves'),
    ('samples',      'Samples over time'),
    ('metrics',      'Metrics'),
    ('health',       'Health: collapse warnings'),
    ('reproduce',    'Reproduce'),
]

MAX_GRIDS = 12                                      # Sample grids shown; longer runs show evenly spaced ones.
MAX_PANELS = 24                                     # Statistics drawn; the table lists all of them.
SKIP_STATS = ('Timing/', 'Resources/', 'Progress/') # Book-keeping, not curves of the method,
KEEP_STATS = ('Progress/augment',)                  # except ADA's augmentation probability p.
KNOWN_PNGS = ('reals.png', 'fakes_init.png', 'architecture.png', 'alphas.png')

CSS = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 72em; color: #222; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #f0f3f8; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; white-space: pre-wrap; }
figure { display: inline-block; margin: 0.4em 0.8em 0.4em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; }
img.pixels { image-rendering: pixelated; }
.note { color: #555; font-size: 0.9em; }
"""

#----------------------------------------------------------------------------
# HTML building blocks, shared with the demo report (nas/demo.py).

def esc(value):
    return html.escape(str(value))

def data_uri(path_or_bytes):
    """A PNG as a data URI, so that the page needs no other file."""
    return 'data:image/png;base64,' + base64.b64encode(_bytes(path_or_bytes)).decode('ascii')

def _bytes(path_or_bytes):
    if isinstance(path_or_bytes, bytes):
        return path_or_bytes
    with open(path_or_bytes, 'rb') as f:
        return f.read()

def figure(path_or_bytes, caption, pixels=False):
    """An embedded image with a caption; `pixels`: a sample grid, shown twice as large up to 384 pixels wide."""
    data = _bytes(path_or_bytes)
    width = ''
    if pixels:
        size = PIL.Image.open(io.BytesIO(data)).size[0]
        width = f' class="pixels" width="{size * 2 if size <= 384 else size}"'
    return (f'<figure><img src="{data_uri(data)}" alt="{esc(caption)}"{width}>'
            f'<figcaption>{esc(caption)}</figcaption></figure>')

def table(header, rows):
    """Rows of already-escaped HTML cells; header None = a plain key/value table."""
    head = '<tr>' + ''.join(f'<th>{h}</th>' for h in header) + '</tr>' if header is not None else ''
    body = ''.join('<tr>' + ''.join(f'<td>{cell}</td>' for cell in row) + '</tr>' for row in rows)
    return f'<table>{head}{body}</table>'

def note(text):
    return f'<p class="note">{esc(text)}</p>'

def pre(text):
    return f'<pre>{esc(text)}</pre>'

def page(title, sections):
    """A whole self-contained page; `sections` = [(id, heading, body HTML)]."""
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>',
             f'<style>{CSS}</style></head><body>', f'<h1>{esc(title)}</h1>']
    parts += [f'<section id="{sid}"><h2>{esc(heading)}</h2>\n{body}\n</section>' for sid, heading, body in sections]
    parts.append(f'<p class="note">Written {time.strftime("%Y-%m-%d %H:%M:%S")} by nas/report.py.</p></body></html>')
    return '\n'.join(parts) + '\n'

#----------------------------------------------------------------------------
# Run files: JSON, JSON lines (a line cut short by a killed run is skipped), numbered PNGs.

def read_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)

def read_jsonl(path):
    records = []
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return records

def numbered(run_dir, prefix, ext):
    """[(number, path)] of <prefix>NNNNNN.<ext> files, by number."""
    found = []
    for path in glob.glob(os.path.join(run_dir, f'{prefix}*.{ext}')):
        m = re.fullmatch(re.escape(prefix) + r'(\d+)\.' + ext, os.path.basename(path))
        if m is not None:
            found.append((int(m.group(1)), path))
    return sorted(found)

def spaced(items, count):
    """At most `count` items, evenly spaced, first and last included."""
    if len(items) <= count:
        return list(items)
    picks = sorted({round(i * (len(items) - 1) / (count - 1)) for i in range(count)})
    return [items[i] for i in picks]

#----------------------------------------------------------------------------
# What kind of run a directory holds, and its genotype: found.json of a search, or the one in a training config.

def run_options(run_dir):
    """('search' | 'training', options dict, options file name or None). A loop called from Python writes no
    options file; its kind then follows from the files it did write."""
    for kind, name in [('search', 'search_options.json'), ('training', 'training_options.json')]:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            return kind, read_json(path), name
    if os.path.isfile(os.path.join(run_dir, 'found.json')) or glob.glob(os.path.join(run_dir, 'genotype-*.json')):
        return 'search', {}, None
    if os.path.isfile(os.path.join(run_dir, 'stats.jsonl')):
        return 'training', {}, None
    raise UserError(f'{run_dir}: no search_options.json, training_options.json or stats.jsonl; not a run directory')

def run_genotype(run_dir, options):
    path = os.path.join(run_dir, 'found.json')
    if os.path.isfile(path):
        return Genotype.from_json(path)
    genotype = options.get('G_kwargs', {}).get('genotype')
    return Genotype.from_dict(genotype, source='G_kwargs.genotype') if genotype is not None else None

#----------------------------------------------------------------------------
# Genotype tables: the backbone's (conventional: cells x edges; StyleGAN2: synthesis layers with op and W_i), else
# the genotype's ops as JSON.

def genotype_table(genotype):
    from nas import backbones # imports torch; only needed here
    found = backbones.get(genotype.backbone).genotype_table(genotype)
    if found is None:
        return pre(json.dumps(genotype.ops, indent=2))
    header, rows = found
    return table(header, [[esc(value) for value in row] for row in rows])

def softmax(row):
    x = np.asarray(row, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()

def w_selection_table(genotype):
    """The W_i each layer reads (dynamic W) with softmax(beta) of the last iteration, or '' without a W choice."""
    if not genotype.w_idx: # only a dynamic-W StyleGAN2 genotype has one
        return ''
    slots = primitives.stylegan2_w_slots(genotype.resolution)
    beta = ((genotype.provenance or {}).get('alphas') or {}).get('w')
    has_beta = isinstance(beta, list) and len(beta) == len(slots)
    rows = []
    for i, (slot, w) in enumerate(zip(slots, genotype.w_idx)):
        if has_beta:
            p = softmax(beta[i])
            rows.append([esc(slot), f'W{w}', f'{p[w - 1]:.4f}', esc(' '.join(f'{v:.4f}' for v in p))])
        else:
            rows.append([esc(slot), f'W{w}', '-', '-'])
    n = genotype.channels.get('num_mapping_layers', len(beta[0]) if has_beta else '?')
    return table(['layer', 'chosen W', 'p(chosen)', f'softmax(beta) over W1..W{n}'], rows)

#----------------------------------------------------------------------------
# Statistics of stats.jsonl: search lines hold plain numbers per iteration, training lines {num, mean, std} per tick.
# Every numeric key is drawn except book-keeping; the x axis is the iteration, else kimg, else the line number.

def _scalar(value):
    if isinstance(value, dict):
        value = value.get('mean')
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None

def stats_series(records):
    """(x label, {name: (xs, ys)})."""
    xkey = 'iteration' if any('iteration' in r for r in records) else \
        'Progress/kimg' if any('Progress/kimg' in r for r in records) else None
    series = {}
    for i, record in enumerate(records):
        x = _scalar(record.get(xkey)) if xkey is not None else i + 1
        if x is None:
            continue
        for name, value in record.items():
            y = _scalar(value)
            if y is None or name in ('iteration', 'timestamp') or (name.startswith(SKIP_STATS) and name not in KEEP_STATS):
                continue
            xs, ys = series.setdefault(name, ([], []))
            xs.append(x)
            ys.append(y)
    label = {'iteration': 'iteration', 'Progress/kimg': 'kimg', None: 'line of stats.jsonl'}[xkey]
    return label, series

def plot_series(xlabel, series, cols=3):
    """PNG bytes: one small panel per statistic."""
    names = list(series)[:MAX_PANELS]
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4.2 * cols, 2.5 * rows))
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs, ys = series[name]
        ax.plot(xs, ys, marker='.' if len(xs) < 60 else None, linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.12 / rows + 0.04, top=1 - 0.08 / rows, wspace=0.25,
                        hspace=0.7)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=72)
    return buf.getvalue()

#----------------------------------------------------------------------------
# The command behind a run: command.txt when whoever launched it recorded one; else the saved options (shown in full
# below) are the run's complete config.

def run_command(run_dir):
    """(command or None, where it comes from)."""
    path = os.path.join(run_dir, 'command.txt')
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            return f.read().strip(), 'recorded in command.txt'
    return None, 'not recorded; the options below are the complete config'

#----------------------------------------------------------------------------
# The sections of a run report.

def _summary(run_dir, kind, options, records):
    rows = [['run directory', esc(os.path.abspath(run_dir))], ['kind', esc(kind)],
            ['data', esc(options.get('training_set_kwargs', {}).get('path', '-'))]]
    last = records[-1] if records else {}
    if kind == 'search':
        rows.append(['iterations', f'{esc(last.get("iteration", 0))} of {esc(options.get("num_iters", "?"))}'])
        note = options.get('algorithm_kwargs', {}).get('reward_note') # AutoGAN and random search
        if note is not None:
            rows.append(['reward', esc(note.removeprefix('Reward: '))])
        from nas import cost # imports torch; only needed here
        budget = cost.Budget(*(options.get('algorithm_kwargs', {}).get(f'max_{m}') for m in cost.METRICS))
        if budget:
            rows.append(['budget', esc(budget.describe())])
        result = os.path.join(run_dir, 'found.json')
    else:
        rows.append(['kimg', f'{_scalar(last.get("Progress/kimg")) or 0:g} of {esc(options.get("total_kimg", "?"))}'])
        snapshots = numbered(run_dir, 'network-snapshot-', 'pkl')
        result = snapshots[-1][1] if snapshots else None
    total = _scalar(last.get('Timing/total_sec'))
    rows.append(['wall time', f'{total:.0f} s' if total is not None else '-'])
    done = result is not None and os.path.isfile(result)
    rows.append(['result', esc(os.path.basename(result)) if done else 'none yet'])
    return table(None, rows)

def _genotype_text(genotype, run_dir):
    """The genotype in its file layout: found.json as written, else the same format written to a temporary file."""
    found = os.path.join(run_dir, 'found.json')
    with tempfile.TemporaryDirectory() as tmp:
        if not os.path.isfile(found):
            found = os.path.join(tmp, 'genotype.json')
            genotype.to_json(found)
        with open(found, encoding='utf-8') as f:
            return f.read()

def _architecture(run_dir, genotype):
    if genotype is None:
        return note('No genotype: this run trains a fixed network (no found.json, no G_kwargs.genotype).')
    prov = genotype.provenance
    parts = [f'<p>{esc(genotype.backbone)} / {esc(genotype.mode)} / {genotype.resolution}px, '
             f'method {esc(prov.get("method"))}, iteration {esc(prov.get("iteration"))}</p>']
    extra = prov.get('extra') or {}
    if 'params' in extra and 'flops' in extra: # found.json: the exact cost of the generator it builds
        from nas import cost # imports torch; only needed here
        parts.append(f'<p>G: {esc(cost.describe(extra))}</p>')
    drawn = os.path.join(run_dir, 'architecture.png')
    if os.path.isfile(drawn):
        parts.append(figure(drawn, 'architecture.png'))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'architecture.png')
            viz.plot_architecture(genotype, path)
            parts.append(figure(_bytes(path), 'the genotype, drawn'))
    parts.append(genotype_table(genotype))
    parts.append('<details><summary>genotype JSON</summary>' + pre(_genotype_text(genotype, run_dir)) + '</details>')
    return '\n'.join(parts)

def _selection(run_dir):
    """search.py --select-top's table (selection.json, also while the stage runs), None without one."""
    path = os.path.join(run_dir, 'selection.json')
    if not os.path.isfile(path):
        return None
    record = read_json(path)
    rows = []
    for i, entry in enumerate(record['candidates']):
        search = '-' if entry['search_score'] is None else f'{entry["search_score"]:.6g}'
        rows.append([str(i + 1), esc(entry['source']), search, f'{entry["value"]:.6g}',
                     'picked' if i == record.get('picked') else '', esc(entry['network'])])
    state = 'picked by' if record.get('picked') is not None else 'in progress, so far'
    text = (f'<p>{len(rows)} candidate(s), each re-trained for {record["kimg"]:g} kimg with train.py '
            f'{esc(" ".join(record["train_args"]))}, {state} {esc(record["metric"])} of {record["samples"]} images '
            f'(detector {esc(record["detector"] or "offline")}):</p>')
    return text + table(['#', 'candidate', 'search score', esc(record['metric']), '', 'network'], rows)

def _alphas(run_dir, genotype):
    parts = []
    path = os.path.join(run_dir, 'alphas.png')
    if os.path.isfile(path):
        parts.append(figure(path, 'alphas.png: softmax of alpha per edge (and of beta per W choice, panels w.*)'))
    if genotype is not None and genotype.w_idx:
        parts.append('<p>W selection (beta) of the last iteration:</p>' + w_selection_table(genotype))
    return '\n'.join(parts) or note('No op weights recorded in this run.')

def _curves(run_dir, records):
    parts = []
    xlabel, series = stats_series(records)
    if series:
        parts.append(figure(plot_series(xlabel, series), f'stats.jsonl, per {xlabel}'))
        rows = [[esc(name), str(len(ys)), f'{ys[-1]:.6g}', f'{min(ys):.6g}', f'{max(ys):.6g}']
                for name, (xs, ys) in series.items()]
        parts.append(table(['statistic', 'points', 'last', 'min', 'max'], rows))
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(run_dir, '*.png')))
    others = [os.path.join(run_dir, n) for n in names if n not in KNOWN_PNGS and not re.fullmatch(r'fakes\d+\.png', n)]
    parts += [figure(p, os.path.basename(p)) for p in others]
    return '\n'.join(parts) or note('No stats.jsonl records and no plots yet.')

def grid_bytes(path, resolution, max_px=512):
    """A sample grid small enough to embed: its top-left max_px // resolution tiles square (e.g. 16 x 16 of 32x32
    images), scaled down when one tile is wider than max_px. (bytes, whether it was cut)."""
    image = PIL.Image.open(path)
    side = max(max_px // resolution, 1) * resolution if resolution else max_px
    if image.size[0] <= side and image.size[1] <= side:
        return _bytes(path), False
    image = image.crop((0, 0, min(side, image.size[0]), min(side, image.size[1])))
    if image.size[0] > max_px:
        image = image.resize((max_px, round(image.size[1] * max_px / image.size[0])), PIL.Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format='png')
    return buf.getvalue(), True

def _samples(run_dir, kind, options):
    unit = 'iteration' if kind == 'search' else 'kimg'
    resolution = options.get('training_set_kwargs', {}).get('resolution')
    grids = [(os.path.join(run_dir, name), caption) for name, caption in
             [('reals.png', 'real images'), ('fakes_init.png', 'at the start')]
             if os.path.isfile(os.path.join(run_dir, name))]
    fakes = numbered(run_dir, 'fakes', 'png')
    grids += [(path, f'{unit} {n}') for n, path in spaced(fakes, MAX_GRIDS)]
    parts, cut = [], False
    for path, caption in grids:
        data, was_cut = grid_bytes(path, resolution)
        parts.append(figure(data, caption, pixels=True))
        cut = cut or was_cut
    if cut:
        parts.append(note('Large grids are shown cut to their top-left corner; the whole files are in the run '
                          'directory.'))
    if len(fakes) > MAX_GRIDS:
        parts.append(note(f'{MAX_GRIDS} of {len(fakes)} grids shown, evenly spaced.'))
    return '\n'.join(parts) or note('No sample grids yet.')

def _metrics(run_dir):
    rows = []
    for path in sorted(glob.glob(os.path.join(run_dir, 'metric-*.jsonl'))):
        for record in read_jsonl(path):
            results = ', '.join(f'{k} = {v:.4f}' if isinstance(v, float) else f'{k} = {v}'
                                for k, v in record.get('results', {}).items())
            rows.append([esc(record.get('metric', '?')), esc(results), esc(record.get('detector') or '-'),
                         esc(record.get('snapshot_pkl') or '-'), esc(record.get('total_time_str', '-'))])
    if not rows:
        return note('No metrics computed in this run (metric-*.jsonl).')
    parts = [table(['metric', 'results', 'detector', 'snapshot', 'time'], rows)]
    series = metric_series(run_dir)
    if any(len(xs) > 1 for xs, _ys in series.values()): # a curve, not a single snapshot's value
        parts.insert(0, figure(plot_series('kimg', series), 'each metric against the kimg of its snapshot'))
    return '\n'.join(parts)

def metric_series(run_dir):
    """{'<metric>/<result>': (kimgs, values)} of metric-*.jsonl, kimg from each record's snapshot name."""
    series = dict()
    for path in sorted(glob.glob(os.path.join(run_dir, 'metric-*.jsonl'))):
        for record in read_jsonl(path):
            match = re.search(r'network-snapshot-(\d+)', record.get('snapshot_pkl') or '')
            for key, value in record.get('results', {}).items():
                if match and _scalar(value) is not None:
                    xs, ys = series.setdefault(f'{record.get("metric", "?")}/{key}', ([], []))
                    xs.append(int(match.group(1)))
                    ys.append(_scalar(value))
    return series

def _health(records):
    """The collapse events (torch_utils.health.CollapseMonitor) that stats.jsonl recorded, in order."""
    rows = []
    for record in records:
        for event in record.get('collapse', []):
            value, threshold = (_scalar(event.get(key)) for key in ['value', 'threshold'])
            rows.append([esc(event.get('step', '-')), esc(event.get('check', '?')),
                         '-' if value is None else f'{value:.4g}', '-' if threshold is None else f'{threshold:.4g}',
                         esc(event.get('action', '-')), esc(event.get('message', ''))])
    if not rows:
        return note('No collapse warning: architecture entropy, deconv share, loss spread and FID stayed in range.')
    return table(['step', 'check', 'value', 'threshold', 'action', 'message'], rows)

def _reproduce(run_dir, options, options_name):
    if options_name is None:
        return note('No options file: this run was started from Python, not by search.py or train.py.')
    command, source = run_command(run_dir)
    parts = [f'<p>Command ({esc(source)}):</p>' + pre(command) if command is not None else note(f'Command {source}.')]
    parts.append(f'<p>{esc(options_name)}:</p>' + pre(json.dumps(options, indent=2)))
    return '\n'.join(parts)

#----------------------------------------------------------------------------
# The report of one run directory.

def build_report(run_dir):
    kind, options, options_name = run_options(run_dir)
    records = read_jsonl(os.path.join(run_dir, 'stats.jsonl'))
    genotype = run_genotype(run_dir, options)
    bodies = dict(
        summary=_summary(run_dir, kind, options, records),
        architecture=_architecture(run_dir, genotype),
        selection=_selection(run_dir),
        alphas=_alphas(run_dir, genotype),
        curves=_curves(run_dir, records),
        samples=_samples(run_dir, kind, options),
        metrics=_metrics(run_dir),
        health=_health(records),
        reproduce=_reproduce(run_dir, options, options_name),
    )
    title = f'{os.path.basename(os.path.abspath(run_dir))}: {kind} report'
    return page(title, [(sid, heading, bodies[sid]) for sid, heading in SECTIONS if bodies[sid] is not None])

def write_report(run_dir, path=None):
    """Write <run_dir>/report.html (or `path`) atomically; return its path."""
    path = path or os.path.join(run_dir, 'report.html')
    text = build_report(run_dir)
    with atomic_write(path, 'w') as f:
        f.write(text)
    return path

#----------------------------------------------------------------------------

@click.command()
@click.argument('run_dirs', nargs=-1, required=True, metavar='RUN_DIR...')
def main(run_dirs):
    """Write report.html into each run directory of search.py or train.py.

    \b
    Example:
    python -m nas.report runs/00000-fmnist32-conventional-alphagan-alphaGAN_s-batch8
    """
    for run_dir in run_dirs:
        if not os.path.isdir(run_dir):
            raise UserError(f'{run_dir}: no such directory')
        print(write_report(run_dir))

#----------------------------------------------------------------------------

if __name__ == '__main__':
    cli_main(main)

#----------------------------------------------------------------------------
