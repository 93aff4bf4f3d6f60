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

import mujoco
import numpy as np

from locomimic.motion.clip import QUADRUPED_KEYPOINTS, KeypointClip, quadruped_legs
from locomimic.progress import Progress
from locomimic.retarget import contacts as contact_lib
from locomimic.retarget import quality as quality_lib
from locomimic.retarget import root as root_lib
from locomimic.retarget.ik import FootIK
from locomimic.retarget.result import (RetargetResult, finite_difference_qvel, foot_metrics, frames_per_second_metrics,
                                      prepared, solve_frame)
from locomimic.robots import Robot

log = logging.getLogger("locomimic")


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


def retarget_quadruped(clip: KeypointClip, robot: Robot, settings: dict, scale: float | str = "auto") -> RetargetResult:
    """Retarget a quadruped ``clip`` onto ``robot`` with the ``retarget`` config section ``settings``.

    Raises :class:`~locomimic.errors.LocomimicError` when the clip fails the quality gate.
    """
    clip = prepared(clip, QUADRUPED_KEYPOINTS, settings)
    quality = settings["quality"]
    hip_local, foot_local, robot_leg = robot_geometry(robot)
    foot_keypoints, hip_keypoints = quadruped_legs(robot)
    source_leg = root_lib.limb_length(clip, list(zip(hip_keypoints, foot_keypoints)))
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
    source_targets = contact_lib.follow_planted_feet(source_targets, src_feet, contact)
    targets = contact_lib.ground_contacts(source_targets, contact, robot.foot_radius, c["pin_tolerance"])

    solver = FootIK(robot, settings["ik"])
    qpos = np.empty((clip.num_frames, robot.model.nq))
    progress = Progress(f"retarget {robot.name}", clip.num_frames, "frames")
    start = time.perf_counter()
    for t in range(clip.num_frames):
        qpos[t] = solve_frame(clip, t, lambda: solver.solve(trunk_pos[t], root_rot[t], targets[t]))
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
        "qvel": finite_difference_qvel(robot.model, qpos, clip.fps),
        "foot_positions": feet,
        "foot_targets": targets,
        "contacts": contact,
        "keypoints": source.positions,
        "keypoint_names": np.array(source.names),
        "scale": np.float64(scale),
        "cyclic": np.bool_(clip.cyclic),
    }
    penetration = np.maximum(robot.foot_radius - feet[..., 2], 0.0)
    metrics = foot_metrics(robot, qpos, feet, source_targets, targets, src_feet, contact, penetration, clip.fps)
    metrics.update(
        root_speed_max=_max(trunk_signals["speed"]), root_angular_speed_max=_max(trunk_signals["angular_speed"]),
        trunk_uprightness_min=float(trunk_signals["uprightness"].min()),
        trunk_height_min=float(trunk_signals["height"].min()),
        robot=robot.name, frames=clip.num_frames, fps=clip.fps, scale=float(scale), ground_height=ground,
        source_leg_length=source_leg, robot_leg_length=robot_leg,
    )
    metrics.update(frames_per_second_metrics(clip.num_frames, solve_seconds, solver.iterations))
    return RetargetResult(arrays, metrics)


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
