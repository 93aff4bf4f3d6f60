# locomimic: the two commands of the README (`make run`, `make test`) and their set-up.
# Every target installs what it needs on a fresh Debian/Ubuntu machine: the Debian packages for
# headless rendering, a virtual environment in .venv with every package pinned (envs/requirements.lock),
# and the project itself in editable mode.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
REPORT ?= results/report.html
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Jobs find the environment's python and snakemake first; JAX compiles are cached across runs.
export PATH := $(abspath $(BIN)):$(PATH)
export MUJOCO_GL ?= egl
export JAX_COMPILATION_CACHE_DIR ?= $(HOME)/.cache/locomimic/jax

.PHONY: help install system-deps run report dry-run lint test bench lock clean play
.PHONY: dvc-remote push pull slurm-up slurm-down smoke smoke-dry-run version

help:
	@echo "make run      install, then run the workflow on config/config.yaml and write results/report.html"
	@echo "make report   write the Snakemake report of the finished run (REPORT=results/report.html)"
	@echo "make test     install, then run the test suite"
	@echo "make bench    install, then run the benchmarks in bench/ (BENCH_ARGS=--quick for a smoke test)"
	@echo "make lint     snakemake --lint"
	@echo "make smoke    every stage at tiny sizes on CONFIG's robots and clips (default config/config.yaml), into smoke/"
	@echo "make play     play a trained policy (POLICY=..., COMMANDS='0:0.3,0,0 4:0.8,0,0', PLAY_ARGS=...) into play.mp4"
	@echo "make lock     regenerate envs/requirements.lock from pyproject.toml"
	@echo "make dvc-remote  make DVC_REMOTE (default ~/locomimic-dvc-remote) this clone's default DVC remote"
	@echo "make push     dvc push: the datasets, checkpoints and results dvc.lock records"
	@echo "make pull     dvc pull, then mark the pulled results up to date for Snakemake"
	@echo "make version  record what \`make run\` (plain Snakemake) made in dvc.lock (dvc commit), for make push"
	@echo "make slurm-up / slurm-down  start / stop a single-node SLURM on localhost (root; tests/slurm/cluster.sh)"

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
	@$(MAKE) --no-print-directory report

# The HTML report embeds every figure, table and video (a few MB on the default config). It is written
# again only when a result, a caption or the config is newer, so a second `make run` does nothing.
report: install
	@if [ -f $(REPORT) ] && [ -z "$$(find results workflow/report config -type f -newer $(REPORT) | head -1)" ]; then \
		echo "report: $(abspath $(REPORT)) (up to date)"; \
	else \
		$(BIN)/snakemake --report $(REPORT) && echo "report: $(abspath $(REPORT))"; \
	fi

dry-run: install
	$(BIN)/snakemake -n

lint: install
	$(BIN)/snakemake --lint

# Two pytest workers (pytest-xdist): compiling JAX programs, most of the suite's time, uses one core each.
# The tests that share the tiny workflow run or the test SLURM run on one of them (tests/conftest.py).
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

# The whole workflow at tiny sizes (config/smoke.yaml merged over CONFIG: CONFIG's robots, clips, motions,
# algorithms and seeds) in its own folder, SMOKE_DIR, with its own results/ and .snakemake/. The jobs run
# there, so data/ is linked into it for clip paths relative to the repository (data/mocap/...).
CONFIG ?= config/config.yaml
SMOKE_DIR ?= smoke
SMOKE := $(BIN)/snakemake --directory $(abspath $(SMOKE_DIR)) --configfile $(abspath $(CONFIG)) $(abspath config/smoke.yaml)

smoke: install
	@mkdir -p $(SMOKE_DIR) && ln -sfn $(abspath data) $(SMOKE_DIR)/data
	$(SMOKE) --cores $(CORES)
	$(SMOKE) --report $(abspath $(SMOKE_DIR))/results/report.html && echo "smoke: $(abspath $(SMOKE_DIR))/results/report.html"

smoke-dry-run: install
	@mkdir -p $(SMOKE_DIR) && ln -sfn $(abspath data) $(SMOKE_DIR)/data
	$(SMOKE) -n

# BENCH_ARGS: e.g. --quick (minimal sizes, a smoke test), --only mjx_env bc, --skip workflow.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# A trained policy in plain MuJoCo, driven by a command schedule (docs/stages.md, "Using a trained policy").
# An imitation policy (ppo, bc) takes no schedule: COMMANDS= PLAY_ARGS="--frame 10".
POLICY ?= results/train/default/trot_speeds/amp/seed0/policy.params
COMMANDS ?= 0:0.3,0,0 4:0.8,0,0 8:0.5,0,0.5
play: install
	$(BIN)/python -m locomimic play $(POLICY) $(if $(COMMANDS),--commands "$(COMMANDS)") $(PLAY_ARGS)

# DVC (dvc.yaml). The default remote is a local folder, written to .dvc/config.local (not committed);
# docs/dvc.md shows S3 and SSH remotes.
DVC_REMOTE ?= $(HOME)/locomimic-dvc-remote

dvc-remote: install
	mkdir -p $(DVC_REMOTE)
	$(BIN)/dvc remote add --local --default --force local $(abspath $(DVC_REMOTE))
	@echo "DVC remote 'local': $(abspath $(DVC_REMOTE))"

push: install
	$(BIN)/dvc push

# After `make run` (plain Snakemake, not `dvc repro`): record its results in dvc.lock, as `dvc repro` would. A
# fresh clone has no data/mocap/ (git cannot hold the empty DVC-tracked folder), which `dvc commit` needs, and
# `dvc commit` without --force refuses stages that dvc.lock does not list yet.
version: install
	mkdir -p data/mocap
	$(BIN)/dvc commit --force
	@echo "version: dvc.lock records the results; next: git add dvc.lock data/mocap.dvc && git commit -m results && make push"

# After `dvc pull` the files' times are those of the download, in no particular order, so Snakemake would
# rebuild results that are older than their inputs. When DVC confirms that the workspace matches dvc.lock,
# `snakemake --touch --forceall` stamps every output in the workflow's order (without changing its
# contents) and records the current code and parameters, so `snakemake -n` has nothing to do.
pull: install
	$(BIN)/dvc pull
	@if [ "$$($(BIN)/dvc status --json)" = "{}" ]; then \
		$(BIN)/snakemake --touch --forceall --quiet all --cores 1 && echo "pull: results marked up to date for Snakemake"; \
	else \
		echo "pull: the workspace differs from dvc.lock (dvc status), so the results were not marked up to date;"; \
		echo "      run 'dvc repro' (or 'snakemake --cores all') to rebuild what changed"; \
	fi

# A real single-node SLURM cluster on localhost (root; Debian packages), as tests/test_slurm.py uses it.
slurm-up:
	tests/slurm/cluster.sh install
	tests/slurm/cluster.sh start

slurm-down:
	tests/slurm/cluster.sh stop

lock: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	{ echo "# Every package of the locomimic environment, pinned (pip freeze of a working install; Python 3.11)."; \
	  echo "# Regenerate with \`make lock\` after changing pyproject.toml."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^locomimic'; } > envs/requirements.lock

clean:
	rm -rf results .snakemake
