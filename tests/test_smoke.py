"""`make smoke`: config/smoke.yaml merged over the user's config runs every rule of the workflow, at tiny
sizes, on the user's own robots, clips, motions, algorithms and seeds, in its own folder. Dry runs only
(the smoke run itself takes minutes: README, "Tests")."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from conftest import REPO, job_counts, run_snakemake
from locomimic.config import load_config
from locomimic.tasks import motion_algos

SMOKE = REPO / "config" / "smoke.yaml"
BIN = Path(sys.executable).parent
# What defines a run: the overlay must leave these to the user's config.
RUN_KEYS = {"seed", "robots", "robots_dir", "clips", "motions"}
RUN_SUBKEYS = {"train": {"algos", "seeds", "tracking"}, "evaluate": {"baselines", "command"}}


def all_rules() -> set[str]:
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--list-rules"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return {line.split()[0] for line in done.stdout.splitlines() if line and not line[0].isspace()}


def test_make_smoke_plans_every_rule_of_the_workflow_on_the_default_config(tmp_path):
    if not shutil.which("make"):
        pytest.skip("needs make")
    done = subprocess.run(["make", "--no-print-directory", "-o", "install", f"VENV={BIN.parent}",
                           f"SMOKE_DIR={tmp_path / 'smoke'}", "smoke-dry-run"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    jobs = job_counts(done.stdout)
    assert set(jobs) == all_rules(), done.stdout[-3000:]
    config = load_config(REPO / "config" / "config.yaml")
    assert jobs["retarget"] == len(config["robots"]) * len(config["clips"])
    assert jobs["train"] == len(config["robots"]) * sum(len(motion_algos(config, motion)) for motion in config["motions"])
    assert (tmp_path / "smoke" / "data").resolve() == REPO / "data"  # relative clip paths work there


def test_the_smoke_overlay_keeps_the_users_run_and_sets_only_sizes(tmp_path):
    overlay = yaml.safe_load(SMOKE.read_text())
    assert not RUN_KEYS & set(overlay), RUN_KEYS & set(overlay)
    for section, keys in RUN_SUBKEYS.items():
        assert not keys & set(overlay.get(section, {})), (section, keys & set(overlay[section]))

    # A user's config with lists and with settings inside sections the overlay also sets.
    user = {"robots": ["default"],
            "clips": {"trot": {"source": "gait", "gait": {"pattern": "trot", "cycles": 1}},
                      "pace": {"source": "gait", "gait": {"pattern": "pace", "cycles": 1}}},
            "motions": {"trot": {"clips": ["trot"]}, "mixed": {"clips": ["trot", "pace"]}},
            "policy": {"policy_hidden_layers": [64, 64], "value_hidden_layers": [64, 64]},
            "train": {"algos": ["ppo", "amp"], "seeds": [0, 3], "num_timesteps": 10_000_000,
                      "ppo": {"learning_rate": 0.0005, "num_envs": 4096}},
            "evaluate": {"baselines": ["reference"], "episodes": 256}}
    userfile = tmp_path / "my.yaml"
    userfile.write_text(yaml.safe_dump(user))
    # Snakemake's own merge of --configfile files (key by key, lists replaced): the user's run is untouched.
    merged = yaml.safe_load(userfile.read_text())
    update_config(merged, overlay)
    for key in ("robots", "clips", "motions", "policy"):
        assert merged[key] == user[key], key
    assert (merged["train"]["algos"], merged["train"]["seeds"]) == (user["train"]["algos"], user["train"]["seeds"])
    assert merged["evaluate"]["baselines"] == user["evaluate"]["baselines"]
    assert merged["train"]["ppo"]["learning_rate"] == 0.0005  # a setting the overlay does not size stays
    assert merged["train"]["num_timesteps"] == overlay["train"]["num_timesteps"]  # sizes come from the overlay

    # The documented command (README, "Tests"): the user's jobs, each with the smoke sizes.
    workdir = tmp_path / "smoke"
    configs = [userfile, SMOKE]
    done = run_snakemake(workdir, "-n", "-p", configfile=configs)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = job_counts(done.stdout)
    motions, algos, seeds = len(user["motions"]), len(user["train"]["algos"]), len(user["train"]["seeds"])
    assert jobs["retarget"] == len(user["clips"]) and jobs["demos"] == motions and jobs["bc"] == motions
    assert jobs["train"] == motions * algos * seeds
    assert jobs["evaluate"] == motions * (1 + algos) * seeds  # the reference baseline, and each algo
    trains = [line for line in done.stdout.splitlines() if "python -m locomimic train " in line]
    assert len(trains) == motions * algos * seeds
    for line in trains:
        assert '"num_timesteps": 1280' in line and '"learning_rate": 0.0005' in line, line
        assert '"policy_hidden_layers": [64, 64]' in line and '"num_envs": 8' in line, line
    assert {re.search(r"--seed (\d+)", line).group(1) for line in trains} == {"0", "3"}
