"""The tiny workflow on a real SLURM: Debian's slurm-wlm (slurmctld, slurmd, slurmdbd on MariaDB) and munge,
started on localhost by tests/slurm/cluster.sh, driven through profiles/slurm with
snakemake-executor-plugin-slurm. Needs root and apt-get (Debian/Ubuntu); skipped otherwise.

The test node advertises what the profile asks of a cluster's GPU node (16 CPUs, 64 GB, one GPU GRES whose
device file is /dev/null), so the profile's sbatch requests are scheduled as written while
the jobs themselves run on this machine's CPUs.

The workflow test reuses the session's tiny run (conftest ``tiny_run``): in a copy of it one training run's
evaluation is removed and forced to run again, and Snakemake submits that job (a GPU job) and every job
downstream of it, up to the report pages, through sbatch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_tiny_workflow_through_slurm_profile(slurm, tiny_run, tmp_path):
    run = tiny_run.copy(tmp_path / "run")
    workdir = run.workdir
    evaluation = workdir / "results" / "eval" / "default" / "trot" / "ppo" / "seed0"
    shutil.rmtree(evaluation)  # and, as its consumers are up to date, --forcerun makes it again
    env = {**slurm, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{slurm['PATH']}",
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--profile", str(REPO / "profiles" / "slurm"),
               "--configfile", str(run.configfile),
               "--forcerun", str((evaluation / "metrics.json").relative_to(workdir)),
               "--jobs", "2",  # the machine behind the test node has few cores
               "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5",
               "--slurm-keep-successful-logs"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    assert (evaluation / "metrics.json").is_file() and (workdir / "results" / "eval" / "metrics.json").is_file()

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
    # Exactly the jobs downstream of the removed evaluation: the rest of the run was up to date (each
    # motion's evaluation figure reads the table of all of them).
    rules = sorted(re.sub(r"^rule_([a-z_0-9]+?)(_wildcards_.*)?$", r"\1", row[3]) for row in rows)
    assert rules == sorted(["eval_summary", "evaluate", "evaluation_table", "policy_videos", "render_policy"]
                           + ["plot_evaluation"] * len(run.config["motions"])), rules
    # The profile's GPU request reached SLURM: the evaluation held the node's GPU.
    evaluate = [row for row in rows if row[3].startswith("rule_evaluate")]
    assert evaluate and all("gres/gpu=1" in row[4] for row in evaluate), evaluate
    assert list((workdir / ".snakemake" / "slurm_logs" / "rule_evaluate").rglob("*.log"))
