# Slipguard: `make run` serves the embedded default, `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test fuzz lint format install install-test system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

# Re-install only when the project metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

system-deps:
	@bash scripts/system-deps.sh

run: install
	$(BIN)/slipguard migrate
	$(BIN)/slipguard demo
	SLIPGUARD_LOG_JSON=$${SLIPGUARD_LOG_JSON:-false} $(BIN)/slipguard serve

test: install-test system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Schemathesis (every check, stateful phase on) against a real `slipguard serve` on SQLite
# and on PostgreSQL, with an admin key and then a staff key. CI runs it bounded; raise
# FUZZ_EXAMPLES (50 for a release) to look harder.
FUZZ_EXAMPLES ?= 20
fuzz: install-test system-deps
	$(BIN)/python scripts/fuzz.py --db sqlite --examples $(FUZZ_EXAMPLES)
	$(BIN)/python scripts/fuzz.py --db postgres --examples $(FUZZ_EXAMPLES)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy settings.py piccolo_conf.py core journeys slips coaching dashboards api

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
