# USC-PIS developer commands. `make run` and `make test` create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format browser clean-var

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## Run the whole system (web + worker + beat, demo data) at http://127.0.0.1:8000
run: $(STAMP)
	$(BIN)/python -m uscpis.devstack

## Run every test (installs Debian's chromium for the browser tests when it can)
test: $(STAMP) browser
	$(BIN)/python -m pytest $(ARGS)

## Benchmarks: make bench ARGS="--patients 100000"
bench: $(STAMP)
	USCPIS_DB_NAME=uscpis_bench $(BIN)/python manage.py bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .

browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "!!! Could not install chromium: browser tests will be SKIPPED !!!"; \
	else \
		echo "!!! /usr/bin/chromium is missing and apt is not usable: browser tests will be SKIPPED !!!"; \
	fi

clean-var:
	rm -rf var/cache var/broker
