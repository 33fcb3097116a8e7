# make test: creates .venv if missing, installs pathtolive with its dev extras, runs
# ruff and mypy on src/, then the whole test suite (the slowest 20 tests listed at the
# end). make demo: the main job.
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

# The package is byte-compiled first: the tests that start `pathtolive` processes (servers,
# watchers, racers, the README walks) would each compile it again where
# PYTHONDONTWRITEBYTECODE is set.
test: lint typecheck
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -n 2 --dist loadgroup --durations=20 $(PYTEST_ARGS)

# The whole path to live on synthetic data, in a new temporary workspace; for example
# make demo DEMO_ARGS="--fast --seed 3 --workspace garage-demo".
DEMO_ARGS ?=
demo: install
	$(BIN)/pathtolive demo $(DEMO_ARGS)

# The benchmarks against DVC, MLflow, BentoML and Evidently, one table of ratios; not part of
# make test (peers install into benchmarks/.work). make bench BENCH_ARGS="--quick".
BENCH_ARGS ?=
bench: install
	$(BIN)/pathtolive bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
