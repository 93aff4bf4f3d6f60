"""Motion sources: readers for keypoint text, BVH and the project's .npz format, and a gait generator.

Every source yields a :class:`KeypointClip`: named 3-D keypoints over time, in metres, z up.
"""

from locomimic.motion.clip import QUADRUPED_KEYPOINTS, KeypointClip
from locomimic.motion.sources import load_clip

__all__ = ["QUADRUPED_KEYPOINTS", "KeypointClip", "load_clip"]
