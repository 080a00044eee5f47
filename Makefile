# The two commands a newcomer needs are `make dev` and `make test`; both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= dev
PORT ?= 3000
CONFIG ?=
PLAN_ARGS := --stack $(STACK) $(if $(CONFIG),--config $(CONFIG),)
PYTEST_ARGS ?=

.PHONY: help setup test pytest lint format plan openapi validators

help:
	@echo "make dev [STACK=dev] [PORT=3000]   the whole API locally on DynamoDB Local (data: LOCAL_STATE=.local)"
	@echo "make test                          lint and every test"
	@echo "make plan STACK=prod [CONFIG=f]    offline: resources and limits of a stack"
	@echo "make openapi                       regenerate docs/openapi.json from the handler"
	@echo "make validators                    regenerate handler/_request_validators.py from the models"
	@echo "make dev-reset [LOCAL_STATE=.local] wipe the local stack's data and keys (stack stopped)"
	@echo "make tiers [BASE=origin/main]      Markdown review of the limits a stack-file change moves"
	@echo "make lint | make docs | make bench | make loadtest [SCENARIO=smoke] [URL=] [KEY=]"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 22+ (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: setup lint pytest

# The OpenAPI document is generated from the handler's models and routes; a test fails when it is stale.
openapi: $(VENV)/.installed
	$(PY) -m handler.openapi > docs/openapi.json.tmp && mv docs/openapi.json.tmp docs/openapi.json

# The function's request-body checks are compiled from the same models' JSON Schema; a test fails when stale.
validators: $(VENV)/.installed
	$(PY) -m tools.request_validators > handler/_request_validators.py.tmp && mv handler/_request_validators.py.tmp handler/_request_validators.py

plan: $(VENV)/.installed
	@$(PY) -m tools.plan $(PLAN_ARGS) $(if $(JSON),--json,)

# The policy pack runs in its own virtualenv (policy/PulumiPolicy.yaml), for `pulumi preview|up --policy-pack policy`.
.PHONY: policy-pack

policy/venv/.installed: policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/pip install --quiet -r policy/requirements.txt
	touch $@

policy-pack: policy/venv/.installed

# --- local stack ---
# `make dev` runs the whole API on 127.0.0.1 (python -m local): WAF and API Gateway's limits from the stack file,
# the handler in Lambda-like worker processes, DynamoDB Local with its data under $(LOCAL_STATE)/<stack>/ddb.
# `make loadtest` runs Artillery (installed on first use, never by `make test`) against it, or URL= with KEY=.
# LOCAL_STATE=/dev/shm/tiered-api (memory-backed) for load tests: on disk, every write waits for a sync.
LOCAL_STATE ?= .local
SCENARIO ?= seed-001
URL ?=
KEY ?=

.PHONY: dev dev-reset loadtest

dev: setup
	$(PY) -m local --stack $(STACK) --port $(PORT) --state-dir $(LOCAL_STATE) $(if $(CONFIG),--config $(CONFIG),)

dev-reset:
	@running=$$(ls $(LOCAL_STATE)/*.json 2>/dev/null | grep -v loadtest-); \
	if [ -n "$$running" ]; then echo "a local stack is running ($$running): stop it first (Ctrl-C), or delete that file if it crashed"; exit 1; fi
	rm -rf $(LOCAL_STATE)

loadtest/node_modules/.installed: loadtest/package.json loadtest/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 22+ (Debian: apt-get install nodejs npm)"; exit 1; }
	cd loadtest && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	touch $@

loadtest: $(VENV)/.installed loadtest/node_modules/.installed
	$(PY) -m loadtest.run --stack $(STACK) --scenario $(SCENARIO) --state-dir $(LOCAL_STATE) $(if $(URL),--url $(URL),) $(if $(KEY),--key $(KEY),)

# --- benchmarks and docs ---
# `make bench` is never part of `make test`: it takes minutes, needs Artillery (~590 MB, installed here on demand)
# and rewrites docs/benchmarks.md. BENCH_ARGS passes options through, e.g. BENCH_ARGS="--only cold warm".
BENCH_ARGS ?=

.PHONY: bench docs

bench: setup loadtest/node_modules/.installed
	$(PY) -m bench $(BENCH_ARGS)

$(VENV)/.docs-installed: requirements-docs.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-docs.txt
	touch $@

docs: $(VENV)/.docs-installed
	@command -v dot >/dev/null || { echo "installing Graphviz (Debian package graphviz)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; }
	$(PY) docs/architecture.py

# --- tier reviews ---
BASE ?=

.PHONY: tiers

tiers: $(VENV)/.installed
	@$(PY) -m tools.tiers $(if $(BASE),--base $(BASE),)
