"""Motion retargeting: source keypoints -> robot joint trajectories by per-frame IK with mink."""

from locomimic.retarget.pipeline import RetargetResult, retarget_clip

__all__ = ["RetargetResult", "retarget_clip"]
