"""nas/report.py: every section of a search and of a training report, embedded images, escaping, large grids cut,
the W-selection probabilities, the recorded command or the saved config, and the CLI errors."""

import base64
import io
import json
import math
import os
import re

import numpy as np
import PIL.Image
import pytest

from dnnlib.util import cli_main
from nas import report


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTION_IDS = ['summary', 'architecture', 'alphas', 'curves', 'samples', 'metrics', 'health', 'reproduce']

#----------------------------------------------------------------------------

def write_png(path, size, seed=0):
    rnd = np.random.RandomState(seed)
    PIL.Image.fromarray(rnd.randint(0, 256, [size, size, 3], dtype=np.uint8)).save(path)

def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f)

def embedded_pngs(text):
    """Every data-URI image of a page, decoded."""
    uris = re.findall(r'src="data:image/png;base64,([^"]*)"', text)
    assert len(uris) == text.count('<img '), 'an image is not embedded'
    images = [PIL.Image.open(io.BytesIO(base64.b64decode(uri))) for uri in uris]
    for image in images:
        image.load()
    return images

def section(text, sid):
    return text.split(f'<section id="{sid}">')[1].split('</section>')[0]

def assert_sections(text):
    positions = [text.find(f'<section id="{sid}">') for sid in SECTION_IDS]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), positions
    assert 'http://' not in text and 'https://' not in text # readable offline: nothing to fetch

# A micro_dynw genotype at 8x8: 3 conv layers + the last toRGB read W_i; w_idx is the argmax of each beta row.
BETA = [[0.1, 0.5, -0.2], [0.0, 0.0, 0.3], [1.0, 0.2, 0.2], [-0.4, 0.1, 0.0]]
DYNW_GENOTYPE = dict(format_version=1, backbone='stylegan2', mode='micro_dynw', resolution=8,
                     channels=dict(channel_base=256, channel_max=8, num_mapping_layers=3),
                     ops=dict(normal=['conv_3x3'], up=['deconv']), w_idx=[2, 3, 1, 2],
                     provenance=dict(method='alphagan', data='toy', seed=0, iteration=15,
                                     alphas=dict(normal=[[0.0, 0.1, 0.0]], up=[[0.2, 0.0, 0.0]], w=BETA)))

COLLAPSE_EVENT = dict(event='collapse', check='op_share:deconv', step=7, value=0.8889, threshold=0.75, action='warn',
                      message='collapse warning at step 7: deconv is chosen on 8 of 9 edges <early>')

@pytest.fixture
def search_run(tmp_path):
    run = tmp_path / '00003-toy-stylegan2-micro_dynw-random'
    run.mkdir()
    write_json(run / 'search_options.json', dict(training_set_kwargs=dict(path='a<b&c.zip', resolution=8), num_iters=15,
                                                 algorithm_kwargs=dict(class_name='nas.search.random_search.Random',
                                                                       reward_note='Reward: 1/FID (the default: the detector offline has no logits, so no Inception Score)')))
    write_json(run / 'found.json', DYNW_GENOTYPE)
    with open(run / 'stats.jsonl', 'w') as f:
        for it in range(1, 16):
            line = {'Search/duality_gap': 1 / it, 'Reward/mean': 0.25 * it, 'Timing/sec_per_iter': 9.0,
                    'Timing/total_sec': 10.0 * it, 'iteration': it, 'timestamp': 1.0}
            if it == 7:
                line['collapse'] = [COLLAPSE_EVENT]
            f.write(json.dumps(line) + '\n')
        f.write('{"Search/duality_gap": 0.0, "itera') # cut short by a killed run
    write_png(run / 'fakes_init.png', 16)
    for it in range(1, 16):
        write_png(run / f'fakes{it:06d}.png', 16, seed=it)
    write_png(run / 'reward.png', 40)
    with open(run / 'metric-fid2k.jsonl', 'w') as f:
        f.write(json.dumps(dict(results=dict(fid2k=12.3456), metric='fid2k', total_time_str='1m 05s',
                                snapshot_pkl='network-snapshot-000015.pkl', detector='inception')) + '\n')
    return str(run)

#----------------------------------------------------------------------------

def test_search_report_has_every_section(search_run):
    path = report.write_report(search_run)
    assert path == os.path.join(search_run, 'report.html')
    text = open(path, encoding='utf-8').read()
    assert_sections(text)

    # architecture drawn from found.json + stats plot + reward.png + fakes_init + 12 of the 15 fakes grids.
    images = embedded_pngs(text)
    assert len(images) == 1 + 1 + 1 + 1 + report.MAX_GRIDS
    samples = section(text, 'samples')
    assert samples.count('<img ') == 1 + 12 and '12 of 15 grids shown' in samples
    assert 'iteration 1<' in samples and 'iteration 15<' in samples # first and last always shown
    assert 'alt="reward.png"' in section(text, 'curves')
    health = section(text, 'health') # the recorded collapse event, escaped
    assert '<td>7</td><td>op_share:deconv</td><td>0.8889</td><td>0.75</td><td>warn</td>' in health
    assert '&lt;early&gt;' in health and '<early>' not in health

    # Statistics: 15 complete lines, book-keeping keys left out, the cut line skipped.
    curves = section(text, 'curves')
    assert '<td>Search/duality_gap</td><td>15</td><td>0.0666667</td><td>0.0666667</td><td>1</td>' in curves
    assert '<td>Reward/mean</td><td>15</td><td>3.75</td>' in curves
    assert 'Timing/' not in curves
    assert '<td>wall time</td><td>150 s</td>' in section(text, 'summary')
    assert ('<td>reward</td><td>1/FID (the default: the detector offline has no logits, so no Inception Score)</td>'
            in section(text, 'summary'))

    # Escaped user text, metrics, and no command without command.txt (the saved options are the config).
    assert 'a&lt;b&amp;c.zip' in text and 'a<b&c.zip' not in text
    assert '12.3456' in section(text, 'metrics') and 'network-snapshot-000015.pkl' in section(text, 'metrics')
    assert '<th>detector</th>' in section(text, 'metrics') and '<td>inception</td>' in section(text, 'metrics')
    assert 'Command not recorded' in section(text, 'reproduce')

def test_w_selection_probabilities(search_run):
    text = report.build_report(search_run)
    alphas = section(text, 'alphas')
    for slot, row, w in zip(['b4.conv1', 'b8.conv0', 'b8.conv1', 'b8.torgb'], BETA, DYNW_GENOTYPE['w_idx']):
        denom = sum(math.exp(v) for v in row)
        probs = ' '.join(f'{math.exp(v) / denom:.4f}' for v in row)
        assert f'<td>{slot}</td><td>W{w}</td><td>{math.exp(row[w - 1]) / denom:.4f}</td><td>{probs}</td>' in alphas
    assert 'over W1..W3' in alphas

def test_search_loop_run_without_options_file(search_run):
    os.remove(os.path.join(search_run, 'search_options.json')) # search_loop called from Python writes none
    text = report.build_report(search_run)
    assert_sections(text)
    assert '<td>kind</td><td>search</td>' in section(text, 'summary')
    assert 'started from Python' in section(text, 'reproduce')

def test_training_report_cuts_large_grids(tmp_path):
    run = tmp_path / '00000-toy-conv_cifar-genotype-batch4'
    run.mkdir()
    with open(os.path.join(ROOT, 'nas', 'genotypes', 'sngan_baseline.json')) as f:
        genotype = json.load(f)
    write_json(run / 'training_options.json', dict(training_set_kwargs=dict(path='toy.zip', resolution=32),
                                                   total_kimg=2, G_kwargs=dict(genotype=genotype)))
    with open(run / 'stats.jsonl', 'w') as f:
        for tick in range(3):
            f.write(json.dumps({'Loss/G/loss': dict(num=4, mean=1.5 - tick, std=0.1),
                                'Progress/kimg': dict(num=1, mean=tick * 1.0, std=0), 'Timing/total_sec':
                                dict(num=1, mean=20.0 * tick, std=0), 'timestamp': 2.0}) + '\n')
    write_png(run / 'reals.png', 1024)
    write_png(run / 'fakes000002.png', 128)
    (run / 'command.txt').write_text('python train.py --outdir=x --data=toy.zip\n')
    text = report.build_report(str(run))
    assert_sections(text)
    samples = embedded_pngs(section(text, 'samples'))
    assert [image.size for image in samples] == [(512, 512), (128, 128)] # 16 x 16 tiles of the 32x32 reals
    assert 'cut to their top-left corner' in section(text, 'samples')
    assert '<td>Loss/G/loss</td><td>3</td><td>-0.5</td>' in section(text, 'curves')
    assert '<td>kimg</td><td>2 of 2</td>' in section(text, 'summary')
    assert len(embedded_pngs(section(text, 'architecture'))) == 1 # drawn from G_kwargs.genotype
    assert '<td>cell3</td><td>pre</td><td>batch</td><td>nearest</td><td>on</td><td>-</td>' in section(text, 'architecture')
    assert 'recorded in command.txt' in text and 'python train.py --outdir=x --data=toy.zip' in text
    assert 'No metrics computed' in section(text, 'metrics')
    assert 'Progress/kimg' not in section(text, 'curves') and 'Timing/' not in section(text, 'curves')

def test_training_report_plots_ada_p_and_fid_over_kimg(tmp_path):
    run = tmp_path / '00000-toy-stylegan2-batch4'
    run.mkdir()
    write_json(run / 'training_options.json', dict(training_set_kwargs=dict(path='toy.zip', resolution=32),
                                                   total_kimg=8))
    with open(run / 'stats.jsonl', 'w') as f:
        for tick in range(3):
            f.write(json.dumps({'Progress/kimg': dict(num=1, mean=4.0 * tick, std=0),
                                'Progress/augment': dict(num=1, mean=0.1 * tick, std=0)}) + '\n')
    with open(run / 'metric-fid2k.jsonl', 'w') as f:
        for kimg, fid in [(0, 300.0), (4, 120.0), (8, 80.5)]:
            f.write(json.dumps(dict(metric='fid2k', results=dict(fid2k=fid),
                                    snapshot_pkl=f'network-snapshot-{kimg:06d}.pkl')) + '\n')
    text = report.build_report(str(run))
    assert '<td>Progress/augment</td><td>3</td><td>0.2</td>' in section(text, 'curves') # ADA's p, per kimg
    assert report.metric_series(str(run)) == {'fid2k/fid2k': ([0, 4, 8], [300.0, 120.0, 80.5])}
    assert len(embedded_pngs(section(text, 'metrics'))) == 1

#----------------------------------------------------------------------------

def test_cli_errors_in_one_line(tmp_path, capsys):
    for args, fragment in [([str(tmp_path / 'missing')], 'no such directory'),
                           ([str(tmp_path)], 'not a run directory')]:
        with pytest.raises(SystemExit) as exit_info:
            cli_main(report.main, args)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1 and err[0].startswith('Error: ') and fragment in err[0], err

#----------------------------------------------------------------------------
