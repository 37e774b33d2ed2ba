# One entry point: install, run, test, lint, benchmark. Everything runs inside .venv.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned through the constraint file on EVERY pip call, so nothing can pull a CUDA build.
export PIP_CONSTRAINT := $(CURDIR)/requirements.lock
export DS_BUILD_OPS := 0
export HF_HUB_OFFLINE := 1
export ZENML_ANALYTICS_OPT_IN := false
export GX_ANALYTICS_ENABLED := false
export TOKENIZERS_PARALLELISM := false

.PHONY: help install run test test-unit test-integration test-slow lint format benchmark learn clean

help:
	@grep -E '^## ' Makefile | sed 's/## //'

## install    create .venv with the pinned environment (idempotent)
install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip==25.3
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-build-isolation -r requirements.txt
	$(BIN)/pip install -q --no-build-isolation --no-deps -e .
	$(BIN)/pip check
	touch $@

## run        the full training pipeline on the embedded default (state under ./.gotr1)
run: install
	$(BIN)/python -m pipelines.run

## test       unit + integration tiers (what CI runs); pytest's exit code 5 (no tests) fails
test: install
	$(BIN)/pytest -m "not slow" -q

test-unit: install
	$(BIN)/pytest -m "not slow and not integration" -q

test-integration: install
	$(BIN)/pytest -m "integration" -q

test-slow: install
	$(BIN)/pytest -m "slow" -q

## lint       ruff (lint + format check), mypy strict on the core, import contract
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## benchmark  rollout and GRPO step throughput and memory
benchmark: install
	$(BIN)/python benchmarks/grpo_step.py

## learn      SFT vs GRPO on held-out scenes, three seeds (about 13 minutes a seed on 2 idle cores)
learn: install
	$(BIN)/python scripts/learning_evidence.py --config scripts/embedded_learning.yaml --output outputs/learning --seeds 0 1 2 --samples-per-prompt 8

clean:
	rm -rf $(VENV) .gotr1 .pytest_cache .mypy_cache .ruff_cache
