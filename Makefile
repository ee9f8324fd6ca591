# Everything sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit bench soak clean system-deps validator axe
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

## axe-core (npm registry) for the console's accessibility check in the browser tests.
AXE := tests/console/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/console/package.json | system-deps
	@command -v npm >/dev/null 2>&1 && (cd tests/console && npm ci --no-audit --no-fund --silent) \
	  || echo "axe: npm missing; the console's accessibility check will skip" >&2


## Lint, type-check and run the whole test suite.
test: $(STAMP) system-deps validator axe lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=20

## The fast tier: pure unit tests, no servers, no databases (seconds).
unit: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit -m "not pg and not slapd and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## Fuzz the provider long on both stores (>= 20,000 requests); prints the count, fails on any 5xx.
soak: $(STAMP)
	@UEC_FUZZ_EXAMPLES=$${UEC_FUZZ_EXAMPLES:-1000} $(BIN)/python -m pytest -q -p no:cacheprovider \
		-s tests/provider/test_fuzz.py > .soak.log 2>&1; rc=$$?; grep -av '^fuzz:' .soak.log | tail -3; \
	grep -a '^fuzz:' .soak.log; \
	grep -a '^fuzz:' .soak.log | awk -v rc=$$rc '{n += $$2; f += $$6} \
		END {print "soak:", n, "requests,", f, "x 5xx"; exit (rc != 0 || f > 0 || n < 20000)}'

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(VALIDATOR)/node_modules
