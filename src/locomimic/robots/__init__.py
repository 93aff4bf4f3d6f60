"""The robot registry: robot YAML files -> compiled MuJoCo models with their control parameters."""

from locomimic.robots.registry import Robot, load_robot

__all__ = ["Robot", "load_robot"]
