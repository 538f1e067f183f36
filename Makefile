# modstream — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.modstream-installed
# Seconds of 10x overload in `make soak` (CI runs 120, see .ci/run).
OVERLOAD_S ?= 180

.PHONY: demo test lint format build-model train bench soak venv clean check-chart chromium

# torch is installed on its own first, pinned, so pip takes the CPU wheel on disk and never pulls a CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,train,eval,llm]'
	touch $(STAMP)

venv: $(STAMP)

## Start a local broker and the worker, send the sample stream, show results live, stop everything.
demo: $(STAMP)
	$(BIN)/modstream demo

## Run the whole test suite (unit + integration against a fresh local broker started by the tests).
test: $(STAMP) chromium
	MODSTREAM_E2E_REPORT=test-artifacts/reliability.jsonl $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Rebuild the default model from ../shared/datasets (needs the CPU torch wheel; takes minutes).
build-model: $(STAMP)
	$(BIN)/modstream build-model

## Fine-tune, calibrate, export and (when better) promote the default model (~45 min on 2 CPU cores).
train: $(STAMP)
	$(BIN)/modstream train

## Benchmarks: each prints a table and writes bench/results/<name>.json (+ .png).
bench: $(STAMP)
	$(BIN)/python -m bench

## Heavy reliability scenarios (left out of `make test`): crash/rebalance/outage soaks, OVERLOAD_S seconds at 10.5x
## capacity (the backlog then takes ~15x as long to drain: 180 s -> the overload test alone ~47 min on 2 cores),
## and the fuzz targets again with 60 s each.
soak: $(STAMP)
	MODSTREAM_E2E_REPORT=test-artifacts/reliability-soak.jsonl MODSTREAM_FUZZ_BUDGET_S=60 \
	  MODSTREAM_OVERLOAD_S=$(OVERLOAD_S) $(BIN)/python -m pytest -m 'soak or fuzz'

## Render and validate the Helm chart (real helm + Kubernetes schemas; tools cached in .modstream/tools).
check-chart: $(STAMP)
	PYTHON=$(BIN)/python scripts/check_chart.sh

## Debian Chromium for the dashboard browser test (the test skips itself without it).
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium missing and not installable here: the dashboard browser test will skip"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache out .modstream
