"""Retarget one human clip (BVH keypoints) onto one humanoid: scale, place the trunk, plant the feet, solve IK.

Steps (GMR's recipe, with contact-aware feet and per-limb scaling):
1. optionally align the clip to start at the origin facing +x; put the ground under the toes;
2. scale the whole source so its leg (hip -> knee -> ankle) is ``leg_reach`` of the robot's; arms are
   scaled again on their own (shoulder -> elbow -> wrist) and hang from the robot's shoulders, since a
   robot's arms and shoulders are rarely in a human's proportion to its legs; so is the head (the
   shoulders' midpoint -> head), which sits on the robot's shoulders where the source's neck puts it;
3. the pelvis pose from the source's hips and spine (:func:`~locomimic.retarget.root.root_pose`), moved
   so the robot's hip joints sit where the scaled source's are; the chest's orientation from the shoulders;
4. foot contacts: an ankle or a toe low and slow (``retarget.contact``);
5. each sole's target: the robot's hip plus the scaled source hip -> ankle vector (so the feet keep the
   robot's hip width), at the source ankle's height over its standing height; yaw and pitch from the
   source's ankle -> toe direction. A foot in contact is flat on the ground and held still
   (``pin_tolerance``), as the quadruped feet are;
6. per-frame IK (:class:`~locomimic.retarget.humanoid_ik.HumanoidIK`), then velocities and metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import mujoco
import numpy as np

from locomimic.motion.clip import HUMAN_ARMS, HUMAN_KEYPOINTS, KeypointClip, human_legs
from locomimic.progress import Progress
from locomimic.retarget import contacts as contact_lib
from locomimic.retarget import quality as quality_lib
from locomimic.retarget import root as root_lib
from locomimic.retarget.humanoid_ik import HumanoidIK
from locomimic.retarget.result import (RetargetResult, finite_difference_qvel, foot_metrics, frames_per_second_metrics,
                                      prepared, solve_frame)
from locomimic.robots import Robot
from locomimic.robots.feet import lowest_point, standing_sole_geoms


@dataclass(frozen=True)
class HumanoidBody:
    """The robot's proportions at its standing pose (pelvis frame, m), which the source is scaled to."""

    hips: np.ndarray           # [2, 3] hip joints, in the robot's foot order
    pelvis_from_hips: np.ndarray  # the pelvis frame's origin relative to the hips' midpoint
    sole_from_ankle: np.ndarray  # [2, 3] sole frame relative to the ankle, foot flat and facing +x
    ankle_height: np.ndarray   # [2] ankle over the ground with the sole flat on it
    sole_rotation: np.ndarray  # [2, 3, 3] the sole frames' rotation in the pelvis frame
    chest_from_pelvis: np.ndarray  # the chest frame's origin
    shoulders: np.ndarray      # [2, 3] shoulders (left, right) in the chest frame
    neck: float                # the shoulders' midpoint -> head
    leg: float                 # hip -> knee -> ankle
    arm: float                 # shoulder -> elbow -> wrist
    sole_points: np.ndarray    # [2, n, 3] the sole geoms' centres (capsules: both ends) in the sole frame
    sole_point_radii: np.ndarray  # [2, n] and how far each reaches around its point


def humanoid_body(robot: Robot) -> HumanoidBody:
    """Measure :class:`HumanoidBody` with forward kinematics at the robot's default pose."""
    legs = human_legs(robot)
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.qpos_default
    mujoco.mj_kinematics(robot.model, data)
    origin, rotation = data.xpos[robot.trunk.id], data.xmat[robot.trunk.id].reshape(3, 3)

    def local(point):
        return (point - origin) @ rotation

    def position(name):
        return robot.frames([name], "human retargeting")[0].position(data)

    feet = robot.feet
    ankles = np.stack([data.xpos[_body_of(robot.model, f)] for f in feet])
    soles = np.stack([f.position(data) for f in feet])
    hips = np.stack([position(hip) for hip, _, _, _ in legs])
    knees = np.stack([position(knee) for _, knee, _, _ in legs])
    leg = float(np.mean(np.linalg.norm(knees - hips, axis=1) + np.linalg.norm(ankles - knees, axis=1)))
    arm = float(np.mean([np.linalg.norm(position(e) - position(s)) + np.linalg.norm(position(h) - position(e))
                         for s, e, h in HUMAN_ARMS]))
    sole_rotation = np.stack([rotation.T @ _rotation_of(robot.model, data, f) for f in feet])
    chest = robot.frames(["chest"], "human retargeting")[0]
    chest_pos, chest_rot = chest.position(data), _rotation_of(robot.model, data, chest)
    shoulder_mid = np.mean([position(shoulder) for shoulder, _, _ in HUMAN_ARMS], axis=0)
    points = [_sole_points(robot.model, data, f, sole) for f, sole in zip(feet, standing_sole_geoms(robot))]
    return HumanoidBody(
        hips=np.stack([local(h) for h in hips]),
        pelvis_from_hips=-np.stack([local(h) for h in hips]).mean(axis=0),
        sole_from_ankle=(soles - ankles) @ rotation,
        ankle_height=ankles[:, 2] - soles[:, 2] + robot.foot_radius,
        sole_rotation=sole_rotation,
        chest_from_pelvis=local(chest_pos),
        shoulders=np.stack([(position(shoulder) - chest_pos) @ chest_rot for shoulder, _, _ in HUMAN_ARMS]),
        neck=float(np.linalg.norm(position("head") - shoulder_mid)),
        leg=leg,
        arm=arm,
        sole_points=np.stack([p for p, _ in points]),
        sole_point_radii=np.stack([r for _, r in points]),
    )


def _sole_points(model: mujoco.MjModel, data: mujoco.MjData, foot, geoms: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The points a foot's sole ``geoms`` reach around (sphere centres, capsule ends), in the foot frame."""
    origin, rotation = foot.position(data), _rotation_of(model, data, foot)
    points, radii = [], []
    for g in geoms:
        centre, axis = data.geom_xpos[g], data.geom_xmat[g].reshape(3, 3)[:, 2]
        kind = int(model.geom_type[g])
        half = model.geom_size[g][1] if kind == mujoco.mjtGeom.mjGEOM_CAPSULE else 0.0
        round_shape = kind in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_SPHERE)
        for end in (centre + half * axis, centre - half * axis):
            points.append((end - origin) @ rotation)
            radii.append(model.geom_size[g][0] if round_shape else model.geom_rbound[g])
    return np.array(points), np.array(radii)


def _body_of(model: mujoco.MjModel, frame) -> int:
    return frame.id if frame.kind == "body" else int(model.site_bodyid[frame.id])


def _rotation_of(model: mujoco.MjModel, data: mujoco.MjData, frame) -> np.ndarray:
    return (data.xmat if frame.kind == "body" else data.site_xmat)[frame.id].reshape(3, 3)


def retarget_human(clip: KeypointClip, robot: Robot, settings: dict, scale: float | str = "auto") -> RetargetResult:
    """Retarget a human ``clip`` onto a humanoid ``robot`` with the ``retarget`` config section ``settings``.

    Raises :class:`~locomimic.errors.LocomimicError` when the clip fails the quality gate.
    """
    clip = prepared(clip, HUMAN_KEYPOINTS, settings)
    quality = settings["quality"]
    body = humanoid_body(robot)
    legs = human_legs(robot)
    if scale == "auto":
        source_leg = root_lib.limb_length(clip, [leg[:3] for leg in legs])
        scale = settings["ik"]["humanoid"]["leg_reach"] * body.leg / source_leg
    ground = root_lib.ground_height(clip, tuple(leg[3] for leg in legs))
    source = root_lib.scale_clip(clip, float(scale), ground)
    arm_scale = body.arm / root_lib.limb_length(source, HUMAN_ARMS)
    k = source.keypoint
    src_hips, src_knees, src_ankles, src_toes = (np.stack([k(leg[i]) for leg in legs], axis=1) for i in range(4))

    c = settings["contact"]
    ankle_floor = np.percentile(src_ankles[..., 2], 2.0, axis=0)
    ankle_rise = src_ankles[..., 2] - ankle_floor
    contact = _contacts(src_ankles, src_toes, ankle_rise, clip.fps, c)

    _, pelvis_rot = root_lib.root_pose(source)
    # The source stands on ankles higher (or lower) than the robot's: lower its hips by the difference, so a
    # straight human leg asks for a straight robot leg, not for one longer than the robot's.
    sink = np.array([0.0, 0.0, float(np.mean(ankle_floor - body.ankle_height))])
    pelvis_pos = src_hips.mean(axis=1) - sink + np.einsum("tij,j->ti", pelvis_rot, body.pelvis_from_hips)
    quality_lib.check_trunk(clip, quality_lib.trunk_signals(pelvis_pos, pelvis_rot, clip.fps), body.leg, quality,
                            "the source's pelvis (scaled to the robot)", keypoints=source)
    robot_hips = pelvis_pos[:, None] + np.einsum("tij,lj->tli", pelvis_rot, body.hips)
    heading = np.unwrap(np.arctan2(pelvis_rot[:, 1, 0], pelvis_rot[:, 0, 0]))
    relative_yaw, pitch = _foot_angles(src_ankles, src_toes, contact, heading)
    rotations = _foot_rotations(relative_yaw, pitch, heading, contact, body)
    source_targets = _sole_targets(robot_hips, src_hips, src_ankles, ankle_rise, rotations, body, robot.foot_radius)
    source_targets = contact_lib.follow_planted_feet(source_targets, src_ankles, contact)
    targets = contact_lib.ground_contacts(source_targets, contact, robot.foot_radius, c["pin_tolerance"])
    knees = robot_hips + (src_knees - src_hips)  # robot_hips are already sunk with the pelvis
    chest_rot = _chest_rotation(source)
    # Arms hang from where the robot's shoulders belong on the target trunk: fixed points for the frame's IK.
    chest_pos = pelvis_pos + np.einsum("tij,j->ti", pelvis_rot, body.chest_from_pelvis)
    shoulders = chest_pos[:, None] + np.einsum("tij,lj->tli", chest_rot, body.shoulders)
    elbows, hands = ((shoulders + arm_scale * np.stack([k(arm[i]) - k(arm[0]) for arm in HUMAN_ARMS], axis=1))
                     for i in (1, 2))
    src_neck = k("head") - (k("left_shoulder") + k("right_shoulder")) / 2
    neck_scale = body.neck / float(np.median(np.linalg.norm(src_neck, axis=-1)))
    heads = shoulders.mean(axis=1) + neck_scale * src_neck

    solver = HumanoidIK(robot, settings["ik"], clip.fps)
    qpos = np.empty((clip.num_frames, robot.model.nq))
    progress = Progress(f"retarget {robot.name}", clip.num_frames, "frames")
    start = time.perf_counter()
    for t in range(clip.num_frames):
        feet = [(targets[t, i], rotations[t, i]) for i in range(len(legs))]
        qpos[t] = solve_frame(clip, t, lambda: solver.solve((pelvis_pos[t], pelvis_rot[t]), chest_rot[t], feet,
                                                            heads[t], elbows[t], hands[t], knees[t],
                                                            bool(contact[t].any())))
        progress.update()
    solve_seconds = time.perf_counter() - start

    kinematics = _forward_kinematics(robot, qpos)
    trunk_signals = quality_lib.trunk_signals(kinematics["trunk_pos"], kinematics["trunk_rot"], clip.fps)
    quality_lib.check_trunk(clip, trunk_signals, body.leg, quality, "the retargeted trunk")
    soles = kinematics["soles"]
    foot_error = np.linalg.norm(soles - source_targets, axis=-1)
    penetration = np.maximum(-kinematics["sole_bottom"], 0.0)
    quality_lib.check_result(clip, penetration.max(axis=1), foot_error.mean(axis=1), body.leg, quality)
    arrays = {
        "fps": np.float64(clip.fps),
        "joint_names": np.array(robot.joint_names),
        "qpos": qpos,
        "qvel": finite_difference_qvel(robot.model, qpos, clip.fps),
        "foot_positions": soles,
        "foot_targets": targets,
        "contacts": contact,
        "keypoints": _followed_keypoints(source, shoulders, elbows, hands, heads),
        "keypoint_names": np.array(source.names),
        "scale": np.float64(scale),
        "cyclic": np.bool_(clip.cyclic),
    }
    hand_error = np.linalg.norm(kinematics["hands"] - hands, axis=-1)
    head_error = np.linalg.norm(kinematics["head"] - heads, axis=-1)
    metrics = foot_metrics(robot, qpos, soles, source_targets, targets, src_ankles, contact, penetration, clip.fps)
    metrics.update(
        hand_error_mean=float(hand_error.mean()), hand_error_max=float(hand_error.max()),
        head_error_mean=float(head_error.mean()), head_error_max=float(head_error.max()),
        self_collision_frames=float(kinematics["self_collision"].mean()),
        robot=robot.name, frames=clip.num_frames, fps=clip.fps, scale=float(scale), arm_scale=float(arm_scale),
        neck_scale=neck_scale,
        ground_height=ground, robot_leg_length=body.leg,
        trunk_height_min=float(trunk_signals["height"].min()),
        trunk_uprightness_min=float(trunk_signals["uprightness"].min()),
    )
    metrics.update(frames_per_second_metrics(clip.num_frames, solve_seconds, solver.iterations))
    return RetargetResult(arrays, metrics)


def _contacts(ankles, toes, ankle_rise, fps, c) -> np.ndarray:
    """A foot stands while its ankle (heel strike, flat foot) or its toe (push-off) is low and slow."""
    toe_rise = toes[..., 2] - np.percentile(toes[..., 2], 2.0, axis=0)
    flags = [contact_lib.detect_contacts(np.concatenate([p[..., :2], rise[..., None]], axis=-1), fps, c["height"],
                                         c["speed"], c["min_frames"])
             for p, rise in ((ankles, ankle_rise), (toes, toe_rise))]
    return flags[0] | flags[1]


def _foot_angles(ankles, toes, contact, heading) -> tuple[np.ndarray, np.ndarray]:
    """Each foot's yaw relative to the pelvis heading and its pitch ``[T, feet]``, from its ankle -> toe direction.

    The yaw is measured only where the foot points more along the ground than down (its ankle -> toe
    line within 60 degrees of horizontal): a foot pitched steeply at toe-off has a horizontal direction
    of a few millimetres, whose angle swings by radians from one frame to the next and would twist the
    robot's leg about its hip-yaw joint. In between, the yaw is interpolated. Pitch is relative to the
    foot's own median while standing (a human's ankle sits higher than its toe joint); positive pitch
    turns the toes down, as a rotation about the foot's y axis does.
    """
    d = toes - ankles
    horizontal = np.linalg.norm(d[..., :2], axis=-1)
    measured = horizontal >= 0.5 * np.linalg.norm(d, axis=-1)
    relative = np.angle(np.exp(1j * (np.arctan2(d[..., 1], d[..., 0]) - heading[:, None])))
    frames = np.arange(len(d))
    for i in range(d.shape[1]):
        good = measured[:, i] if measured[:, i].any() else np.ones(len(d), bool)
        relative[:, i] = np.interp(frames, frames[good], np.unwrap(relative[good, i]))
    elevation = np.arctan2(d[..., 2], horizontal)
    standing = np.array([np.median(elevation[contact[:, i], i]) if contact[:, i].any() else np.median(elevation[:, i])
                         for i in range(d.shape[1])])
    return relative, standing - elevation


def _foot_rotations(relative_yaw, pitch, heading, contact, body: HumanoidBody) -> np.ndarray:
    """Sole rotations ``[T, feet, 3, 3]``: the standing pose's sole rotation turned by the foot's yaw and pitch.

    The yaw follows the pelvis heading plus the foot's own turn about its median: the source's toe-out
    is left out, since a robot stands with its feet straight. A standing foot is flat (no pitch) and keeps
    the yaw of its stance's middle frame.
    """
    yaw = heading[:, None] + relative_yaw - np.median(relative_yaw, axis=0)
    pitch = pitch.copy()
    for i in range(contact.shape[1]):
        for start, stop in contact_lib.phases(contact[:, i]):
            yaw[start:stop, i], pitch[start:stop, i] = yaw[(start + stop - 1) // 2, i], 0.0
    rotations = np.empty((*yaw.shape, 3, 3))
    for i in range(yaw.shape[1]):
        rotations[:, i] = _rot_z(yaw[:, i]) @ _rot_y(pitch[:, i]) @ body.sole_rotation[i]
    return rotations


def _sole_targets(robot_hips, src_hips, src_ankles, ankle_rise, rotations, body, radius) -> np.ndarray:
    """Where the scaled source puts each sole ``[T, feet, 3]`` (module docstring, step 5)."""
    ankles = robot_hips + src_ankles - src_hips
    ankles[..., 2] = ankle_rise + body.ankle_height
    # The sole frame sits at a fixed offset from the ankle in the foot's own frame.
    offset = np.einsum("tlij,lj->tli", rotations, np.einsum("lji,lj->li", body.sole_rotation, body.sole_from_ankle))
    soles = ankles + offset
    # A human's toes bend where a robot's rigid sole cannot: lift a pitched foot until no part is underground.
    lowest = (np.einsum("tlij,lnj->tlni", rotations, body.sole_points)[..., 2] - body.sole_point_radii).min(axis=-1)
    soles[..., 2] = np.maximum(soles[..., 2], radius - lowest)
    return soles


def _followed_keypoints(source: KeypointClip, shoulders, elbows, hands, heads) -> np.ndarray:
    """The scaled source as the robot follows it, for the retarget video: arms and head hung from the robot's
    shoulders."""
    positions = source.positions.copy()
    positions[:, source.names.index("head")] = heads
    for i, arm in enumerate(HUMAN_ARMS):
        for name, targets in zip(arm, (shoulders, elbows, hands)):
            positions[:, source.names.index(name)] = targets[:, i]
    return positions


def _chest_rotation(source: KeypointClip) -> np.ndarray:
    """The chest's rotation ``[T, 3, 3]``: left along the shoulders, up from the chest to their midpoint."""
    k = source.keypoint
    left = k("left_shoulder") - k("right_shoulder")
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    forward = np.cross(left, (k("left_shoulder") + k("right_shoulder")) / 2 - k("chest"))
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    return np.stack([forward, left, np.cross(forward, left)], axis=-1)


def _forward_kinematics(robot: Robot, qpos: np.ndarray) -> dict[str, np.ndarray]:
    """Per frame: soles, hands, head, trunk pose, the soles' lowest point and whether the robot touches itself."""
    model, data = robot.model, mujoco.MjData(robot.model)
    soles = standing_sole_geoms(robot)
    hands = robot.frames(tuple(hand for _, _, hand in HUMAN_ARMS), "human retargeting")
    head = robot.frames(["head"], "human retargeting")[0]
    out = {"soles": np.empty((len(qpos), len(soles), 3)), "hands": np.empty((len(qpos), 2, 3)),
           "head": np.empty((len(qpos), 3)),
           "trunk_pos": np.empty((len(qpos), 3)), "trunk_rot": np.empty((len(qpos), 3, 3)),
           "sole_bottom": np.empty((len(qpos), len(soles))), "self_collision": np.zeros(len(qpos), bool)}
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        out["soles"][t] = [f.position(data) for f in robot.feet]
        out["hands"][t] = [h.position(data) for h in hands]
        out["head"][t] = head.position(data)
        out["trunk_pos"][t], out["trunk_rot"][t] = data.xpos[robot.trunk.id], data.xmat[robot.trunk.id].reshape(3, 3)
        out["sole_bottom"][t] = [min(lowest_point(model, data, g) for g in geoms) for geoms in soles]
        mujoco.mj_collision(model, data)
        out["self_collision"][t] = any(
            model.geom_bodyid[c.geom1] != 0 and model.geom_bodyid[c.geom2] != 0 and c.dist < 0
            for c in data.contact[:data.ncon])
    return out


def _rot_z(angle: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(angle), np.sin(angle), np.ones_like(angle), np.zeros_like(angle)
    return np.moveaxis(np.array([[c, -s, z], [s, c, z], [z, z, o]]), [0, 1], [-2, -1])


def _rot_y(angle: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(angle), np.sin(angle), np.ones_like(angle), np.zeros_like(angle)
    return np.moveaxis(np.array([[c, z, s], [z, o, z], [-s, z, c]]), [0, 1], [-2, -1])
