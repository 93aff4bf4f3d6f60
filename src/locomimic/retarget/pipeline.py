"""Retarget one keypoint clip onto one robot: place the root, build foot targets, solve IK, measure.

Steps (following motion_imitation's retargeting, with mink for the IK):
1. optionally align the clip to start at the origin facing +x; find the source's ground height;
2. scale the source so its median leg length matches the robot's (or use the configured scale);
3. detect source foot contacts (low and slow toes);
4. root pose per frame from pelvis/neck/shoulders/hips;
5. foot targets: the robot's hip plus the scaled source hip->toe vector, shifted laterally by the
   difference between the robot's and the source's nominal stance width; a planted foot moves only as
   the source toe moves in the world; heights follow the scaled source above the ground (this is the
   reference the foot error is measured against), and a foot in contact is put exactly on the ground (held still
   while the source foot stays within ``pin_tolerance``);
6. per-frame IK (:class:`~locomimic.retarget.ik.FootIK`), then velocities and quality metrics.

The quality gate (:mod:`~locomimic.retarget.quality`, thresholds ``retarget.quality``) checks the clip's
trunk path before the IK and the result after it, and raises instead of returning absurd motion, so
the caller never writes it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import mink
import mujoco
import numpy as np

from locomimic.errors import LocomimicError
from locomimic.motion.clip import QUADRUPED_KEYPOINTS, KeypointClip, quadruped_legs
from locomimic.progress import Progress
from locomimic.retarget import contacts as contact_lib
from locomimic.retarget import quality as quality_lib
from locomimic.retarget import root as root_lib
from locomimic.retarget.ik import FootIK
from locomimic.robots import Robot

log = logging.getLogger("locomimic")


@dataclass
class RetargetResult:
    """Everything the retarget stage writes: trajectories (``arrays``) and quality ``metrics``."""

    arrays: dict[str, np.ndarray]
    metrics: dict[str, float | int | list]


def robot_geometry(robot: Robot) -> tuple[np.ndarray, np.ndarray, float]:
    """Hip and nominal foot positions in the trunk frame at the default pose, and the leg length."""
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.qpos_default
    mujoco.mj_kinematics(robot.model, data)
    trunk_pos = data.xpos[robot.trunk.id]
    trunk_rot = data.xmat[robot.trunk.id].reshape(3, 3)
    hips = np.stack([(h.position(data) - trunk_pos) @ trunk_rot
                     for h in robot.frames(quadruped_legs(robot)[1], "quadruped retargeting")])
    feet = np.stack([(f.position(data) - trunk_pos) @ trunk_rot for f in robot.feet])
    return hips, feet, float(np.linalg.norm(feet - hips, axis=1).mean())


def retarget_clip(clip: KeypointClip, robot: Robot, settings: dict, scale: float | str = "auto") -> RetargetResult:
    """Retarget ``clip`` onto ``robot`` with the ``retarget`` config section ``settings``.

    Raises :class:`~locomimic.errors.LocomimicError` when the clip fails the quality gate.
    """
    clip.require(QUADRUPED_KEYPOINTS)
    quality_lib.check_trunk_keypoints(clip)
    quality = settings["quality"]
    if settings["align_heading"]:
        clip = root_lib.align_heading(clip)
    hip_local, foot_local, robot_leg = robot_geometry(robot)
    foot_keypoints, hip_keypoints = quadruped_legs(robot)
    source_leg = root_lib.leg_length(clip, hip_keypoints, foot_keypoints)
    if scale == "auto":
        scale = robot_leg / source_leg
    ground = root_lib.ground_height(clip, foot_keypoints)
    source = root_lib.scale_clip(clip, float(scale), ground)

    src_feet = np.stack([source.keypoint(k) for k in foot_keypoints], axis=1)  # [T, 4, 3], the robot's foot order
    src_hips = np.stack([source.keypoint(k) for k in hip_keypoints], axis=1)
    c = settings["contact"]
    contact = contact_lib.detect_contacts(src_feet, clip.fps, c["height"], c["speed"], c["min_frames"])

    root_pos, root_rot = root_lib.root_pose(source)
    hip_center = hip_local.mean(axis=0)
    trunk_pos = root_pos - np.einsum("tij,j->ti", root_rot, hip_center)
    quality_lib.check_trunk(clip, quality_lib.trunk_signals(trunk_pos, root_rot, clip.fps), robot_leg, quality,
                            "the source's trunk (scaled to the robot)", keypoints=source)
    source_targets = _foot_targets(src_feet, src_hips, root_rot, trunk_pos, hip_local, foot_local, robot.foot_radius)
    source_targets = _follow_planted_feet(source_targets, src_feet, contact)
    targets = _ground_contacts(source_targets, contact, robot.foot_radius, c["pin_tolerance"])

    solver = FootIK(robot, settings["ik"])
    qpos = np.empty((clip.num_frames, robot.model.nq))
    progress = Progress(f"retarget {robot.name}", clip.num_frames, "frames")
    start = time.perf_counter()
    for t in range(clip.num_frames):
        qpos[t] = _solve(solver, clip, t, trunk_pos[t], root_rot[t], targets[t])
        progress.update()
    solve_seconds = time.perf_counter() - start

    feet, trunk = _forward_kinematics(robot, qpos)
    trunk_signals = quality_lib.trunk_signals(*trunk, clip.fps)
    quality_lib.check_trunk(clip, trunk_signals, robot_leg, quality, "the retargeted trunk")
    foot_error = np.linalg.norm(feet - source_targets, axis=-1)
    quality_lib.check_result(clip, np.maximum(robot.foot_radius - feet[..., 2], 0.0).max(axis=1),
                             foot_error.mean(axis=1), robot_leg, quality)
    arrays = {
        "fps": np.float64(clip.fps),
        "joint_names": np.array(robot.joint_names),
        "qpos": qpos,
        "qvel": _velocities(robot.model, qpos, clip.fps),
        "foot_positions": feet,
        "foot_targets": targets,
        "contacts": contact,
        "keypoints": source.positions,
        "keypoint_names": np.array(source.names),
        "scale": np.float64(scale),
        "cyclic": np.bool_(clip.cyclic),
    }
    metrics = _metrics(robot, qpos, feet, source_targets, targets, src_feet, contact)
    metrics.update(
        root_speed_max=_max(trunk_signals["speed"]), root_angular_speed_max=_max(trunk_signals["angular_speed"]),
        trunk_uprightness_min=float(trunk_signals["uprightness"].min()),
        trunk_height_min=float(trunk_signals["height"].min()),
        robot=robot.name, frames=clip.num_frames, fps=clip.fps, scale=float(scale), ground_height=ground,
        source_leg_length=source_leg, robot_leg_length=robot_leg,
        solver_frames_per_second=clip.num_frames / max(solve_seconds, 1e-9),
        ik_iterations_per_frame=solver.iterations / clip.num_frames,
    )
    return RetargetResult(arrays, metrics)


def _solve(solver: FootIK, clip: KeypointClip, t: int, *targets: np.ndarray) -> np.ndarray:
    """One frame's IK; a QP the solver cannot solve is an error naming the frame, not a mink traceback."""
    try:
        return solver.solve(*targets)
    except mink.MinkError as exc:
        raise LocomimicError(clip.source, f"inverse kinematics failed ({exc}); the frame's targets are out of "
                             f"reach or degenerate", location=quality_lib.frames_text(clip, np.array([t]))) from None


def _foot_targets(src_feet, src_hips, root_rot, trunk_pos, hip_local, foot_local, radius):
    """Where the scaled source puts the robot's foot frames ``[T, 4, 3]`` (module docstring, step 5)."""
    robot_hips = trunk_pos[:, None] + np.einsum("tij,lj->tli", root_rot, hip_local)
    leg = src_feet - src_hips
    # Nominal stance width: mean lateral hip->toe offset in the trunk frame, source vs robot.
    source_lateral = np.einsum("tij,tli->tlj", root_rot, leg)[..., 1].mean(axis=0)
    lateral_shift = (foot_local - hip_local)[:, 1] - source_lateral
    targets = robot_hips + leg + root_rot[:, None, :, 1] * lateral_shift[None, :, None]
    targets[..., 2] = np.maximum(src_feet[..., 2], 0.0) + radius
    return targets


def _follow_planted_feet(targets, src_feet, contact):
    """During stance, move each target exactly as the source toe moves in the world.

    Hip-relative targets drift while the robot's trunk turns (its hips are not where the scaled
    animal's are), which would make planted feet slide. Each stance is anchored at its middle frame and
    then follows the source toe's own world displacement; the correction is blended linearly through
    the swing phases in between, so targets stay continuous.
    """
    targets = targets.copy()
    frames = np.arange(len(contact))
    for leg in range(contact.shape[1]):
        stances = contact_lib.phases(contact[:, leg])
        if not stances:
            continue
        correction = np.full((len(contact), 2), np.nan)
        for start, stop in stances:
            anchor = (start + stop - 1) // 2
            world = targets[anchor, leg, :2] + src_feet[start:stop, leg, :2] - src_feet[anchor, leg, :2]
            correction[start:stop] = world - targets[start:stop, leg, :2]
        known = ~np.isnan(correction[:, 0])
        for axis in range(2):
            targets[:, leg, axis] += np.interp(frames, frames[known], correction[known, axis])
    return targets


def _ground_contacts(source_targets, contact, radius, pin_tolerance):
    """IK targets: feet in contact on the ground and, when ``pin_tolerance`` > 0, held still.

    A stance is split into as few segments as possible whose source points all lie within
    ``pin_tolerance`` of the segment's mean; the foot is held at that mean. A foot whose source
    barely slides is held for the whole stance; one that really shuffles (turning on the spot) takes
    small steps instead of being dragged, so the target never strays more than the tolerance.
    """
    targets = source_targets.copy()
    targets[..., 2][contact] = radius
    if pin_tolerance > 0:
        for leg in range(targets.shape[1]):
            for start, stop in contact_lib.phases(contact[:, leg]):
                for a, b in contact_lib.pinned_segments(targets[start:stop, leg, :2], pin_tolerance):
                    targets[start + a:start + b, leg, :2] = targets[start + a:start + b, leg, :2].mean(axis=0)
    return targets


def _forward_kinematics(robot: Robot, qpos: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Foot positions ``[T, 4, 3]`` and the trunk's world position ``[T, 3]`` and rotation ``[T, 3, 3]``."""
    data = mujoco.MjData(robot.model)
    feet = np.empty((len(qpos), len(robot.feet), 3))
    trunk_pos, trunk_rot = np.empty((len(qpos), 3)), np.empty((len(qpos), 3, 3))
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(robot.model, data)
        feet[t] = [f.position(data) for f in robot.feet]
        trunk_pos[t], trunk_rot[t] = data.xpos[robot.trunk.id], data.xmat[robot.trunk.id].reshape(3, 3)
    return feet, (trunk_pos, trunk_rot)


def _max(values: np.ndarray) -> float:
    """The largest value, 0 for none (a one-frame clip has no steps to take a speed from)."""
    return float(values.max()) if values.size else 0.0


def _velocities(model: mujoco.MjModel, qpos: np.ndarray, fps: float) -> np.ndarray:
    """Finite-difference ``qvel`` (quaternion-aware); the last frame repeats the one before."""
    qvel = np.zeros((len(qpos), model.nv))
    for t in range(len(qpos) - 1):
        mujoco.mj_differentiatePos(model, qvel[t], 1.0 / fps, qpos[t], qpos[t + 1])
    if len(qpos) > 1:
        qvel[-1] = qvel[-2]
    return qvel


def _metrics(robot, qpos, feet, source_targets, targets, src_feet, contact) -> dict:
    error = np.linalg.norm(feet - source_targets, axis=-1)
    ik_error = np.linalg.norm(feet - targets, axis=-1)
    penetration = np.maximum(robot.foot_radius - feet[..., 2], 0.0)
    joints = qpos[:, robot.joint_qpos_adr]
    low, high = robot.joint_range[:, 0], robot.joint_range[:, 1]
    violations = int(((joints < low - 1e-6) | (joints > high + 1e-6)).sum())
    robot_slide = contact_lib.stance_slide(feet, contact)
    source_slide = contact_lib.stance_slide(src_feet, contact)
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
        "joint_limit_violations": violations,
        "contact_fraction": contact.mean(axis=0).round(4).tolist(),
    }
