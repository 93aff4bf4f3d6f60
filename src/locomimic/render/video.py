"""Headless frames from ``mujoco.Renderer`` and their mp4 encoding (imageio-ffmpeg, H.264).

Why its own module: the renderer owns an OpenGL context that must be closed explicitly (its
``__del__`` raises at interpreter exit), the offscreen buffer must be large enough for the requested
size, and an mp4 must appear only once complete. EGL or OSMesa is chosen with ``MUJOCO_GL``.
:func:`write_video` is the one loop both kinds of video go through.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import mujoco
import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import atomic_path
from locomimic.progress import Progress
from locomimic.render.scene import add_ghost, add_keypoints


def tracking_camera(body_id: int, settings: dict) -> mujoco.MjvCamera:
    """A camera that follows ``body_id`` at the configured distance, azimuth and elevation."""
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid = body_id
    camera.distance = settings["camera"]["distance"]
    camera.azimuth = settings["camera"]["azimuth"]
    camera.elevation = settings["camera"]["elevation"]
    return camera


@contextlib.contextmanager
def open_renderer(model: mujoco.MjModel, settings: dict) -> Iterator[mujoco.Renderer]:
    """A renderer of ``settings['width'] x settings['height']`` with the configured effects, closed on exit."""
    width, height = settings["width"], settings["height"]
    model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
    model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
    try:
        renderer = mujoco.Renderer(model, height, width)
    except Exception as exc:  # no EGL/OSMesa, or no display for GLFW
        raise LocomimicError(None, f"cannot open a headless renderer with MUJOCO_GL={os.environ.get('MUJOCO_GL', '')!r}"
                             f" ({exc}); install libegl1 (MUJOCO_GL=egl) or libosmesa6 (MUJOCO_GL=osmesa)") from None
    # Shadows and reflections cost most of a software-rendered frame (CPU); they are optional.
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = settings["shadows"]
    renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = settings["reflections"]
    try:
        yield renderer
    finally:
        renderer.close()


@contextlib.contextmanager
def mp4_writer(path: str | Path, width: int, height: int, fps: float) -> Iterator:
    """A generator to ``send`` RGB frames ``[height, width, 3] uint8``; the mp4 appears when it closes."""
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(str(tmp), (width, height), fps=fps, codec="libx264", macro_block_size=1,
                                             pix_fmt_out="yuv420p", ffmpeg_log_level="error",
                                             output_params=["-f", "mp4", "-movflags", "+faststart"])
        writer.send(None)
        try:
            yield writer
        finally:
            writer.close()


def frame_times(fps: float, seconds: float) -> np.ndarray:
    """Times (s) of the frames of a ``seconds``-long video at ``fps``."""
    return np.arange(int(round(fps * seconds))) / fps


def nearest_indices(times: np.ndarray, dt: float, count: int) -> np.ndarray:
    """Indices of the samples (every ``dt`` s, ``count`` of them) nearest to ``times``."""
    return np.clip(np.round(times / dt).astype(int), 0, count - 1)


def write_video(path: str | Path, model: mujoco.MjModel, body_id: int, qpos: np.ndarray, settings: dict,
                ghost: np.ndarray | None = None, keypoints: np.ndarray | None = None,
                keypoint_names: list[str] | None = None) -> dict:
    """Render one frame per row of ``qpos`` (with optional ghost poses and keypoints) into an mp4."""
    data, ghost_data = mujoco.MjData(model), mujoco.MjData(model)
    option = mujoco.MjvOption()
    camera = tracking_camera(body_id, settings)
    progress = Progress(f"render {Path(path).name}", len(qpos), "frames")
    with open_renderer(model, settings) as renderer, \
            mp4_writer(path, settings["width"], settings["height"], settings["fps"]) as writer:
        for i, pose in enumerate(qpos):
            data.qpos[:] = pose
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera, option)
            if ghost is not None:
                ghost_data.qpos[:] = ghost[i]
                mujoco.mj_kinematics(model, ghost_data)
                add_ghost(renderer.scene, model, ghost_data, option, settings["ghost_alpha"])
            if keypoints is not None:
                add_keypoints(renderer.scene, keypoints[i], keypoint_names or [], settings["keypoint_radius"])
            writer.send(np.ascontiguousarray(renderer.render()))
            progress.update()
    return {"frames": len(qpos), "width": settings["width"], "height": settings["height"], "fps": settings["fps"]}
