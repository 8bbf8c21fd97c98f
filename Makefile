# The two commands (see README):  make demo   |   make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test bench experiments clean

$(VENV)/.core-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	$(PIP) install --quiet -r requirements-test.txt
	$(PIP) install --quiet --no-deps -e .
	touch $(VENV)/.core-installed $@

## make demo: set up the package and train word vectors on the bundled demo corpus
demo: $(VENV)/.core-installed
	$(VENV)/bin/negsample demo

## make test: set up the pinned test environment and run the whole test suite
test: $(VENV)/.test-installed
	$(PY) -m pytest -q tests

## make bench: every benchmark in benchmarks/ (long; needs ../shared/data)
bench: $(VENV)/.test-installed
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

## make experiments: every experiment in experiments/ -> figures and tables in docs/experiments.md
## (~25 min on 2 cores; the window-size one needs ../shared/data)
experiments: $(VENV)/.test-installed
	$(PY) experiments/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
