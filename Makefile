# locomimic: the two commands of the README (`make run`, `make test`) and their set-up.
# Every target installs what it needs on a fresh Debian/Ubuntu machine: the Debian packages for
# headless rendering, a virtual environment in .venv with every package pinned (envs/requirements.lock),
# and the project itself in editable mode.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Jobs find the environment's python and snakemake first; JAX compiles are cached across runs.
export PATH := $(abspath $(BIN)):$(PATH)
export MUJOCO_GL ?= egl
export JAX_COMPILATION_CACHE_DIR ?= $(HOME)/.cache/locomimic/jax

.PHONY: help install system-deps run dry-run lint test bench lock clean

help:
	@echo "make run      install, then run the workflow on config/config.yaml"
	@echo "make test     install, then run the test suite"
	@echo "make bench    install, then run the benchmarks in bench/"
	@echo "make lint     snakemake --lint"
	@echo "make lock     regenerate envs/requirements.lock from pyproject.toml"

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python envs/requirements.lock pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r envs/requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: system-deps $(VENV)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES)

dry-run: install
	$(BIN)/snakemake -n

lint: install
	$(BIN)/snakemake --lint

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/run.py

lock: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	{ echo "# Every package of the locomimic environment, pinned (pip freeze of a working install; Python 3.11)."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^locomimic'; } > envs/requirements.lock

clean:
	rm -rf results .snakemake
