# wxgate: `make run` starts the gateway on embedded defaults; `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := redis-server postgresql nginx chromium wrk prometheus
# binary that proves each package is present
SYSTEM_BINARIES := redis-server:redis-server pg_ctlcluster:postgresql nginx:nginx chromium:chromium wrk:wrk promtool:prometheus

.PHONY: run test lint fmt bench deps venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)

deps: venv
	@missing=""; for pair in $(SYSTEM_BINARIES); do \
	  bin=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "deps: missing system packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

run: venv
	$(BIN)/wxgate serve --dev

test: deps
	CI=$${CI:-true} $(BIN)/python -m pytest -q tests $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff format --check gateway tests
	$(BIN)/ruff check gateway tests
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format gateway tests
	$(BIN)/ruff check --fix gateway tests

bench: deps
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
