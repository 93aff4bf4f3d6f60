"""Videos: the retargeting video of a real retargeted clip decodes with the expected frames, size and
content. Policy videos from the real workflow are checked the same way in test_workflow.py."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest

from conftest import REPO
from locomimic.config import validate
from locomimic.envs.reference import load_clip_arrays
from locomimic.errors import LocomimicError
from locomimic.render.retarget_video import render_retarget
from locomimic.render.video import frame_times, mp4_writer
from locomimic.robots import load_robot


def render_settings(**overrides):
    return validate({"render": {"width": 160, "height": 96, "fps": 20, "seconds": 5, **overrides}},
                    "config.schema.yaml", "test", ("render",))["render"]


def decode(path):
    """(frames [N, H, W, 3], (width, height), fps) of an mp4."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = np.stack([np.frombuffer(frame, np.uint8).reshape(height, width, 3) for frame in reader])
    return frames, (width, height), meta["fps"]


def assert_video(path, count, size, fps):
    """Decodes to ``count`` frames of ``size`` at ``fps``; frames are not blank and change over time."""
    frames, decoded_size, decoded_fps = decode(path)
    assert len(frames) == count and decoded_size == size and decoded_fps == pytest.approx(fps)
    assert min(frame.std() for frame in frames) > 10, "a blank frame"
    assert np.abs(frames[-1].astype(float) - frames[0]).mean() > 1, "the picture does not change"
    return frames


def test_retarget_video_shows_the_clip_with_its_keypoints(trot_clip, tmp_path):
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    clip = load_clip_arrays(trot_clip, robot)
    settings = render_settings()
    duration = (len(clip["qpos"]) - 1) / float(clip["fps"])  # shorter than the 5 s asked for
    out = tmp_path / "trot.mp4"
    info = render_retarget(out, robot, clip, settings)
    count = len(frame_times(20, duration))
    assert info["frames"] == count
    frames = assert_video(out, count, (160, 96), 20)

    # The source keypoints and bones are drawn: without them, many pixels of every frame change.
    plain = tmp_path / "plain.mp4"
    render_retarget(plain, robot, {**clip, "keypoints": clip["keypoints"][:, :0],
                                   "keypoint_names": clip["keypoint_names"][:0]}, settings)
    without, _, _ = decode(plain)
    changed = (np.abs(frames.astype(int) - without).max(axis=-1) > 40).sum(axis=(1, 2))
    assert changed.min() > 20, changed


def test_an_interrupted_video_leaves_no_file(tmp_path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), mp4_writer(out, 32, 32, 10) as writer:
        writer.send(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_render_settings_are_validated():
    with pytest.raises(LocomimicError, match="render.width"):
        render_settings(width=161)  # H.264 with 4:2:0 chroma needs even sizes
