# The two commands of the README, and a few helpers. Each target creates .venv if missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## make demo: install, start the simulator-fed demo and open the dashboard on localhost:8000
demo: $(STAMP)
	$(BIN)/divergence demo

## make test: install, then run ruff, mypy and the whole test suite (browser tests included)
test: $(STAMP)
	./.ci/ensure-chromium
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache dist build
