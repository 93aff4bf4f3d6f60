"""Motion sources: the keypoint text reader on real dog mocap, BVH, the .npz format and the gait generator."""

from __future__ import annotations

import numpy as np
import pytest

from locomimic.errors import LocomimicError
from locomimic.motion import QUADRUPED_KEYPOINTS, ai4animation, bvh, gait, load_clip, npz_clip
from locomimic.retarget.contacts import phases


def test_ai4animation_reader_on_real_dog_mocap(dog_clips):
    expected_frames = {"dog_trot": 33, "dog_pace": 39, "dog_run02": 203, "dog_walk03": 548,
                       "dog_walk00": 593, "dog_turn00": 1079}
    for path in dog_clips:
        clip = ai4animation.read(path)
        assert clip.names == QUADRUPED_KEYPOINTS and clip.fps == 60.0
        assert clip.num_frames == expected_frames[path.name.removesuffix("_joint_pos.txt")]
        # z is up after conversion: the pelvis stands well above the toes.
        assert (clip.keypoint("pelvis")[:, 2] - clip.keypoint("FL_foot")[:, 2]).mean() > 0.2
        # Raw y (up) becomes z: compare one value with the text.
        first = [float(v) for v in path.read_text().splitlines()[0].replace(",", " ").split()]
        assert clip.keypoint("pelvis")[0, 2] == pytest.approx(first[1])
        assert clip.keypoint("neck")[0, 0] == pytest.approx(first[9])


def test_clip_window_and_cyclic_flag_from_config(dog_clips):
    path = dog_clips[0]
    clip = load_clip({"source": "ai4animation", "path": str(path), "frames": [5, 20], "cyclic": True}, path)
    assert clip.num_frames == 15 and clip.cyclic
    full = ai4animation.read(path)
    np.testing.assert_array_equal(clip.positions, full.positions[5:20])
    with pytest.raises(LocomimicError, match=r"clips.x.frames: frame window \[5, 5000\)"):
        load_clip({"source": "ai4animation", "frames": [5, 5000]}, path, "x")


def test_npz_round_trip_is_exact_and_byte_reproducible(tmp_path):
    clip = gait.generate("pace", cycles=2)
    npz_clip.write(tmp_path / "a.npz", clip)
    npz_clip.write(tmp_path / "b.npz", clip)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded = npz_clip.read(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded.positions, clip.positions)
    assert loaded.names == clip.names and loaded.fps == clip.fps and loaded.cyclic


def test_npz_missing_field_is_named(tmp_path):
    np.savez(tmp_path / "bad.npz", positions=np.zeros((3, 1, 3)), fps=60.0)
    with pytest.raises(LocomimicError, match=r"bad.npz: missing field\(s\) keypoints"):
        npz_clip.read(tmp_path / "bad.npz")


@pytest.mark.parametrize("pattern", ["trot", "pace", "bound"])
def test_gait_generator_plants_feet_and_loops(pattern):
    clip = gait.generate(pattern, speed=0.6, stride_length=0.3, duty_factor=0.6, cycles=3, fps=60)
    feet = np.stack([clip.keypoint(f"{leg}_foot") for leg in ("FL", "FR", "RL", "RR")], axis=1)
    on_ground = feet[..., 2] == 0.0
    for leg in range(4):
        for start, stop in phases(on_ground[:, leg]):  # stance: the foot does not move at all
            assert np.ptp(feet[start:stop, leg, 0]) == 0.0
        assert on_ground[:, leg].mean() == pytest.approx(0.6, abs=0.05)
    paired = {"trot": [(0, 3), (1, 2)], "pace": [(0, 2), (1, 3)], "bound": [(0, 1), (2, 3)]}[pattern]
    for a, b in paired:
        np.testing.assert_array_equal(on_ground[:, a], on_ground[:, b])
    assert not np.array_equal(on_ground[:, paired[0][0]], on_ground[:, paired[1][0]])
    # A whole number of cycles: the last frame leads into the first, shifted by the distance travelled.
    period = len(clip.positions) // 3
    np.testing.assert_allclose(clip.positions[period] - clip.positions[0],
                               np.broadcast_to([0.6 * period / 60, 0, 0], clip.positions[0].shape), atol=1e-12)
    assert clip.cyclic


BVH_TEXT = """HIERARCHY
ROOT Hips
{
  OFFSET 0 50 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 0 30
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Leg
    {
      OFFSET 10 0 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 -40 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.02
0 0 0 0 0 0 0 0 0 0 0 0
100 0 0 0 0 90 0 0 0 90 0 0
"""


def test_bvh_forward_kinematics(tmp_path):
    path = tmp_path / "chain.bvh"
    path.write_text(BVH_TEXT)
    clip = bvh.read(path, {"pelvis": "Hips", "neck": "Spine", "FL_foot": "Leg_end"}, units=0.01, up_axis="y")
    assert clip.fps == pytest.approx(50.0) and clip.names == ("pelvis", "neck", "FL_foot")
    # Frame 0, y up -> z up: (x, y, z) -> (x, -z, y). Hips at y=0.5, spine 0.3 along +z, leg end below.
    np.testing.assert_allclose(clip.positions[0, 0], [0, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(clip.positions[0, 1], [0, -0.3, 0.5], atol=1e-12)
    np.testing.assert_allclose(clip.positions[0, 2], [0.1, -0.3, 0.1], atol=1e-12)
    # Frame 1: the root moves 1 m along x and turns 90 deg about its (BVH-up) y axis, so the spine
    # offset (0, 0, 30) points along BVH +x and the leg offset (10, 0, 0) along BVH -z; the leg's own
    # 90 deg about z turns its end offset (0, -40, 0) to +x, which the root's turn sends to BVH -z.
    np.testing.assert_allclose(clip.positions[1, 0], [1.0, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(clip.positions[1, 1], [1.3, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(clip.positions[1, 2], [1.3, 0.5, 0.5], atol=1e-12)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("100 0 0 0 0 90 0 0 0 90 0 0", "100 0 0 0 0 90 0 0 0 90 0"),
         "line 25: expected 12 channel values, got 11"),
        (lambda t: t.replace("100 0 0 0 0 90", "100 0 0 0 0 nan"), "line 25: non-finite channel value"),
        (lambda t: t.replace("100 0 0 0 0 90", "100 0 0 0 0 ninety"), "line 25: non-numeric channel value"),
        (lambda t: t.replace("Frames: 2", "Frames: 3"), "header says 3 frames but 2 follow"),
        (lambda t: t.split("MOTION")[0], "no MOTION section"),
    ],
)
def test_bvh_bad_input(tmp_path, edit, message):
    path = tmp_path / "bad.bvh"
    path.write_text(edit(BVH_TEXT))
    with pytest.raises(LocomimicError) as error:
        bvh.read(path, {"pelvis": "Hips"})
    assert str(path) in str(error.value) and message in str(error.value)


def test_bvh_unknown_joint_in_keypoint_map(tmp_path):
    path = tmp_path / "chain.bvh"
    path.write_text(BVH_TEXT)
    with pytest.raises(LocomimicError, match="neck -> Neck"):
        bvh.read(path, {"pelvis": "Hips", "neck": "Neck"})
