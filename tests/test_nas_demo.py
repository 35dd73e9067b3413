"""nas/demo.py at toy size with a stand-in detector: every stage's output, the toy benchmark under the demo's directory,
every section of the demo and run reports, every link and embedded image, reuse on a second run, a partial re-run, and
failures that name the stage and option."""

import base64
import io
import json
import os
import shlex
import re
import subprocess

import PIL.Image
import pytest

from cli_helpers import make_zip, pipeline_env
from dnnlib.util import UserError, cli_main
from nas import benchmark
from nas import demo
from nas import report

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning') # the stand-in detector is TorchScript

RUN_SECTIONS = ['summary', 'architecture', 'alphas', 'curves', 'samples', 'metrics', 'reproduce']
DEMO_SECTIONS = ['overview', 'benchmark', 'grids', 'search', 'dynw', 'stages', 'reproduce']


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    with pipeline_env(root) as detector:
        kwargs = dict(outdir=str(root / 'out'), data=make_zip(root / 'toy32.zip', 16, 32),
                      test_data=make_zip(root / 'test32.zip', 8, 32, seed=1), size='toy', jobs=2, detector=detector,
                      device='cpu')
        lines = []
        results = demo.run_demo(**kwargs, log=lines.append)
        yield dict(kwargs=kwargs, results=results, lines=lines, root=root)

def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()

def check_page(path, sections):
    """Sections present in order, every link points at an existing file, every image is an embedded PNG."""
    text = read(path)
    positions = [text.find(f'<section id="{sid}">') for sid in sections]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), (path, positions)
    for href in re.findall(r'href="([^"]*)"', text):
        assert os.path.isfile(os.path.join(os.path.dirname(path), href)), f'{path}: broken link {href}'
    uris = re.findall(r'<img src="data:image/png;base64,([^"]*)"', text)
    assert len(uris) == text.count('<img ') and uris, path
    for uri in uris:
        PIL.Image.open(io.BytesIO(base64.b64decode(uri))).load()
    return text

#----------------------------------------------------------------------------

def test_every_stage_wrote_its_output(toy):
    results, outdir = toy['results'], toy['kwargs']['outdir']
    assert set(results) == {'search', 'train-baseline', 'grid-baseline', 'train-found', 'dynw', 'grid-found',
                            'benchmark'}
    assert all(r['status'] == 'ran' and os.path.isfile(r['output']) for r in results.values())
    for name in ['grid-found', 'grid-baseline']:
        assert PIL.Image.open(os.path.join(outdir, name, 'grid.png')).size == (64, 64) # seeds 0-3: 2 x 2 of 32x32
    assert results['train-found']['key'].split().count(f'--genotype={results["search"]["output"]}') == 1

    # Each printed command is the one recorded in its run directory and the state file.
    state = json.loads(read(os.path.join(outdir, 'demo-state.json')))
    for name in ['search', 'dynw', 'train-found', 'train-baseline']:
        command = read(os.path.join(results[name]['run_dir'], 'command.txt')).strip()
        # The CLI records `python <script> <args>`; the demo runs the venv's interpreter.
        assert shlex.split(command)[1:] == shlex.split(state[name]['key'])[1:]
        assert f'[{name}] {state[name]["key"]}' in toy['lines']

def test_the_toy_benchmark_runs_in_the_demo_directory_on_every_lane(toy):
    outdir = toy['kwargs']['outdir']
    table_path = os.path.join(outdir, 'benchmark', 'table.json')
    assert toy['results']['benchmark']['output'] == table_path
    table = json.loads(read(table_path))
    assert table['size'] == 'toy' and table['seeds'] == [0, 1]
    assert [row['arm'] for row in table['rows']] == [arm for arm, *_ in benchmark.arms([0, 1])]
    state = json.loads(read(os.path.join(outdir, 'benchmark', 'benchmark-state.json')))
    assert state['metrics']['key'].count(toy['kwargs']['test_data']) == 1 # scored against the test split
    # The stage's CPU time holds its subprocesses' (the benchmark's searches and re-trainings).
    assert toy['results']['benchmark']['cpu_seconds'] >= sum(s['cpu_seconds'] for s in state.values() if s['shell'])
    assert f'Benchmark (toy, scale 1, seeds [0, 1]) in {os.path.join(outdir, "benchmark")}: 2 stage(s) at a time' \
        in toy['lines']
    # The benchmark's stages ran after every other stage of the demo, not beside them.
    started = [line.split(']')[0][1:] for line in toy['lines'] if re.match(r'\[\S+\] \S*python', line)]
    assert started.index('search-alphagan-0') > max(started.index(name) for name in toy['results'] if name != 'benchmark')

def test_demo_report_sections_links_and_table(toy):
    outdir = toy['kwargs']['outdir']
    text = check_page(os.path.join(outdir, 'report.html'), DEMO_SECTIONS)
    rows = json.loads(read(toy['results']['benchmark']['output']))['rows']
    section = text.split('<section id="benchmark">')[1].split('</section>')[0]
    for row in benchmark.table_rows(rows): # every arm, every cell as table.md has it
        assert ''.join(f'<td>{report.esc(cell)}</td>' for cell in row) in section, row
    assert 'href="benchmark/report.html"' in section and 'href="benchmark/table.md"' in section
    grids = text.split('<section id="grids">')[1].split('</section>')[0]
    assert grids.count('<img ') == 3 # both grids and the real images
    dynw = text.split('<section id="dynw">')[1].split('</section>')[0]
    assert dynw.count('<td>b32.torgb</td>') == 1 # the W selection lists every slot, the last toRGB included

def test_run_reports(toy):
    for name in ['search', 'dynw', 'train-found', 'train-baseline']:
        run_dir = toy['results'][name]['run_dir']
        text = check_page(os.path.join(run_dir, 'report.html'), RUN_SECTIONS)
        assert 'recorded in command.txt' in text

def test_second_run_reuses_every_stage(toy, monkeypatch):
    monkeypatch.setattr(subprocess, 'Popen', lambda *args, **kwargs: pytest.fail('a stage ran again'))
    monkeypatch.setattr(benchmark, 'run_benchmark', lambda *args, **kwargs: pytest.fail('the benchmark ran again'))
    results = demo.run_demo(**toy['kwargs'], log=lambda line: None)
    assert {name: r['status'] for name, r in results.items()} == {name: 'reused' for name in toy['results']}

def test_second_run_reuses_and_reruns_what_is_missing(toy, monkeypatch):
    kwargs, outdir = toy['kwargs'], toy['kwargs']['outdir']
    found = toy['results']['search']['output']
    mtime = os.stat(found).st_mtime_ns
    os.remove(os.path.join(outdir, 'grid-found', 'grid.png'))
    launched = []
    real_popen = subprocess.Popen
    def popen(argv, **popen_kwargs):
        launched.append(argv)
        return real_popen(argv, **popen_kwargs)
    monkeypatch.setattr(subprocess, 'Popen', popen)
    monkeypatch.setattr(benchmark, 'run_benchmark', lambda *args, **kw: pytest.fail('the benchmark ran again'))
    results = demo.run_demo(**kwargs, log=lambda line: None)
    assert [os.path.basename(argv[1]) for argv in launched] == ['generate.py']
    assert {name: r['status'] for name, r in results.items() if r['status'] == 'ran'} == {'grid-found': 'ran'}
    assert os.stat(found).st_mtime_ns == mtime
    check_page(os.path.join(outdir, 'report.html'), DEMO_SECTIONS)

#----------------------------------------------------------------------------

def test_failed_stage_names_its_log(tmp_path, toy):
    data = make_zip(tmp_path / 'odd36.zip', 4, 36) # 36 is neither 8 * 4 (conventional) nor a power of two
    with pytest.raises(UserError, match=r'stage search failed with exit code 2; log: .*search\.log'):
        demo.run_demo(str(tmp_path / 'out'), data, toy['kwargs']['test_data'], size='toy', jobs=1,
                      detector=toy['kwargs']['detector'], device='cpu', log=lambda line: None)

def test_bad_options_fail_in_one_line(tmp_path, capsys):
    for args, fragment in [([f'--data={tmp_path}/missing.zip'], '--data:'),
                           ([f'--data={__file__}', f'--test-data={tmp_path}/missing.zip'], '--test-data:'),
                           ([f'--data={__file__}', f'--test-data={__file__}', f'--detector={tmp_path}/none.pt'],
                            '--detector:')]:
        with pytest.raises(SystemExit) as exit_info:
            cli_main(demo.main, [f'--outdir={tmp_path}', *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(err) == 1 and err[0].startswith('Error: ') and fragment in err[0], err

#----------------------------------------------------------------------------
