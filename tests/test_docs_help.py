"""docs/<cli>-help.txt equals `python <cli>.py --help` (STYLE rule 25); `make help-docs` regenerates them."""

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIS = sorted(os.path.basename(path)[:-len('.py')] for path in glob.glob(os.path.join(ROOT, '*.py'))) # every root script

#----------------------------------------------------------------------------

@pytest.mark.parametrize('cli', CLIS)
def test_help_text_is_documented(cli):
    env = dict(os.environ, COLUMNS='100', PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, f'{cli}.py', '--help'], capture_output=True, text=True, env=env, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    path = os.path.join(ROOT, 'docs', f'{cli}-help.txt')
    assert os.path.isfile(path), f'docs/{cli}-help.txt is missing: run `make help-docs`'
    with open(path) as f:
        assert f.read() == res.stdout, f'docs/{cli}-help.txt is out of date: run `make help-docs`'

#----------------------------------------------------------------------------
