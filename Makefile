# Agent Sessions — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 (the Lambda runtime's version): the first candidate that really runs 3.13 —
# python3.13 on PATH (a pyenv shim may exist without working), then pyenv's own installs.
PYTHON313 ?= $(shell for c in "$$(command -v python3.13)" $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV) python3; do \
  [ -n "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$c"; break; }; done)
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON313=/path/to/python3.13"; exit 1; }
	test -x $(PY) || $(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --compile -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found"; exit 1; }
	test -x $(SAM_VENV)/bin/python || $(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --compile -r requirements-sam.txt
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: install
install: $(VENV)/.installed $(SAM_VENV)/.installed node_modules/.installed browser ## create the environments (Python 3.13, SAM CLI, DynamoDB Local, axe-core, Chromium)

# The console's browser tests drive Debian's chromium (Playwright's own browser download does
# not work here); installing it needs root, as CI runs.
.PHONY: browser
browser: ## install Debian's chromium for the console's browser tests (as root), unless present
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
	    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	  else echo "chromium missing: run 'sudo apt-get install -y chromium' for the console's browser tests"; fi; }

.PHONY: lint
lint: $(VENV)/.installed ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: validate
validate: $(VENV)/.installed $(SAM_VENV)/.installed ## cfn-lint and sam validate --lint on template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml

.PHONY: test
test: install lint validate ## everything: lint, template checks, unit tests on moto, integration tests on DynamoDB Local
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(VENV)/.installed ## the moto tier only
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

.PHONY: test-reliability
test-reliability: $(VENV)/.installed node_modules/.installed ## the reliability suite at full scale (concurrency, idempotency races, faults, fuzzing, bad input)
	RELIABILITY_SCALE=full $(PY) -m pytest tests/reliability $(PYTEST_ARGS)

BENCH_VENV := .venv-bench

$(BENCH_VENV)/.installed: benchmarks/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found"; exit 1; }
	test -x $(BENCH_VENV)/bin/python || $(PYTHON313) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --compile -r benchmarks/requirements.txt
	touch $@

.PHONY: bench
bench: $(VENV)/.installed $(BENCH_VENV)/.installed node_modules/.installed ## benchmarks: cold start, calls, partition model and capacity, warm overhead, history vs LangChain, gateway, LangGraph saver and LangChain history, content of any size vs the LangChain peer, a namespace exported and imported, latency with a simulated round trip; writes benchmarks/results.json and a chart
	$(PY) benchmarks/bench_coldstart.py
	$(PY) benchmarks/bench_operations.py
	$(PY) benchmarks/partitions.py
	$(PY) benchmarks/capacity.py
	$(PY) benchmarks/bench_messages.py
	$(PY) benchmarks/bench_gateway.py
	$(PY) benchmarks/bench_langgraph.py
	$(PY) benchmarks/bench_content.py
	$(PY) benchmarks/bench_transfer.py
	$(PY) benchmarks/bench_latency.py
	$(BENCH_VENV)/bin/python benchmarks/chart.py

.PHONY: run
run: $(VENV)/.installed node_modules/.installed ## the whole API on http://127.0.0.1:3000 (DynamoDB Local, data in .local/)
	$(PY) -m local_runtime

.PHONY: admin-local
admin-local: $(VENV)/.installed ## identities admin against the running `make run`: make admin-local ARGS="list-keys --org int_local"
	@test -f .local/env || { echo "start 'make run' first"; exit 1; }
	. .local/env && PYTHONPATH=layers/shared AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local $(PY) -m agent_sessions.admin $(ARGS)

.PHONY: openapi
openapi: $(VENV)/.installed ## regenerate the committed OpenAPI document (docs/openapi.json)
	$(PY) -m local_runtime.openapi --write

.PHONY: admin
admin: $(VENV)/.installed ## identities admin against AWS or $$AWS_ENDPOINT_URL_DYNAMODB: make admin ARGS="create-org --name acme"
	PYTHONPATH=layers/shared $(PY) -m agent_sessions.admin $(ARGS)

.PHONY: format
format: $(VENV)/.installed ## apply ruff's formatting and fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: build
build: $(VENV)/.installed $(SAM_VENV)/.installed ## sam build (needs python3.13 on PATH), then bytecode for every module
	PATH="$(dir $(PYTHON313)):$$PATH" $(SAM) build
	$(PY) -m local_runtime.bytecode .aws-sam/build

.PHONY: deploy
deploy: build ## sam deploy --guided
	$(SAM) deploy --guided

.PHONY: clean
clean: ## remove environments and build output (keeps .local data)
	rm -rf $(VENV) $(SAM_VENV) $(BENCH_VENV) node_modules .aws-sam .pytest_cache .mypy_cache .ruff_cache
