# `make demo` and `make test` set everything up on a fresh machine: a .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/triage demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline workers ingest_api triage_cli celeryconfig.py
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy pipeline workers ingest_api triage_cli celeryconfig.py

bench: $(STAMP)
	$(BIN)/python -m bench all

# CI's smoke test, under a minute: writes bench/out/results-quick.json, never results.json
# or BENCHMARKS.md; its own Redis and PostgreSQL databases, dropped afterwards.
bench-quick: $(STAMP)
	$(BIN)/python -m bench all --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
