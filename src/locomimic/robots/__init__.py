"""The robot registry: robot YAML files -> compiled MuJoCo models with their control parameters."""

from locomimic.robots.registry import FOOT_KEYPOINTS, HIP_KEYPOINTS, Robot, load_robot

__all__ = ["FOOT_KEYPOINTS", "HIP_KEYPOINTS", "Robot", "load_robot"]
