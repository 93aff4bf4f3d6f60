"""Bad input ends with one clear message naming the file and line or field, and leaves no output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REPO, run_locomimic, run_snakemake
from locomimic.motion import gait

ROBOT = REPO / "config" / "robots" / "default.yaml"


def keypoint_text(frames: int = 6) -> list[str]:
    """Rows in the AI4Animation layout (81 numbers, y up) made from a generated trot."""
    clip = gait.generate("trot", cycles=1)
    from locomimic.motion.ai4animation import KEYPOINT_INDEX, Y_UP_TO_Z_UP

    points = np.zeros((frames, 27, 3))
    for name, index in KEYPOINT_INDEX.items():
        points[:, index] = clip.keypoint(name)[:frames] @ Y_UP_TO_Z_UP  # z up -> y up
    return [",\t".join(f"{v:.5f}" for v in row.reshape(-1)) for row in points]


def set_field(rows: list[str], row: int, column: int, value: str) -> list[str]:
    """Replace one number (0-based row and column) in keypoint text rows."""
    fields = rows[row].split(",\t")
    fields[column] = value
    return rows[:row] + [",\t".join(fields)] + rows[row + 1:]


def retarget(tmp_path, clip_path, robot=ROBOT):
    out, metrics = tmp_path / "out" / "motion.npz", tmp_path / "out" / "motion.json"
    done = run_locomimic("retarget", "--name", "clip", "--clip", str(clip_path),
                         "--clip-spec", json.dumps({"source": "ai4animation"}), "--robot", str(robot),
                         "--settings", "{}", "--out", str(out), "--metrics", str(metrics))
    leftovers = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    return done, leftovers


def test_good_keypoint_text_retargets(tmp_path):
    path = tmp_path / "clip.txt"
    path.write_text("\n".join(keypoint_text()) + "\n")
    done, outputs = retarget(tmp_path, path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in outputs) == ["motion.json", "motion.npz"]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda rows: rows[:2] + [rows[2].rsplit(",", 3)[0]] + rows[3:], "line 3: expected 81 numbers (27 keypoints x (x, y, z)), got 78"),
        (lambda rows: set_field(rows, 1, 4, "nan"), "line 2, column 5: non-finite value 'nan'"),
        (lambda rows: set_field(rows, 3, 2, "abc"), "line 4, column 3: 'abc' is not a number"),
        (lambda rows: [], "the file has no frames"),
    ],
    ids=["wrong-column-count", "nan", "non-numeric", "no-frames"],
)
def test_bad_clip_file(tmp_path, corrupt, message):
    path = tmp_path / "clip.txt"
    path.write_text("\n".join(corrupt(keypoint_text())) + "\n")
    done, outputs = retarget(tmp_path, path)
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {path}: ") and message in line, line
    assert "Traceback" not in done.stderr
    assert outputs == []  # nothing half-written


def test_keypoint_map_naming_a_missing_body(tmp_path):
    clip = tmp_path / "clip.txt"
    clip.write_text("\n".join(keypoint_text()) + "\n")
    robot = tmp_path / "robot.yaml"
    robot.write_text(ROBOT.read_text().replace("FL_hip: {body: FL_hip}", "FL_hip: {body: FL_shoulder}"))
    done, outputs = retarget(tmp_path, clip, robot)
    assert done.returncode == 2 and outputs == []
    assert f"error: {robot}: keypoints.FL_hip.body: the model has no body 'FL_shoulder'" in done.stderr


def write_config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("robots: [nosuch]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\n",
         "robots[0]: unknown robot 'nosuch'"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot, speed: -1}}\n",
         "clips.trot.gait.speed: -1 is less than or equal to the minimum of 0"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot, cycles: four}}\n",
         "clips.trot.gait.cycles: 'four' is not of type 'integer'"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: gallop}}\n",
         "clips.trot.gait.pattern: 'gallop' is not one of ['trot', 'pace', 'bound']"),
        ("robots: [default]\nclips:\n  dog: {source: ai4animation}\n", "clips.dog: 'path' is a required property"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\nretarget: {ik: {max_iterations: 0}}\n",
         "retarget.ik.max_iterations: 0 is less than the minimum of 1"),
        ("robots: [default]\nclipz: {}\n", "Additional properties are not allowed ('clipz' was unexpected)"),
        ("robots: [default]\nclips:\n  trot: {source: gait, gait: {pattern: trot}}\nmotions:\n  walk: {clips: [trot, walk]}\n",
         "motions.walk.clips[1]: unknown clip 'walk'; clips: trot"),
    ],
    ids=["unknown-robot", "negative-speed", "wrong-type", "bad-enum", "missing-path", "out-of-range", "typo",
         "motion-unknown-clip"],
)
def test_bad_config_stops_the_workflow_before_any_job(tmp_path, config, message):
    path = write_config(tmp_path, config)
    done = run_snakemake(tmp_path, configfile=path)
    assert done.returncode != 0
    assert f"invalid configuration: {path}: " in done.stderr and message in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "results").exists()
