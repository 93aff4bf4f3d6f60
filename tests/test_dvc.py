"""DVC over the real workflow (dvc.yaml), in a temporary git repository holding a copy of the project:
`dvc repro` of the tiny pipeline, `make push` to a local remote, a fresh clone with `make pull` getting
identical files that Snakemake takes as up to date, `dvc metrics show`, and a changed parameter rerunning
its stage and those downstream only."""

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

from conftest import DOG_MOCAP, REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
DOG_TROT = DOG_MOCAP / "dog_trot_joint_pos.txt"
STAGES = ("retarget", "demos", "bc", "train", "evaluate", "report")


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


def tiny_project(root: Path) -> Path:
    """The project's files (tracked and untracked, not ignored) with the tiny config as config/config.yaml."""
    project = root / "project"
    files = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    # Every section of the default config (so each stage's params exist), those of tiny.yaml replacing them.
    config = {**yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
              **yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())}
    # One policy to train, evaluate and render is enough to exercise DVC.
    config["train"]["algos"] = ["ppo"]
    config["evaluate"] = {**config.get("evaluate", {}), "baselines": []}
    (project / "data" / "mocap").mkdir(parents=True, exist_ok=True)
    if DOG_TROT.is_file():  # a real clip under data/, versioned by data/mocap.dvc (a dep of the retarget stage)
        shutil.copy(DOG_TROT, project / "data" / "mocap" / DOG_TROT.name)
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sh("git", "init", "-q", "-b", "main", cwd=project)
    sh("dvc", "add", "-q", "data/mocap", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "tiny project", cwd=project)
    return project


def checksums(project: Path) -> dict[str, str]:
    """sha256 of every file DVC versions under results/ (the outs of dvc.yaml)."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
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


def test_dvc_repro_push_pull_and_partial_rerun(tmp_path):
    if not shutil.which("make") or not shutil.which("git"):
        pytest.skip("needs make and git")
    project = tiny_project(tmp_path)

    done = sh("dvc", "repro", cwd=project, timeout=3600)
    assert ran_stages(done.stdout) == set(STAGES), done.stdout[-3000:]
    assert "up to date" in sh("dvc", "status", cwd=project).stdout
    metrics = json.loads(sh("dvc", "metrics", "show", "--json", cwd=project).stdout)
    (workspace,) = metrics.values()  # keyed by revision: the workspace only here
    shown = workspace["data"]["results/eval/metrics.json"]["data"]
    # DVC shows the numbers (it leaves out lists such as the seeds): every number of the file, unchanged.
    assert numbers(shown) == numbers(json.loads((project / "results" / "eval" / "metrics.json").read_text()))
    assert any(path.endswith(".survival_rate.mean") for path in numbers(shown))
    assert "results/eval/metrics.json" in sh("dvc", "metrics", "show", cwd=project).stdout
    plots = json.loads(sh("dvc", "plots", "show", "--json", cwd=project, check=False).stdout)
    curve = [point for entry in plots["data"]["training_curves"] for point in entry["content"]["data"]["values"]]
    assert curve and all("step" in point and "episode_reward" in point for point in curve)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "results", cwd=project)
    original = checksums(project)
    assert any(name.startswith("results/train/") and "/checkpoints/" in name for name in original)

    remote = tmp_path / "remote"
    make("dvc-remote", project, DVC_REMOTE=remote)
    make("push", project)

    clone = tmp_path / "clone"
    sh("git", "clone", "-q", project, clone, cwd=tmp_path)
    make("dvc-remote", clone, DVC_REMOTE=remote)
    assert "marked up to date" in make("pull", clone).stdout
    assert checksums(clone) == original
    for clip in (project / "data" / "mocap").iterdir():
        assert (clone / "data" / "mocap" / clip.name).read_bytes() == clip.read_bytes()
    assert "up to date" in sh("dvc", "status", cwd=clone).stdout
    dry = sh(sys.executable, "-m", "snakemake", "-n", "--cores", "1", cwd=clone)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]

    # One stage's parameter: that stage and those downstream of it rerun; the others are untouched.
    config_path = clone / "config" / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["train"]["ppo"]["learning_rate"] = 0.001
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = sh("dvc", "repro", cwd=clone, timeout=3600)
    assert ran_stages(done.stdout) == {"train", "evaluate", "report"}, done.stdout[-3000:]
    rerun = checksums(clone)
    for name, digest in original.items():
        if name.startswith(("results/clips/", "results/retarget/", "results/demos/", "results/bc/")):
            assert rerun[name] == digest, name
