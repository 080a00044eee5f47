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

.PHONY: help setup test pytest lint format plan openapi

help:
	@echo "make dev [STACK=dev] [PORT=3000]   the whole API locally on DynamoDB Local"
	@echo "make test                          lint and every test"
	@echo "make plan STACK=prod [CONFIG=f]    offline: resources and limits of a stack"
	@echo "make openapi                       regenerate docs/openapi.json from the handler"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ (Debian: apt-get install nodejs npm)"; exit 1; }
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

plan: $(VENV)/.installed
	@$(PY) -m tools.plan $(PLAN_ARGS) $(if $(JSON),--json,)

# --- tier reviews ---
BASE ?=

.PHONY: tiers

tiers: $(VENV)/.installed
	@$(PY) -m tools.tiers $(if $(BASE),--base $(BASE),)
