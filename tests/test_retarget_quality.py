"""The retargeting quality gate (``retarget.quality``): absurd clips stop with the clip's frames named.

A teleport (the whole animal 10 m further on from one frame to the next) and a mirrored clip (z
negated) used to retarget with ordinary metrics; now they fail, through the CLI with exit 2 and no
output file. Good clips, generated and real, pass, and their metrics show the margin.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import DOG_MOCAP, REPO, run_locomimic
from locomimic.config import load_config
from locomimic.errors import LocomimicError
from locomimic.motion import ai4animation, gait, load_clip, npz_clip
from locomimic.motion.clip import KeypointClip
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot

ROBOT = REPO / "config" / "robots" / "default.yaml"
SETTINGS = load_config(REPO / "config" / "config.yaml")["retarget"]
JUMP_FRAME = 30


def teleport(clip: KeypointClip, frame: int = JUMP_FRAME) -> KeypointClip:
    """Every keypoint 10 m further along x from ``frame`` on: a cut or glitch in the capture."""
    positions = clip.positions.copy()
    positions[frame:, :, 0] += 10.0
    return replace(clip, positions=positions)


def mirror(clip: KeypointClip) -> KeypointClip:
    """z negated: the animal hangs under the ground, legs up (a wrong up axis)."""
    return replace(clip, positions=clip.positions * np.array([1.0, 1.0, -1.0]))


BAD = {
    "teleport": (teleport, [f"frames {JUMP_FRAME - 1}-{JUMP_FRAME}", "retarget.quality.max_root_speed = 50"]),
    "mirror": (mirror, ["frames 0-", "retarget.quality.min_trunk_height = 0.1", "under the ground"]),
}


def cli_retarget(tmp_path, clip: KeypointClip, settings: dict | None = None):
    """Write ``clip`` as an .npz and retarget it with the CLI, as the retarget rule does."""
    path = tmp_path / "clip.npz"
    npz_clip.write(path, clip)
    out = tmp_path / "out"
    done = run_locomimic("retarget", "--name", "clip", "--clip", str(path), "--clip-spec", '{"source": "npz"}',
                         "--robot", str(ROBOT), "--settings", json.dumps(settings or {}),
                         "--out", str(out / "clip.npz"), "--metrics", str(out / "clip.json"))
    return path, done, sorted(p.name for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize("kind", BAD)
def test_gate_stops_a_bad_clip_and_writes_nothing(tmp_path, kind):
    corrupt, parts = BAD[kind]
    path, done, outputs = cli_retarget(tmp_path, corrupt(gait.generate("trot", cycles=2)))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {path}: frames "), line
    for part in parts:
        assert part in line, line
    assert outputs == []


def test_good_clip_passes_and_records_the_gated_metrics(tmp_path):
    _, done, outputs = cli_retarget(tmp_path, gait.generate("trot", cycles=2))
    assert done.returncode == 0, done.stderr
    assert outputs == ["clip.json", "clip.npz"]
    metrics = json.loads((tmp_path / "out" / "clip.json").read_text())
    leg, quality = metrics["robot_leg_length"], SETTINGS["quality"]
    assert metrics["root_speed_max"] / leg < quality["max_root_speed"] / 10
    assert metrics["trunk_uprightness_min"] > 0.99 and metrics["trunk_height_min"] / leg > 0.5


def test_thresholds_come_from_the_settings(tmp_path):
    """The retarget rule passes config['retarget'] as --settings: a tighter threshold stops a good clip."""
    _, done, outputs = cli_retarget(tmp_path, gait.generate("trot", cycles=2), {"quality": {"max_root_speed": 1.0}})
    assert done.returncode == 2 and outputs == []
    assert "over retarget.quality.max_root_speed = 1 leg lengths/s" in done.stderr


@pytest.mark.parametrize("kind", BAD)
def test_gate_on_real_dog_mocap(dog_clips, kind):
    path = DOG_MOCAP / "dog_pace_joint_pos.txt"
    corrupt, parts = BAD[kind]
    with pytest.raises(LocomimicError) as error:
        retarget_clip(corrupt(ai4animation.read(path)), load_robot(ROBOT), SETTINGS)
    message = str(error.value)
    assert message.startswith(f"{path}: frames "), message
    for part in parts:
        assert part in message, message


def test_frames_of_a_window_are_the_files_own(dog_clips):
    """A clip cut with ``frames: [448, 481]`` names frames of the file, not of the window."""
    spec = {"source": "ai4animation", "frames": [448, 481]}
    clip = load_clip(spec, DOG_MOCAP / "dog_walk03_joint_pos.txt", "trot")
    with pytest.raises(LocomimicError, match=r"frames 457-458 \(t = 7\.617-7\.633 s\)"):
        retarget_clip(teleport(clip, 10), load_robot(ROBOT), SETTINGS)


# The windows of the README in ../shared/mocap and of config/examples/dog_mocap.yaml.
WINDOWS = {"dog_walk00": (162, 201), "dog_walk03": (448, 481), "dog_run02": (59, 88), "dog_turn00": (300, 720)}


@pytest.mark.parametrize("robot_name", ["default", "unitree_go2", "google_barkour_vb"])
def test_real_dog_clips_pass_with_a_wide_margin(request, dog_clips, robot_name):
    """Every real clip and window, on every robot, stays far inside the defaults (worst values in the schema)."""
    if robot_name != "default":
        request.getfixturevalue("menagerie")
    robot, quality = load_robot(REPO / "config" / "robots" / f"{robot_name}.yaml"), SETTINGS["quality"]
    clips = []
    for path in dog_clips:
        clip = ai4animation.read(path)
        window = WINDOWS.get(path.name.removesuffix("_joint_pos.txt"))
        clips += [clip, clip.window(*window)] if window else [clip]
    for clip in clips:
        m = retarget_clip(clip, robot, SETTINGS).metrics
        leg, where = m["robot_leg_length"], (clip.source, clip.first_frame)
        assert m["root_speed_max"] / leg < quality["max_root_speed"] / 3, where
        assert m["root_angular_speed_max"] < quality["max_root_angular_speed"] / 3, where
        assert m["trunk_uprightness_min"] > quality["min_uprightness"] + 0.5, where
        assert m["trunk_height_min"] / leg > 3 * quality["min_trunk_height"], where
        assert m["penetration_max"] < quality["max_penetration"] / 10, where
        assert m["foot_error_mean"] / leg < quality["max_foot_error_mean"] / 3, where


def test_result_checks_name_the_frames():
    """Penetration and foot error are checked on the IK result (the trunk checks above stop bad clips first)."""
    from locomimic.retarget.quality import check_result

    clip, quality, leg = gait.generate("trot", cycles=1), SETTINGS["quality"], 0.28
    penetration, foot_error = np.zeros(clip.num_frames), np.full(clip.num_frames, 0.005)
    penetration[[5, 6, 20]] = 0.05
    with pytest.raises(LocomimicError, match=r"frames 5-6, 20 \(t = 0\.083-0\.333 s\): a retargeted foot is 50 mm "
                                             r"under the ground, over retarget\.quality\.max_penetration = 0\.02 m"):
        check_result(clip, penetration, foot_error, leg, quality)
    foot_error[10:] = 0.2
    with pytest.raises(LocomimicError, match=r"over retarget\.quality\.max_foot_error_mean = 0\.15 leg lengths.*"
                                             r"worst frames 10-"):
        check_result(clip, np.zeros(clip.num_frames), foot_error, leg, quality)
