"""Motion retargeting: source keypoints -> robot joint trajectories by per-frame IK with mink."""

from locomimic.motion.clip import KeypointClip
from locomimic.retarget.humanoid import retarget_human
from locomimic.retarget.pipeline import retarget_quadruped
from locomimic.retarget.result import RetargetResult
from locomimic.robots import Robot

__all__ = ["RetargetResult", "retarget_clip"]


def retarget_clip(clip: KeypointClip, robot: Robot, settings: dict, scale: float | str = "auto") -> RetargetResult:
    """Retarget ``clip`` onto ``robot``: a human clip onto a humanoid, a quadruped's onto a quadruped."""
    retarget = retarget_human if clip.skeleton == "human" else retarget_quadruped
    return retarget(clip, robot, settings, scale)
