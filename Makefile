# Everything sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit bench soak clean system-deps validator
VALIDATOR := tests/validator

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

## The independent STU3 validator (FHIR.js from the npm registry, pinned by package-lock.json);
## offline once installed.
validator: $(VALIDATOR)/node_modules/.installed

$(VALIDATOR)/node_modules/.installed: $(VALIDATOR)/package.json $(VALIDATOR)/package-lock.json | system-deps
	cd $(VALIDATOR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Lint, type-check and run the whole test suite.
test: $(STAMP) system-deps validator lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

## The fast tier: pure unit tests, no servers, no databases (seconds).
unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit -m "not pg and not slapd and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(VALIDATOR)/node_modules
