"""A retargeted clip's video: the robot posed at each retargeted frame, the scaled source keypoints
and bones drawn over it, which shows at a glance where the IK could not follow the source.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from locomimic.render.video import frame_times, nearest_indices, write_video
from locomimic.robots import Robot

log = logging.getLogger("locomimic")


def render_retarget(path: str | Path, robot: Robot, clip: dict[str, np.ndarray], settings: dict) -> dict:
    """The retargeted clip (at most ``settings['seconds']`` of it) with the source keypoints over the robot."""
    fps = float(clip["fps"])
    count = len(clip["qpos"])
    seconds = min((count - 1) / fps, settings["seconds"])
    times = frame_times(settings["fps"], seconds)
    if len(times) == 0:
        times = np.zeros(1)
    index = nearest_indices(times, 1.0 / fps, count)
    log.info("rendering %d frames of %d retargeted frames at %.0f fps", len(index), count, fps)
    return write_video(path, robot.model, robot.trunk.id, clip["qpos"][index], settings,
                       keypoints=clip["keypoints"][index], keypoint_names=[str(n) for n in clip["keypoint_names"]])
