# modstream — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.modstream-installed

.PHONY: demo test lint format build-model venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start a local broker and the worker, send the sample stream, show results live, stop everything.
demo: $(STAMP)
	$(BIN)/modstream demo

## Run the whole test suite (unit + integration against a fresh local broker started by the tests).
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Rebuild the default model from ../shared/datasets (needs the CPU torch wheel; takes minutes).
build-model: $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	$(BIN)/modstream build-model

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out .modstream
