"""nas/search/config.py: the search configuration as a package API gives the config search.py runs."""

import json

import pytest

import dnnlib
import search
from cli_helpers import make_images, run_inprocess
from dnnlib.util import UserError
from nas.search import config

def options(*args):
    """search.py's option values for `args`, defaults filled in, and the names given (as search.main computes them)."""
    with search.main.make_context('search.py', list(args)) as ctx:
        given = {name for name in ctx.params if ctx.get_parameter_source(name).name != 'DEFAULT'}
        opts = dnnlib.EasyDict(ctx.params)
    opts.device = opts.device or 'cpu'
    return opts, given

@pytest.mark.parametrize('args', [
    ['--g-channels=8', '--d-channels=8', '--batch=4'],
    ['--mode=macro_dynw', '--width-frac=0.0625', '--S=0'],
    ['--method=autogan', '--g-channels=8', '--d-channels=8', '--shared-steps=2'],
    ['--method=random', '--backbone=stylegan2', '--mode=micro', '--width-frac=0.0625', '--train-steps=2'],
], ids=['alphagan-conventional', 'alphagan-macro_dynw', 'autogan', 'random-stylegan2'])
def test_package_config_equals_the_cli_config(tmp_path, capsys, args):
    data = make_images(tmp_path / 'd16', 4, 16)
    common = [f'--outdir={tmp_path / "runs"}', f'--data={data}', '--device=cpu', '--workers=0']
    res = run_inprocess(capsys, 'search.py', '--dry-run', *common, *args)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout.split('Search options:')[1].split('\n\n')[0])
    c, desc = config.setup_search_config(*options(*common, *args))
    assert json.loads(json.dumps(c)) == {k: v for k, v in printed.items() if k != 'run_dir'}
    assert printed['run_dir'].endswith(f'00000-{desc}')

def test_checks_name_the_option():
    opts, given = options('--outdir=x', '--data=missing.zip', '--method=autogan', '--T=3')
    with pytest.raises(UserError, match='--T: only for --method=alphagan, not --method=autogan'):
        config.setup_search_config(opts, given)
