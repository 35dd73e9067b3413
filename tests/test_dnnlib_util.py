"""dnnlib.util: EasyDict, class construction, int-list parsing, atomic writes, open_url cache, run dirs, Logger."""

import hashlib
import os
import shlex
import subprocess
import sys

import click
import pytest

from dnnlib import util

#----------------------------------------------------------------------------

def test_easydict_attribute_access():
    d = util.EasyDict(a=1)
    d.b = 2
    assert d == {'a': 1, 'b': 2} and d.a == 1
    del d.a
    assert 'a' not in d
    with pytest.raises(AttributeError):
        _ = d.missing

def test_construct_class_by_name():
    obj = util.construct_class_by_name(class_name='collections.OrderedDict', a=1)
    assert type(obj).__name__ == 'OrderedDict' and obj['a'] == 1
    assert util.get_obj_by_name('os.path.join') is os.path.join

def test_int_list_option_names_itself():
    @click.command()
    @click.option('--seeds', type=util.INT_LIST, default='0-2')
    def main(seeds):
        print(seeds)
    assert main.main(args=['--seeds=4,1-2'], standalone_mode=False) is None
    with pytest.raises(click.BadParameter, match='cannot parse "4,x" as a list of integers') as info:
        main.main(args=['--seeds=4,x'], standalone_mode=False)
    assert info.value.format_message().startswith("Invalid value for '--seeds': cannot parse")

def test_parse_int_list():
    assert util.parse_int_list('0-3,7,10-11') == [0, 1, 2, 3, 7, 10, 11]
    assert util.parse_int_list('5') == [5]
    assert util.parse_int_list([1, 2]) == [1, 2]
    with pytest.raises(util.UserError, match='3-1'):
        util.parse_int_list('3-1')
    with pytest.raises(util.UserError, match='a-b'):
        util.parse_int_list('a-b')

def test_format_time():
    assert [util.format_time(s) for s in [5, 65, 3600 * 2 + 7 * 60, 86400 + 3 * 3600]] == ['5s', '1m 05s', '2h 07m', '1d 03h']

#----------------------------------------------------------------------------

def test_record_command_round_trips(tmp_path):
    argv = ['search.py', '--outdir=my runs', "--data=it's.zip", '--iters=2']
    util.record_command(str(tmp_path), argv)
    text = (tmp_path / 'command.txt').read_text()
    assert text.endswith('\n') and shlex.split(text) == ['python', *argv]

def test_atomic_write_replaces_or_keeps(tmp_path):
    path = tmp_path / 'out.bin'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with util.atomic_write(path) as f:
            f.write(b'partial')
            raise RuntimeError('killed')
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['out.bin'] # no temporary file left behind
    with util.atomic_write(path) as f:
        f.write(b'new')
    assert path.read_bytes() == b'new'

def test_atomic_write_honours_umask(tmp_path):
    # mkstemp makes 0600 files; an atomically written output must get the mode a plain open() would give it.
    old = os.umask(0o022)
    try:
        with util.atomic_write(tmp_path / 'grid.png') as f:
            f.write(b'png')
        os.umask(0o077)
        with util.atomic_write(tmp_path / 'private.txt', 'w') as f:
            f.write('x')
    finally:
        os.umask(old)
    assert (tmp_path / 'grid.png').stat().st_mode & 0o777 == 0o644
    assert (tmp_path / 'private.txt').stat().st_mode & 0o777 == 0o600

def test_open_url_paths_file_urls_and_cache(tmp_path, monkeypatch):
    src = tmp_path / 'weights.bin'
    src.write_bytes(b'abc')
    with util.open_url(str(src)) as f:
        assert f.read() == b'abc'
    with util.open_url(src.as_uri()) as f:
        assert f.read() == b'abc'
    with pytest.raises(util.UserError, match='no such file'):
        util.open_url(str(tmp_path / 'missing.bin'))

    # A cached download is served without touching the network.
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache'))
    url = 'https://example.invalid/models/net.pkl'
    cache_file = os.path.join(util.cache_dir('downloads'), hashlib.md5(url.encode()).hexdigest() + '_net.pkl')
    os.makedirs(os.path.dirname(cache_file))
    with open(cache_file, 'wb') as f:
        f.write(b'cached')
    assert util.open_url(url, return_filename=True) == cache_file
    with util.open_url(url) as f:
        assert f.read() == b'cached'

def test_open_url_failed_download_is_user_error(tmp_path, monkeypatch):
    import requests
    monkeypatch.setenv('GANAS_CACHE', str(tmp_path / 'cache'))
    def refuse(*args, **kwargs):
        raise requests.ConnectionError('offline')
    monkeypatch.setattr(requests, 'get', refuse)
    with pytest.raises(util.UserError, match='download failed'):
        util.open_url('https://example.invalid/x.pt', num_attempts=1, verbose=False)
    assert not os.path.exists(util.cache_dir('downloads', 'x.pt'))

#----------------------------------------------------------------------------

def test_run_dirs_are_numbered(tmp_path):
    assert util.next_run_dir(str(tmp_path / 'none'), 'a') == str(tmp_path / 'none' / '00000-a')
    first = util.make_run_dir(str(tmp_path), 'fmnist32-micro')
    (tmp_path / '00007-other').mkdir()
    (tmp_path / '00009-file').write_text('not a dir')
    second = util.make_run_dir(str(tmp_path), 'x')
    assert os.path.basename(first) == '00000-fmnist32-micro'
    assert os.path.basename(second) == '00008-x'
    assert util.sub_dirs(str(tmp_path)) == {'00000-fmnist32-micro', '00007-other', '00008-x'}
    assert util.sub_dirs(str(tmp_path / 'none')) == set()

def test_logger_tees_to_file(tmp_path, capsys):
    log = tmp_path / 'log.txt'
    with util.Logger(str(log)):
        print('hello')
        print('oops', file=sys.stderr)
    print('after')
    assert log.read_text() == 'hello\noops\n'
    assert 'hello' in capsys.readouterr().out

#----------------------------------------------------------------------------

def test_cli_main_bad_input_one_line_exit_2(tmp_path):
    script = tmp_path / 'cli.py'
    script.write_text(
        'import click\nfrom dnnlib.util import cli_main, UserError\n'
        '@click.command()\n@click.option("--n", type=int, required=True)\n'
        'def main(n):\n    if n < 0:\n        raise UserError(f"--n: {n} is negative")\n    print(n * 2)\n'
        'cli_main(main)\n')
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ok = subprocess.run([sys.executable, str(script), '--n=4'], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and ok.stdout == '8\n'
    for args, message in [(['--n=-1'], 'Error: --n: -1 is negative'), (['--n=x'], "Error: Invalid value for '--n'"), ([], 'Error: Missing option')]:
        res = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)
        assert res.returncode == 2
        assert res.stderr.startswith(message) and res.stderr.count('\n') == 1, res.stderr
        assert 'Traceback' not in res.stderr

@pytest.mark.parametrize('rank', ['0', '1'])
def test_cli_main_under_torchrun_lets_process_0_report_first(monkeypatch, capsys, rank):
    """A process other than 0 stops on bad input only after TORCHRUN_ERROR_GRACE_S (torchrun ends it sooner when
    process 0 exits on the same error), then names itself; process 0 reports at once."""
    @click.command()
    def main():
        raise util.UserError('--gpus: 3, but torchrun started 2 processes')
    events = []
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', rank)
    monkeypatch.setattr(util.time, 'sleep', lambda seconds: events.append(('sleep', seconds)))
    def exit_without_teardown(code):
        events.append(('stderr', capsys.readouterr().err))
        raise SystemExit(code)
    monkeypatch.setattr(util, 'exit_without_teardown', exit_without_teardown)
    with pytest.raises(SystemExit) as exit_info:
        util.cli_main(main, [])
    assert exit_info.value.code == 2
    if rank == '0':
        assert events == [('stderr', 'Error: --gpus: 3, but torchrun started 2 processes\n')]
    else:
        assert events == [('sleep', util.TORCHRUN_ERROR_GRACE_S),
                          ('stderr', 'Error: process 1: --gpus: 3, but torchrun started 2 processes\n')]

#----------------------------------------------------------------------------

def test_bool_option_takes_stylegan2_ada_values_and_stays_a_flag():
    @click.command()
    @util.bool_option('--mirror', help='x-flips')
    @util.bool_option('--verbose', help='progress', default=True)
    def command(mirror, verbose):
        return mirror, verbose
    parse = lambda *args: command.main(list(args), standalone_mode=False)
    assert parse() == (False, True)
    assert parse('--mirror') == (True, True) and parse('--mirror', '--verbose=0') == (True, False)
    for words, value in [(['1', 'true', 'yes', 'y', 'on'], True), (['0', 'false', 'no', 'n', 'off'], False)]:
        assert all(parse(f'--mirror={word}') == (value, True) for word in words)
    assert parse('--mirror', 'false') == (False, True)
    with pytest.raises(click.BadParameter, match="'maybe' is not a valid boolean"):
        parse('--mirror=maybe')
    help_text = ' '.join(command.get_help(click.Context(command)).split())
    assert '--mirror BOOL x-flips [default: false] --verbose BOOL progress [default: true]' in help_text
