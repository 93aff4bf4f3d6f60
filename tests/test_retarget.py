"""Retargeting quality on real dog motion capture, for both robots, and byte-for-byte reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DOG_CLIPS, REPO, run_locomimic
from locomimic.config import load_config
from locomimic.motion import ai4animation, gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot

SETTINGS = load_config(REPO / "config" / "config.yaml")["retarget"]


@pytest.mark.parametrize("robot_name", ["default", "unitree_go2"])
@pytest.mark.parametrize("clip_path", DOG_CLIPS, ids=[p.name.removesuffix("_joint_pos.txt") for p in DOG_CLIPS])
def test_dog_mocap_retargets_within_quality_bounds(request, robot_name, clip_path):
    if robot_name == "unitree_go2":
        request.getfixturevalue("menagerie")
    robot = load_robot(REPO / "config" / "robots" / f"{robot_name}.yaml")
    result = retarget_clip(ai4animation.read(clip_path), robot, SETTINGS)
    m = result.metrics
    assert m["foot_error_mean"] <= 0.02, "mean foot error against the scaled source over 2 cm"
    assert m["penetration_max"] <= 0.005, "a foot went more than 5 mm into the ground"
    assert m["joint_limit_violations"] == 0
    assert m["foot_slide_robot_mean"] <= m["foot_slide_source_mean"] + 0.005
    assert m["stance_phases"] > 0
    a = result.arrays
    frames = m["frames"]
    assert a["qpos"].shape == (frames, robot.model.nq) and a["qvel"].shape == (frames, robot.model.nv)
    assert a["foot_positions"].shape == (frames, 4, 3) and a["contacts"].shape == (frames, 4)
    assert list(a["joint_names"]) == list(robot.joint_names)
    # Feet flagged in contact are on the ground (sphere bottom within 5 mm of z = 0).
    in_contact = a["foot_positions"][..., 2][a["contacts"]] - robot.foot_radius
    assert np.abs(in_contact).max() <= 0.005


def test_generated_gait_retargets_almost_exactly():
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    result = retarget_clip(gait.generate("bound", duty_factor=0.45, cycles=2), robot, SETTINGS)
    m = result.metrics
    assert m["scale"] == pytest.approx(1.0, abs=0.05)  # generated at the default robot's size
    assert m["foot_error_mean"] < 0.002 and m["joint_limit_violations"] == 0
    assert m["foot_slide_robot_max"] < 0.003


def test_velocities_are_consistent_with_positions():
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    a = retarget_clip(gait.generate("trot", cycles=1), robot, SETTINGS).arrays
    dt = 1.0 / float(a["fps"])
    np.testing.assert_allclose(a["qvel"][:-1, :3], np.diff(a["qpos"][:, :3], axis=0) / dt, atol=1e-9)
    np.testing.assert_allclose(a["qvel"][:-1, 6:], np.diff(a["qpos"][:, 7:], axis=0) / dt, atol=1e-9)


def test_same_clip_and_config_give_byte_identical_outputs(tmp_path):
    clip_spec = {"source": "npz"}
    clip = tmp_path / "clip.npz"
    assert run_locomimic("gait", "--name", "trot", "--params", json.dumps({"pattern": "trot", "cycles": 2}),
                         "--out", str(clip)).returncode == 0
    outputs = []
    for run in ("a", "b"):
        out, metrics = tmp_path / f"{run}.npz", tmp_path / f"{run}.json"
        done = run_locomimic("retarget", "--name", "trot", "--clip", str(clip), "--clip-spec", json.dumps(clip_spec),
                             "--robot", str(REPO / "config/robots/default.yaml"),
                             "--settings", json.dumps(SETTINGS), "--out", str(out), "--metrics", str(metrics))
        assert done.returncode == 0, done.stderr
        assert "frames/s" in done.stderr and "ETA" in done.stderr  # progress with rate and ETA
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    metrics = json.loads((tmp_path / "a.json").read_text())
    for key in ("foot_error_mean", "foot_error_max", "foot_slide_robot_mean", "foot_slide_source_mean",
                "penetration_max", "joint_limit_violations", "solver_frames_per_second"):
        assert key in metrics
