"""What every retargeter shares: the clip's preparation, the result type, one frame's IK with a readable
error, velocities, and the metrics every retargeted clip reports (feet, joints, solver speed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mink
import mujoco
import numpy as np

from locomimic.errors import LocomimicError
from locomimic.motion.clip import KeypointClip
from locomimic.retarget.contacts import stance_slide
from locomimic.retarget.quality import check_trunk_keypoints, frames_text
from locomimic.retarget.root import align_heading
from locomimic.robots import Robot


@dataclass
class RetargetResult:
    """Everything the retarget stage writes: trajectories (``arrays``) and quality ``metrics``."""

    arrays: dict[str, np.ndarray]
    metrics: dict[str, float | int | list]


def prepared(clip: KeypointClip, keypoints: tuple[str, ...], settings: dict) -> KeypointClip:
    """What every retargeter does first: require the skeleton's ``keypoints``, refuse frames whose trunk has
    no orientation, and (``align_heading``) start the clip at the origin facing +x."""
    clip.require(keypoints)
    check_trunk_keypoints(clip)
    return align_heading(clip) if settings["align_heading"] else clip


def solve_frame(clip: KeypointClip, t: int, solve: Callable[[], np.ndarray]) -> np.ndarray:
    """One frame's IK; a QP the solver cannot solve is an error naming the frame, not a mink traceback."""
    try:
        return solve()
    except mink.MinkError as exc:
        raise LocomimicError(clip.source, f"inverse kinematics failed ({exc}); the frame's targets are out of "
                             f"reach or degenerate", location=frames_text(clip, np.array([t]))) from None


def finite_difference_qvel(model: mujoco.MjModel, qpos: np.ndarray, fps: float) -> np.ndarray:
    """Finite-difference ``qvel`` (quaternion-aware); the last frame repeats the one before."""
    qvel = np.zeros((len(qpos), model.nv))
    for t in range(len(qpos) - 1):
        mujoco.mj_differentiatePos(model, qvel[t], 1.0 / fps, qpos[t], qpos[t + 1])
    if len(qpos) > 1:
        qvel[-1] = qvel[-2]
    return qvel


def frames_per_second_metrics(frames: int, seconds: float, iterations: int) -> dict[str, float]:
    """The solver's speed: frames per second of IK (one core) and Gauss-Newton iterations per frame."""
    return {"solver_frames_per_second": frames / max(seconds, 1e-9), "ik_iterations_per_frame": iterations / frames}


def foot_metrics(robot: Robot, qpos: np.ndarray, feet: np.ndarray, source_targets: np.ndarray, targets: np.ndarray,
                 source_feet: np.ndarray, contact: np.ndarray, penetration: np.ndarray, fps: float) -> dict:
    """Feet against the scaled source (``source_targets``) and the IK's own targets, stance slide of the
    robot's feet and the source's, penetration (``[T, feet]``, m), joint-limit violations and the fastest
    joint speed (rad/s): an IK that leaps between solution branches shows there, as a reference no robot
    can follow."""
    error = np.linalg.norm(feet - source_targets, axis=-1)
    ik_error = np.linalg.norm(feet - targets, axis=-1)
    joints = qpos[:, robot.joint_qpos_adr]
    low, high = robot.joint_range[:, 0], robot.joint_range[:, 1]
    robot_slide, source_slide = stance_slide(feet, contact), stance_slide(source_feet, contact)
    return {
        "foot_error_mean": float(error.mean()),
        "foot_error_max": float(error.max()),
        "ik_error_mean": float(ik_error.mean()),
        "ik_error_max": float(ik_error.max()),
        "foot_slide_robot_mean": float(robot_slide.mean()) if robot_slide.size else 0.0,
        "foot_slide_robot_max": float(robot_slide.max()) if robot_slide.size else 0.0,
        "foot_slide_source_mean": float(source_slide.mean()) if source_slide.size else 0.0,
        "foot_slide_source_max": float(source_slide.max()) if source_slide.size else 0.0,
        "stance_phases": int(robot_slide.size),
        "penetration_max": float(penetration.max()),
        "joint_limit_violations": int(((joints < low - 1e-6) | (joints > high + 1e-6)).sum()),
        "joint_speed_max": float(np.abs(np.diff(joints, axis=0)).max() * fps) if len(joints) > 1 else 0.0,
        "contact_fraction": contact.mean(axis=0).round(4).tolist(),
    }
