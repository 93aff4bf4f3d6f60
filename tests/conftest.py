"""Shared fixtures: paths to the repository and to the real test data in ../shared (skipped if absent), and
the real workflow run once per session on the tiny config (``tiny_run``), which the workflow, DVC and SLURM
tests share."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

# Rendering tests run headless; MuJoCo picks its OpenGL backend when it is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOCOMIMIC_SHARED", REPO.parent / "shared"))
DOG_MOCAP = SHARED / "mocap" / "ai4animation_dog"
MENAGERIE = SHARED / "menagerie"
DOG_CLIPS = sorted(DOG_MOCAP.glob("*_joint_pos.txt")) if DOG_MOCAP.is_dir() else []
DOG_TROT = DOG_MOCAP / "dog_trot_joint_pos.txt"


@pytest.fixture
def dog_clips() -> list[Path]:
    if not DOG_CLIPS:
        pytest.skip(f"real dog mocap not found under {DOG_MOCAP} (set LOCOMIMIC_SHARED)")
    return DOG_CLIPS


@pytest.fixture
def menagerie(monkeypatch) -> Path:
    """Point mujoco-menagerie at the local checkout in ../shared so Go2 loads offline."""
    if not (MENAGERIE / "unitree_go2").is_dir():
        pytest.skip(f"Unitree Go2 model not found under {MENAGERIE} (set LOCOMIMIC_SHARED)")
    monkeypatch.setenv("MENAGERIE_ROOT", str(MENAGERIE))
    return MENAGERIE


@pytest.fixture(scope="session")
def trot_clip(tmp_path_factory) -> Path:
    """One generated trot cycle retargeted onto the default robot, as the retarget rule writes it."""
    from locomimic.config import load_config
    from locomimic.io import save_npz
    from locomimic.motion import gait
    from locomimic.retarget import retarget_clip
    from locomimic.robots import load_robot

    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    settings = load_config(REPO / "config" / "config.yaml")["retarget"]
    path = tmp_path_factory.mktemp("clips") / "trot.npz"
    save_npz(path, retarget_clip(gait.generate("trot", cycles=1), robot, settings).arrays)
    return path


# Session and module fixtures that stand for one shared thing: the tiny workflow run, and the single-node
# SLURM whose daemons one fixture starts and stops (its SLURM test also uses the tiny run).
SHARED_FIXTURES = ("tiny_run", "slurm")


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist's ``--dist loadgroup`` (``make test``) every test that uses a fixture of
    SHARED_FIXTURES goes to one worker: the tiny workflow runs once, not once per worker, and no worker
    stops the SLURM the other is using. xdist groups tests by an ``@group`` suffix on the test id, which
    its ``xdist_group`` marker no longer adds under pytest 9 (pytest-xdist 3.8 sets an attribute pytest 9
    does not read): the suffix is added here."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        if any(name in item.fixturenames for name in SHARED_FIXTURES) and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@shared")


def run_locomimic(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as the Snakemake rules do."""
    return subprocess.run([sys.executable, "-m", "locomimic", *args], cwd=cwd, capture_output=True, text=True)


def run_snakemake(workdir: Path, *args: str, configfile: Path | list[Path] | None = None
                  ) -> subprocess.CompletedProcess:
    """Run the real workflow with ``workdir`` as its working directory (results land there); without
    ``configfile`` it runs the default config, with several they merge in order."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", *args]
    if configfile is not None:
        command += ["--configfile", *map(str, configfile if isinstance(configfile, list) else [configfile])]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(command, capture_output=True, text=True, env=env)


def planned_jobs(workdir, configfile, *args: str) -> dict[str, int]:
    """Job counts per rule from a dry run's summary table."""
    done = run_snakemake(workdir, "-n", *args, configfile=configfile)
    assert done.returncode == 0, done.stderr
    return job_counts(done.stdout)


def job_counts(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the summary table a dry run prints."""
    counts, table = {}, False
    for line in dry_run_output.splitlines():
        if line.startswith("job ") and "count" in line:
            table = True
        elif table and line.strip() and not line.startswith("-"):
            name, count = line.split()
            if name == "total":
                break
            counts[name] = int(count)
    return counts


def keypoint_text(frames: int = 6) -> list[str]:
    """Rows in the AI4Animation layout (81 numbers, y up, comma and tab) made from a generated trot."""
    import numpy as np

    from locomimic.motion import gait
    from locomimic.motion.ai4animation import KEYPOINT_INDEX, Y_UP_TO_Z_UP

    clip = gait.generate("trot", cycles=1)
    points = np.zeros((frames, 27, 3))
    for name, index in KEYPOINT_INDEX.items():
        points[:, index] = clip.keypoint(name)[:frames] @ Y_UP_TO_Z_UP  # z up -> y up
    return [",\t".join(f"{v:.5f}" for v in row.reshape(-1)) for row in points]


def tiny_config(robots=("default",)) -> dict:
    """tests/config/tiny.yaml over the sections of config/config.yaml (so that, as config/config.yaml of a
    DVC project, every stage finds its params), plus a real dog clip outside every motion from ../shared
    when it is there."""
    config = {**yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
              **yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())}
    config["robots"] = list(robots)
    if DOG_TROT.is_file():
        config["clips"]["dog_trot"] = {"source": "ai4animation", "path": str(DOG_TROT), "frames": [0, 30]}
    return config


@dataclass(frozen=True)
class TinyRun:
    """A finished run of the real workflow: its working directory (results/, Snakemake's .snakemake/), the
    config file it ran on, and that config."""

    workdir: Path
    configfile: Path
    config: dict

    def copy(self, dest: Path) -> "TinyRun":
        """A copy to change or rerun (file times and Snakemake's records kept: it is just as up to date)."""
        shutil.copytree(self.workdir, dest, symlinks=True)
        return TinyRun(dest, dest / self.configfile.relative_to(self.workdir), copy.deepcopy(self.config))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    """The whole workflow (``rule all``, then ``snakemake --report results/report.html``) on the tiny config,
    run once per session. Tests that only read it take it as it is; a test that changes its config or
    files, or reruns jobs in it, works on ``tiny_run.copy(tmp_path / ...)``."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    config = tiny_config()
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    done = run_snakemake(workdir, configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    done = run_snakemake(workdir, "--report", str(workdir / "results" / "report.html"), configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    return TinyRun(workdir, configfile, config)
