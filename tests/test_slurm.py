"""The tiny workflow on a real SLURM: Debian's slurm-wlm (slurmctld, slurmd, slurmdbd on MariaDB) and munge,
started on localhost by tests/slurm/cluster.sh, driven through profiles/slurm with
snakemake-executor-plugin-slurm. Needs root and apt-get (Debian/Ubuntu); skipped otherwise.

The test node advertises what the profile asks of a cluster's GPU node (16 CPUs, 64 GB, one GPU GRES whose
device file is /dev/null), so the profile's sbatch requests are scheduled as written while
the jobs themselves run on this machine's CPUs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
STATE = Path(os.environ.get("LOCOMIMIC_SLURM_TEST_DIR", "/tmp/locomimic-slurm-test"))
NODE = {"LOCOMIMIC_SLURM_GPUS": "1", "LOCOMIMIC_SLURM_CPUS": "16", "LOCOMIMIC_SLURM_MEM_MB": "64000"}

pytestmark = pytest.mark.slow


def cluster(action: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CLUSTER), action], capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def slurm():
    """A running single-node SLURM; its daemons are stopped afterwards (even when the test fails)."""
    if os.geteuid() != 0:
        pytest.skip("a local SLURM needs root (slurmd, munged and mariadbd run as system users)")
    if not all(shutil.which(exe) or Path("/usr/sbin", exe).exists() for exe in ("slurmctld", "slurmd", "slurmdbd")):
        if not shutil.which("apt-get"):
            pytest.skip("SLURM is not installed and apt-get is not available to install slurm-wlm")
    env = {**os.environ, **NODE, "LOCOMIMIC_SLURM_DIR": str(STATE)}
    for action in ("install", "start"):
        done = cluster(action, env)
        if done.returncode != 0:
            cluster("stop", env)
            pytest.fail(f"tests/slurm/cluster.sh {action} failed:\n{done.stdout}\n{done.stderr}")
    try:
        yield {**env, "SLURM_CONF": str(STATE / "etc" / "slurm.conf")}
    finally:
        cluster("stop", env)


def sacct(env: dict, *args: str) -> list[list[str]]:
    done = subprocess.run(["sacct", "--parsable2", "--noheader", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return [line.split("|") for line in done.stdout.splitlines() if line]


def test_cluster_runs_a_job_and_accounts_for_it(slurm):
    """sbatch -> slurmd runs it -> sacct reports it COMPLETED from the accounting database."""
    done = subprocess.run(["sbatch", "--parsable", "--wait", "--output=/dev/null", "--wrap", "hostname"],
                          capture_output=True, text=True, env=slurm, cwd="/tmp", timeout=120)
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip().split(";")[0]
    rows = sacct(slurm, "-X", "-j", job, "--format=JobIdRaw,State,ExitCode")
    assert rows == [[job, "COMPLETED", "0:0"]]


def test_tiny_workflow_through_slurm_profile(slurm, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    # tests/config/tiny.yaml with one training algorithm: every rule still runs, in fewer jobs.
    config = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    config["train"]["algos"] = ["ppo"]
    configfile = tmp_path / "tiny.yaml"
    configfile.write_text(yaml.safe_dump(config))
    env = {**slurm, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{slurm['PATH']}",
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--profile", str(REPO / "profiles" / "slurm"),
               "--configfile", str(configfile),
               "--jobs", "2",  # the machine behind the test node has few cores
               "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5",
               "--slurm-keep-successful-logs"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir, timeout=3000)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert (workdir / "results" / "eval" / "metrics.json").is_file()
    assert (workdir / "results" / "train" / "default" / "trot" / "ppo" / "seed0" / "policy.params").is_file()

    # Every job Snakemake ran went through sbatch: its SLURM id is in the log, and sacct has it COMPLETED
    # under this run's name, with the rule in the job comment.
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    assert submitted, log[-4000:]
    names = set(re.findall(r"SLURM run ID: ([0-9a-f-]+)", log)) or None
    rows = sacct(slurm, "-X", "-j", ",".join(submitted.values()), "--format=JobIdRaw,JobName,State,Comment,AllocTRES")
    assert {row[0] for row in rows} == set(submitted.values())
    assert all(row[2] == "COMPLETED" for row in rows), rows
    if names:
        assert {row[1] for row in rows} <= names
    rules = {re.sub(r"^rule_([a-z_]+?)(_wildcards_.*)?$", r"\1", row[3]) for row in rows}
    assert {"gait_clip", "retarget", "demos", "bc", "train", "evaluate", "eval_summary", "render_policy"} <= rules
    # The profile's GPU request reached SLURM: training held the node's GPU.
    train = [row for row in rows if row[3].startswith("rule_train")]
    assert train and all("gres/gpu=1" in row[4] for row in train), train
    assert list((workdir / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log"))
