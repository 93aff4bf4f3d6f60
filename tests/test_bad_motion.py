"""Bad motion files end in one LocomimicError naming the file and the line (or frame), never a traceback.

The readers are called directly (fast); one case goes through ``python -m locomimic retarget`` to
check the one-line message, exit status 2 and that nothing is written.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REPO, keypoint_text, run_locomimic
from test_motion_sources import BVH_TEXT  # a three-joint chain; line numbers below refer to it
from locomimic.config import load_config
from locomimic.errors import LocomimicError
from locomimic.motion import ai4animation, bvh, npz_clip
from locomimic.motion.ai4animation import KEYPOINT_INDEX
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot

ROBOT = REPO / "config" / "robots" / "default.yaml"
GARBAGE = bytes(range(256)) * 8  # starts "\0\1..." and holds every byte value: no text encoding fits it
CHANNEL_NAMES = "expected Xposition, Yposition, Zposition, Xrotation, Yrotation or Zrotation"


def raises(read, path, *parts: str) -> str:
    """Call ``read(path)``; it must raise a LocomimicError whose message starts with the file and has ``parts``."""
    with pytest.raises(LocomimicError) as error:
        read(path)
    message = str(error.value)
    assert message.startswith(f"{path}: "), message
    for part in parts:
        assert part in message, message
    return message


def test_binary_keypoint_file(tmp_path):
    path = tmp_path / "dog_joint_pos.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + GARBAGE)
    raises(ai4animation.read, path, "line 1, column 1: not a text file: byte 0x89, which is not UTF-8 text",
           "27 keypoints")


def test_keypoint_file_in_another_encoding_names_the_line(tmp_path):
    path = tmp_path / "dog_joint_pos.txt"
    rows = keypoint_text(4)
    path.write_bytes("\n".join(rows[:2] + ["# caf\xe9"] + rows[2:]).encode("latin-1"))
    raises(ai4animation.read, path, "line 3, column 6: not a text file: byte 0xe9, which is not UTF-8")


def test_absurd_keypoint_row_is_stopped_before_retargeting(tmp_path):
    """A row of 1e9 (all 81 numbers) has no trunk orientation; it used to crash deep in the foot targets."""
    path = tmp_path / "dog_joint_pos.txt"
    rows = keypoint_text(30)
    rows[20] = ",\t".join(["1e9"] * 81)
    path.write_text("\n".join(rows) + "\n")
    settings = load_config(REPO / "config" / "config.yaml")["retarget"]
    robot = load_robot(ROBOT)
    raises(lambda p: retarget_clip(ai4animation.read(p), robot, settings), path,
           "frame 20 (t = 0.333 s)", "trunk has no orientation")


def test_one_keypoint_of_1e9_is_a_jump_not_a_crash(tmp_path):
    """One toe at 1e9 for one frame made the IK's QP fail (a mink traceback)."""
    path = tmp_path / "dog_joint_pos.txt"
    rows = keypoint_text(30)
    fields = rows[20].split(",\t")
    fields[3 * KEYPOINT_INDEX["FL_foot"]:3 * KEYPOINT_INDEX["FL_foot"] + 3] = ["1e9"] * 3
    rows[20] = ",\t".join(fields)
    path.write_text("\n".join(rows) + "\n")
    settings = load_config(REPO / "config" / "config.yaml")["retarget"]
    raises(lambda p: retarget_clip(ai4animation.read(p), load_robot(ROBOT), settings), path,
           "frames 19-21", "keypoint FL_foot", "retarget.quality.max_keypoint_speed = 100")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("CHANNELS 3 Zrotation Xrotation Yrotation\n    JOINT",
                             "CHANNELS 3 Zrotation Wrotation Yrotation\n    JOINT"),
         f"line 9: 'Wrotation' is not a channel of joint 'Spine' (CHANNELS 3); {CHANNEL_NAMES}"),
        (lambda t: t.replace("Xrotation Yrotation\n      End", "Xrotation Yscale\n      End"),
         f"line 13: 'Yscale' is not a channel of joint 'Leg' (CHANNELS 3); {CHANNEL_NAMES}"),
        (lambda t: t.replace("CHANNELS 6", "CHANNELS 6.5"),
         "line 5: expected the number of channels (a whole number), found '6.5'"),
        (lambda t: t.replace("CHANNELS 3 Zrotation Xrotation Yrotation\n      End",
                             "CHANNELS 4 Zrotation Xrotation Yrotation\n      End"),
         "line 14: 'End' is not a channel of joint 'Leg' (CHANNELS 4)"),
        (lambda t: t.replace("Frames: 2", "Frames: 2.9"),
         "line 22: expected the number of frames (a whole number), found '2.9'"),
        (lambda t: t.replace("Frame Time: 0.02", "Frame Time: 0"), "line 23: Frame Time must be positive"),
    ],
    ids=["unknown-axis", "unknown-kind", "fractional-count", "count-too-big", "fractional-frames", "zero-frame-time"],
)
def test_bad_bvh_header(tmp_path, edit, message):
    path = tmp_path / "bad.bvh"
    path.write_text(edit(BVH_TEXT))
    raises(lambda p: bvh.read(p, {"pelvis": "Hips"}), path, message)


def test_non_utf8_bvh_names_the_line(tmp_path):
    path = tmp_path / "latin1.bvh"
    path.write_bytes(BVH_TEXT.replace("JOINT Spine", "JOINT Sp\xefne").encode("latin-1"))
    raises(lambda p: bvh.read(p, {"pelvis": "Hips"}), path, "line 6, column 11: not a text file: byte 0xef",
           "BVH")


def test_bvh_joint_named_like_an_end_site_keeps_its_channels(tmp_path):
    """End Sites are told apart by the keyword, not by a joint name ending in "_end"."""
    path = tmp_path / "chain.bvh"
    path.write_text(BVH_TEXT.replace("Spine", "Spine_end"))
    clip = bvh.read(path, {"pelvis": "Hips", "FL_foot": "Leg_end"})
    np.testing.assert_allclose(clip.positions[1, 1], [1.3, 0.5, 0.5], atol=1e-12)


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (ai4animation.read, "27 keypoints"),
        (lambda p: bvh.read(p, {"pelvis": "Hips"}), "BVH"),
        (npz_clip.read, "a .npz clip (.npz)"),
    ],
    ids=["ai4animation", "bvh", "npz"],
)
def test_directory_as_clip(tmp_path, read, expected):
    raises(read, tmp_path, "is a directory; expected", expected)


@pytest.mark.parametrize("content", [GARBAGE, b"\x93NUMPY" + GARBAGE], ids=["random-bytes", "npy-not-npz"])
def test_npz_that_is_not_a_zip(tmp_path, content):
    path = tmp_path / "clip.npz"
    path.write_bytes(content)
    message = raises(npz_clip.read, path, "not a readable .npz clip: not a zip archive")
    assert "pickle" not in message


def test_npz_member_that_is_not_an_array(tmp_path):
    import zipfile

    path = tmp_path / "clip.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("positions.txt", "1 2 3")
    raises(npz_clip.read, path, "not a readable .npz clip: member 'positions.txt' is not a .npy array")


def test_binary_clip_through_the_cli_is_one_line_and_writes_nothing(tmp_path):
    clip = tmp_path / "dog_joint_pos.txt"
    clip.write_bytes(GARBAGE)
    out = tmp_path / "out"
    done = run_locomimic("retarget", "--name", "dog", "--clip", str(clip),
                         "--clip-spec", json.dumps({"source": "ai4animation"}), "--robot", str(ROBOT),
                         "--settings", "{}", "--out", str(out / "dog.npz"), "--metrics", str(out / "dog.json"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {clip}: line 1, column 1: not a text file: a NUL byte; expected a text file"), line
    assert not out.exists()
