# Two commands for users: `make up` (the example stack on the local IMS emulator) and
# `make test` (the whole suite). Everything else is plumbing they depend on.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT        := $(abspath .)
VENV        := $(ROOT)/.venv
PY          := $(VENV)/bin/python
PULUMI      := $(VENV)/bin/pulumi
STATE       := $(ROOT)/.state
# This checkout's emulator: pid, port, url, data and log in .emulator/ (scripts/emulator.sh).
# EMU_PORT is the port it prefers; when another process holds it, a free one is used instead.
EMU_DIR     := $(ROOT)/.emulator
EMU_PORT    ?= 8790
EMU         := $(ROOT)/scripts/emulator.sh
STACK       ?= dev
PYTEST_ARGS ?=
LINT_PATHS  := providers emulator tests preview_summary bench harness scripts/gen_field_docs.py examples

# Keep the CLI offline and quiet wherever the project runs it (also written into .venv/bin/activate).
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# Plugins come from beside the real pulumi binary; .venv/bin only links to them.
export PULUMI_IGNORE_AMBIENT_PLUGINS := true
export PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS := true
export PULUMI_HOME := $(STATE)/pulumi-home
export PULUMI_BACKEND_URL := file://$(STATE)/backend
# The demo passphrase of the local state backend (documented in the README); not a secret.
export PULUMI_CONFIG_PASSPHRASE ?= ims-demo-passphrase
export PATH := $(VENV)/bin:$(PATH)

GLANCE_DIR  := $(ROOT)/.glance
GLANCE_PORT ?= 8791

.PHONY: help setup up down test lint typecheck emulator emulator-stop glance glance-stop glance-up glance-down bench clean

help:
	@echo "make up     - run the example stack against the local IMS emulator and print its outputs"
	@echo "make down   - destroy the example stack and stop the emulator"
	@echo "make test   - the whole test suite (unit, contract, end-to-end with the real pulumi CLI)"
	@echo "make setup  - .venv with pinned dependencies and the Pulumi CLI (run by the targets above)"

# ---- setup: .venv + pinned Python deps + the Pulumi CLI in .venv/bin -------------------
setup: $(VENV)/.deps-stamp
	@scripts/install-pulumi.sh $(VENV)/bin
	@scripts/venv-activate-env.sh $(VENV) $(ROOT)
	@$(PULUMI) version >/dev/null

$(VENV)/bin/python:
	@echo "[setup] creating $(VENV)"
	@python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip==25.3

$(VENV)/.deps-stamp: requirements.txt requirements-dev.txt pyproject.toml | $(VENV)/bin/python
	@echo "[setup] installing pinned Python dependencies"
	@$(PY) -m pip install -q -r requirements-dev.txt
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@


# ---- the example stack on the emulator ----------------------------------------------------
# `make up` starts this checkout's own emulator (or reuses it while it runs) and never talks to
# another one: the stack's ims:endpoint is set to its URL on every run, and `make down` destroys
# with --run-program, so the current endpoint (not the one recorded in the state) is used.
emulator: setup
	@$(EMU) start $(EMU_DIR) $(EMU_PORT) $(PY) >/dev/null

emulator-stop:
	@$(EMU) stop $(EMU_DIR)

up: emulator
	@mkdir -p $(STATE)/backend $(PULUMI_HOME)
	@$(PULUMI) stack select $(STACK) --non-interactive 2>/dev/null || $(PULUMI) stack init $(STACK) --non-interactive
	@url=$$($(EMU) url $(EMU_DIR)) && $(PULUMI) config set ims:endpoint "$$url" --stack $(STACK)
	@$(PULUMI) config set ims:projectId $$($(PY) -c 'import emulator; print(emulator.DEMO_PROJECT_ID)') --stack $(STACK)
	@$(PULUMI) config set --secret ims:accessKey $$($(PY) -c 'import emulator; print(emulator.DEMO_AK)') --stack $(STACK)
	@$(PULUMI) config set --secret ims:secretKey $$($(PY) -c 'import emulator; print(emulator.DEMO_SK)') --stack $(STACK)
	@$(PULUMI) up --yes --non-interactive --stack $(STACK)
	@$(PULUMI) stack output --stack $(STACK)

down: setup
	@if $(PULUMI) stack select $(STACK) --non-interactive 2>/dev/null; then \
	  $(MAKE) --no-print-directory emulator \
	  && url=$$($(EMU) url $(EMU_DIR)) && $(PULUMI) config set ims:endpoint "$$url" --stack $(STACK) \
	  && $(PULUMI) destroy --yes --non-interactive --run-program --stack $(STACK); fi
	@$(MAKE) --no-print-directory emulator-stop

# ---- the Glance example on a local OpenStack Glance (no Keystone) ---------------------------
glance: setup
	@scripts/glance/serve.sh status $(GLANCE_DIR) >/dev/null 2>&1 || scripts/glance/serve.sh start $(GLANCE_DIR) $(GLANCE_PORT)

glance-stop:
	@scripts/glance/serve.sh stop $(GLANCE_DIR)

glance-up: glance
	@mkdir -p $(STATE)/backend $(PULUMI_HOME)
	@cd examples/glance && { $(PULUMI) stack select $(STACK) --non-interactive 2>/dev/null || $(PULUMI) stack init $(STACK) --non-interactive; } \
	  && $(PULUMI) config set ims:server glance --stack $(STACK) \
	  && $(PULUMI) config set ims:endpoint $$(cat $(GLANCE_DIR)/url) --stack $(STACK) \
	  && $(PULUMI) up --yes --non-interactive --stack $(STACK) && $(PULUMI) stack output --stack $(STACK)

glance-down: setup
	@if [ -f $(GLANCE_DIR)/url ] && cd examples/glance && $(PULUMI) stack select $(STACK) --non-interactive 2>/dev/null; then \
	  $(MAKE) --no-print-directory -C $(ROOT) glance && $(PULUMI) destroy --yes --non-interactive --stack $(STACK); fi
	@$(MAKE) --no-print-directory glance-stop

# ---- tests ----------------------------------------------------------------------------------
test: setup
	@$(PY) -m ruff check $(LINT_PATHS)
	@$(PY) -m mypy
	@$(PY) -m pytest $(PYTEST_ARGS)
	@scripts/test-pythons.sh

# The unit and contract layers on the other supported CPythons found (3.12, 3.13; an absent one is
# skipped), each in its own .venv-py3.X; `make test` runs this after the main run.
.PHONY: test-pythons
test-pythons:
	@scripts/test-pythons.sh

lint: setup
	@$(PY) -m ruff check $(LINT_PATHS)

typecheck: setup
	@$(PY) -m mypy

# ---- benchmarks (figures in BENCHMARKS.md; never asserted as timed tests) ---------------
BENCH_ARGS ?= --profile --chart bench/chart.png
bench: setup
	@$(PY) -m bench.run $(BENCH_ARGS)

clean: emulator-stop glance-stop
	rm -rf $(STATE) $(EMU_DIR) $(GLANCE_DIR)
