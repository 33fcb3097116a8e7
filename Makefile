# make test: creates .venv if missing, installs pathtolive with its dev extras, runs
# ruff and mypy on src/, then the whole test suite. make demo: the main job.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install lint typecheck test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy src/pathtolive

test: lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

demo: install
	$(BIN)/pathtolive --help

bench: install
	$(BIN)/python benchmarks/data_add.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
