# Everything sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit bench soak clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## Run the whole booking flow on embedded defaults (SQLite, embedded LDAP).
demo: $(STAMP)
	$(BIN)/uec-booking demo

## Install what the integration tests need from the OS (slapd, ldapsearch) when missing and root.
system-deps:
	@bash scripts/system-deps.sh

## axe-core (npm registry) for the console's accessibility check in the browser tests.
AXE := tests/console/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/console/package.json
	@command -v npm >/dev/null 2>&1 && (cd tests/console && npm ci --no-audit --no-fund --silent) \
	  || echo "axe: npm missing; the console's accessibility check will skip" >&2

## Lint, type-check and run the whole test suite.
test: $(STAMP) system-deps axe lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
