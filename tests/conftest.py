"""Shared fixtures: paths to the repository and to the real test data in ../shared (skipped if absent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Rendering tests run headless; MuJoCo picks its OpenGL backend when it is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOCOMIMIC_SHARED", REPO.parent / "shared"))
DOG_MOCAP = SHARED / "mocap" / "ai4animation_dog"
MENAGERIE = SHARED / "menagerie"
DOG_CLIPS = sorted(DOG_MOCAP.glob("*_joint_pos.txt")) if DOG_MOCAP.is_dir() else []


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
    counts, table = {}, False
    for line in done.stdout.splitlines():
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
