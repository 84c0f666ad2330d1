# wxgate: `make run` starts the gateway on embedded defaults; `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_PACKAGES := redis-server postgresql nginx chromium wrk prometheus \
	apache2 libapache2-mod-auth-openidc nodejs npm
# proof:package pairs; the proof is a binary (on PATH or in /usr/sbin) or an absolute file path
SYSTEM_BINARIES := redis-server:redis-server pg_ctlcluster:postgresql nginx:nginx chromium:chromium \
	wrk:wrk promtool:prometheus apache2:apache2 \
	/usr/lib/apache2/modules/mod_auth_openidc.so:libapache2-mod-auth-openidc \
	node:nodejs npm:npm
# the node relying party of the end-to-end tests (openid-client v6 needs node >= 20)
RP_DIR := tests/e2e/rp
RP_STAMP := $(RP_DIR)/node_modules/.installed
NODE_MAJOR_MIN := 20

.PHONY: run test lint fmt bench bench-deps soak deps system-deps venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $(STAMP)

venv: $(STAMP)

deps: venv system-deps $(RP_STAMP)

system-deps:
	@missing=""; for pair in $(SYSTEM_BINARIES); do \
	  proof=$${pair%%:*}; pkg=$${pair##*:}; \
	  case $$proof in \
	    /*) [ -e $$proof ] || missing="$$missing $$pkg" ;; \
	    *) command -v $$proof >/dev/null 2>&1 || [ -x /usr/sbin/$$proof ] || missing="$$missing $$pkg" ;; \
	  esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "deps: missing system packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# npm ci only when node_modules is missing or older than the lock (the stamp lives inside it)
$(RP_STAMP): $(RP_DIR)/package.json $(RP_DIR)/package-lock.json | system-deps
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= $(NODE_MAJOR_MIN) ? 0 : 1)' || { \
	  echo "deps: node $$(node --version) is too old: openid-client v6 needs node >= $(NODE_MAJOR_MIN)" \
	    "(Debian 12 ships 18; use Debian 13, or NodeSource's nodejs 20+)"; exit 1; }
	npm ci --prefix $(RP_DIR) --no-audit --no-fund --loglevel=error
	touch $@

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

# the benchmark's peers only (Apache + mod_oauth2): `make test` never needs them
BENCH_PACKAGES := apache2 libapache2-mod-oauth2
bench-deps:
	@if [ ! -e /usr/lib/apache2/modules/mod_oauth2.so ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "bench-deps: installing $(BENCH_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BENCH_PACKAGES) >/dev/null; \
	  else \
	    echo "bench-deps: missing; run: sudo apt-get install -y $(BENCH_PACKAGES)"; exit 1; \
	  fi; \
	fi

bench: deps bench-deps
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

# Not in CI: 10 minutes of mixed traffic against one gateway (SOAK_SECONDS, SOAK_RATE, ...:
# see tests/soak/soak.py); the report lands in tests/bench/results/soak.json.
soak: venv
	$(BIN)/python -m tests.soak

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache $(RP_DIR)/node_modules
