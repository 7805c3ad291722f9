# Every target creates the virtualenv and installs the project on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
export WANDB_MODE ?= offline

.PHONY: install test test-fast demo search bench lint format validity clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Everything CI runs, slow tests (real Slurm, training runs) included.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

## The quick loop: skips tests marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

## The main job: search E3D at a small budget, train + evaluate it on real-footage clips (CPU, minutes).
demo: $(STAMP)
	$(PY) experiments/demo.py

search: $(STAMP)
	$(PY) -m e3dnas.search +budget=e3d_s

bench: $(STAMP)
	@for script in experiments/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

validity: $(STAMP)
	$(PY) -m experiments.validity.run

lint: $(STAMP)
	$(VENV)/bin/ruff format --check src tests experiments
	$(VENV)/bin/ruff check src tests experiments

format: $(STAMP)
	$(VENV)/bin/ruff format src tests experiments
	$(VENV)/bin/ruff check --fix src tests experiments

clean:
	rm -rf outputs multirun data/demo build dist .pytest_cache .ruff_cache
