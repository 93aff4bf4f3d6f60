"""A policy's video: the first evaluated episode (environment 0, see
:mod:`locomimic.evaluate.trajectory`) with a translucent ghost of its reference.

The ghost is the reference frame the imitation task follows at that step or, for a
command-following (locomotion) policy, the motion's first clip played from the same start. When the
episode ends (a fall, straying from the reference) the environment restarts, as in evaluation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from locomimic.render.video import frame_times, nearest_indices, write_video
from locomimic.robots import Robot

log = logging.getLogger("locomimic")


def render_policy(path: str | Path, robot: Robot, trajectory: dict[str, np.ndarray], settings: dict) -> dict:
    """At most ``settings['seconds']`` of the trajectory (it lasts one evaluation episode length)."""
    dt = float(trajectory["dt"])
    steps = len(trajectory["qpos"])
    times = frame_times(settings["fps"], min(settings["seconds"], steps * dt))
    index = nearest_indices(times, dt, steps)
    ended = np.flatnonzero(trajectory["dones"])
    log.info("rendering %d frames; the episode %s", len(index),
             f"ended at {(ended[0] + 1) * dt:.2f} s and restarted" if len(ended) else "lasted the whole video")
    return write_video(path, robot.model, robot.trunk.id, trajectory["qpos"][index], settings,
                       ghost=trajectory["ghost_qpos"][index])
