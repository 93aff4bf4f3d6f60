"""DVC over the real workflow (dvc.yaml), on the session's tiny run (conftest ``tiny_run``), in temporary git
repositories holding a copy of the project with the tiny config as config/config.yaml:

- versioning what a plain Snakemake run made: in a fresh clone (no data/mocap/, no dvc.lock) with the run's
  results, `make version` records them in dvc.lock, `dvc status`, `dvc metrics show` and `dvc plots show`
  read them, `make push` sends them to a local remote, and another fresh clone gets identical files with
  `make pull`, which Snakemake then takes as up to date;
- an experiment: `dvc exp run -S` of a changed PPO learning rate reruns the training stage only, and
  `dvc exp show` lists the training metrics DVCLive logged for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
STAGES = tuple(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
UPSTREAM_OF_TRAIN = ("results/clips/", "results/retarget/", "results/demos/", "results/bc/")
LEARNING_RATE = 0.001


def sh(*command, cwd: Path, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    done = subprocess.run(list(map(str, command)), cwd=cwd, capture_output=True, text=True, env=env, **kwargs)
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def make(target: str, cwd: Path, **variables) -> subprocess.CompletedProcess:
    """A Makefile target of the project, with the test's environment as the project's .venv."""
    assigns = [f"{name}={value}" for name, value in {"VENV": BIN.parent, **variables}.items()]
    return sh("make", "--no-print-directory", "-o", "install", *assigns, target, cwd=cwd)


def project_repository(root: Path, config: dict) -> Path:
    """A git repository of the project's files (tracked and untracked, not ignored) with ``config`` as
    config/config.yaml: data/mocap.dvc is the repository's, and, as in git, there is no data/mocap/."""
    project = root / "origin"
    files = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sh("git", "init", "-q", "-b", "main", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "tiny project", cwd=project)
    return project


def checksums(project: Path) -> dict[str, str]:
    """sha256 of every file DVC versions under results/ (the outs of dvc.yaml) in ``project``."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = [project / out for stage in stages.values() for out in stage.get("outs", [])]
    files = [f for out in outs for f in ([out] if out.is_file() else sorted(out.rglob("*"))) if f.is_file()]
    return {str(f.relative_to(project)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def numbers(document, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a JSON document, by dotted path."""
    if isinstance(document, dict):
        return {k: v for key, value in document.items() for k, v in numbers(value, f"{prefix}{key}.").items()}
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        return {prefix.rstrip("."): document}
    return {}


def ran_stages(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


@pytest.fixture(scope="module")
def versioned(tiny_run, tmp_path_factory):
    """(project, remote, checksums, clone): the tiny run's results versioned with `make version` in a fresh
    clone of the project (``project``), pushed to ``remote`` with `make push`, and pulled into another
    fresh clone (``clone``) with `make pull`."""
    if not shutil.which("make") or not shutil.which("git"):
        pytest.skip("needs make and git")
    root = tmp_path_factory.mktemp("dvc")
    origin = project_repository(root, tiny_run.config)
    project = root / "project"
    sh("git", "clone", "-q", origin, project, cwd=root)
    assert not (project / "data" / "mocap").exists() and not (project / "dvc.lock").exists()
    # `make run` in the clone: the same config, so the shared run's results are what it makes.
    shutil.copytree(tiny_run.workdir / "results", project / "results", symlinks=True, dirs_exist_ok=True)
    make("version", project)
    assert "up to date" in sh("dvc", "status", cwd=project).stdout
    sh("git", "add", "dvc.lock", "data/mocap.dvc", cwd=project)
    sh("git", "commit", "-q", "-m", "results", cwd=project)
    remote = root / "remote"
    make("dvc-remote", project, DVC_REMOTE=remote)
    make("push", project)

    clone = root / "clone"
    sh("git", "clone", "-q", project, clone, cwd=root)
    make("dvc-remote", clone, DVC_REMOTE=remote)
    assert "marked up to date" in make("pull", clone).stdout
    return project, remote, checksums(project), clone


def test_make_version_after_a_snakemake_run_then_push_and_pull(tiny_run, versioned):
    project, _, original, clone = versioned
    # What the run made is what DVC recorded, and DVC reads its metrics and plots.
    assert any(name.startswith("results/train/") and "/checkpoints/" in name for name in original)
    assert original == checksums(tiny_run.workdir)  # recorded as they are
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=project).stdout)
    (workspace,) = metrics.values()  # keyed by revision: the workspace only here
    shown = workspace["data"]["results/eval/metrics.json"]["data"]
    # DVC shows the numbers (it leaves out lists such as the seeds): every number of the file, unchanged.
    assert numbers(shown) == numbers(json.loads((project / "results" / "eval" / "metrics.json").read_text()))
    assert any(path.endswith(".survival_rate.mean") for path in numbers(shown))
    runs = [f"{motion}/{algo}" for motion, spec in tiny_run.config["motions"].items() for algo in spec["algos"]]
    assert sorted(runs) == ["trot/ppo", "trot/ppo_scratch", "trot_speeds/amp"]  # the runs dvc.yaml lists
    for run in runs:  # each run's latest training metrics (DVCLive)
        logged = workspace["data"][f"results/train/default/{run}/seed0/dvclive/metrics.json"]["data"]
        assert "episode_reward" in logged and logged["step"] == tiny_run.config["train"]["num_timesteps"], run
    plots = json.loads(sh("dvc", "plots", "show", "--json", cwd=project, check=False).stdout)
    curve = [point for entry in plots["data"]["training_curves"] for point in entry["content"]["data"]["values"]]
    assert curve and all("step" in point and "episode_reward" in point for point in curve)

    # The fresh clone got identical files, and DVC and Snakemake both find nothing to do.
    assert checksums(clone) == original
    assert (clone / "data" / "mocap").is_dir()
    assert "up to date" in sh("dvc", "status", cwd=clone).stdout
    dry = sh(sys.executable, "-m", "snakemake", "-n", "--cores", "1", cwd=clone)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]


def test_an_experiment_with_another_learning_rate_shows_its_training_metrics(versioned):
    """Runs last: it changes the clone's config and training results."""
    _, _, original, clone = versioned
    done = sh("dvc", "exp", "run", "--name", "lr", "-S", f"config/config.yaml:++train.ppo.learning_rate={LEARNING_RATE}",
              "train", cwd=clone, timeout=3600)
    # The training stage's params changed: it reruns, and no stage upstream of it does.
    assert ran_stages(done.stdout) == {"train"}, done.stdout[-3000:]
    rerun = checksums(clone)
    for name, digest in original.items():
        if name.startswith(UPSTREAM_OF_TRAIN):
            assert rerun[name] == digest, name
    assert rerun["results/train/default/trot/ppo/seed0/policy.params"] != original[
        "results/train/default/trot/ppo/seed0/policy.params"]

    table = json.loads(sh("dvc", "exp", "show", "--json", cwd=clone).stdout)
    experiments = {exp.get("name"): exp for row in table for exp in [row, *[e for x in row.get("experiments") or []
                                                                            for e in x.get("revs", [])]]}
    assert "lr" in experiments, list(experiments)
    data = experiments["lr"]["data"]
    params = data["params"]["config/config.yaml"]["data"]
    assert params["train"]["ppo"]["learning_rate"] == LEARNING_RATE
    logged = data["metrics"]["results/train/default/trot/ppo/seed0/dvclive/metrics.json"]["data"]
    assert {"step", "episode_reward", "episode_length"} <= set(logged)
    written = json.loads((clone / "results/train/default/trot/ppo/seed0/dvclive/metrics.json").read_text())
    assert logged["episode_reward"] == pytest.approx(written["episode_reward"])
