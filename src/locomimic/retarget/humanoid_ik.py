"""Per-frame whole-body IK for humanoids with mink: pelvis and chest poses, flat feet, hands, self-collision.

Tasks, by what they are for:
- the pelvis pose and the chest's orientation place the trunk as the source's;
- each foot (sole frame) gets a position and an orientation: flat while it stands, the source's foot
  pitch and yaw in swing;
- the head, elbows, hands and knees get positions (the caller hangs the arms and the head from where
  the robot's shoulders belong, :mod:`~locomimic.retarget.humanoid`);
- a posture task keeps joints near the standing pose where the targets leave them free.
Limits: joint ranges, and mink's collision avoidance between body parts that can meet
(:func:`self_collision_pairs`): a robot is rarely a human's shape, so limbs placed by a human's motion
run into each other (hands swinging past wider hips, a knee raised into the torso).
Each frame starts from the previous one (warm start); a frame whose soles end under the ground is
lifted out of it.
"""

from __future__ import annotations

import mink
import mujoco
import numpy as np

from locomimic.motion.clip import HUMAN_ARMS
from locomimic.robots import Robot
from locomimic.robots.feet import colliding_robot_geoms, lowest_point, standing_sole_geoms

# Body parts of a humanoid by words in its body names (the G1's and most humanoids' naming).
_ARM_WORDS = ("shoulder", "elbow", "wrist", "hand", "palm", "arm")
_LEG_WORDS = ("hip", "thigh", "knee", "shin", "leg", "ankle", "foot")


def self_collision_pairs(robot: Robot) -> list[tuple[list[int], list[int]]]:
    """Pairs of colliding geoms that may not touch: each arm against the trunk, the legs and the other
    arm, and each leg against the trunk and the other leg.

    A body whose name has an arm or leg word belongs to that limb, on the side its name says (left or
    right); every other body is trunk (pelvis, waist, torso). Pairs of bodies at most two joints apart
    are left out (:func:`_joints_apart`), and so are the soles against the trunk and the arms (a flat
    foot is many geoms - the G1's seven capsules each - and a foot meets the other leg, not the torso).
    One group per geom pair, since mink pairs whole groups.
    """
    model = robot.model
    soles = {g for sole in standing_sole_geoms(robot) for g in sole}
    parts: dict[str, list[int]] = {}
    for g in colliding_robot_geoms(model):
        name = model.body(int(model.geom_bodyid[g])).name.lower()
        side = "left" if "left" in name else "right" if "right" in name else ""
        limb = "arm" if any(w in name for w in _ARM_WORDS) else "leg" if any(w in name for w in _LEG_WORDS) else ""
        parts.setdefault(f"{side}_{limb}" if side and limb else "trunk", []).append(g)
    groups = [("left_arm", "trunk"), ("right_arm", "trunk"), ("left_arm", "right_arm"), ("left_leg", "right_leg"),
              ("left_leg", "trunk"), ("right_leg", "trunk")]
    groups += [(arm, leg) for arm in ("left_arm", "right_arm") for leg in ("left_leg", "right_leg")]
    return [([a], [b]) for x, y in groups for a in parts.get(x, []) for b in parts.get(y, [])
            if (x.endswith("leg") and y.endswith("leg")) or not ({a, b} & soles)
            if _joints_apart(model, int(model.geom_bodyid[a]), int(model.geom_bodyid[b])) > 2]


def _joints_apart(model: mujoco.MjModel, a: int, b: int) -> int:
    """How many bodies lie between two bodies along the kinematic tree, plus one (a parent and child: 1).

    Bodies two joints apart (the pelvis and a hip's second link) overlap around their joints by design;
    avoiding them would lock the joint between."""
    def ancestors(body):
        chain = [body]
        while body:
            body = int(model.body_parentid[body])
            chain.append(body)
        return chain
    up_a, up_b = ancestors(a), ancestors(b)
    common = next(x for x in up_a if x in up_b)
    return up_a.index(common) + up_b.index(common)


class HumanoidIK:
    """IK solver for one humanoid; call :meth:`solve` frame by frame in order."""

    def __init__(self, robot: Robot, settings: dict, fps: float):
        self.robot = robot
        self.settings = settings
        s, h = settings, settings["humanoid"]
        self.configuration = mink.Configuration(robot.model)
        self.configuration.update(robot.qpos_default.copy())
        frame = robot.keypoints
        self.pelvis_task = mink.FrameTask(robot.trunk.name, robot.trunk.kind, h["pelvis_position_cost"],
                                          h["pelvis_orientation_cost"])
        chest = frame["chest"]
        self.chest_task = mink.FrameTask(chest.name, chest.kind, 0.0, h["chest_orientation_cost"])
        self.foot_tasks = [mink.FrameTask(f.name, f.kind, s["foot_cost"], h["foot_orientation_cost"])
                           for f in robot.feet]
        self.head_task = mink.FrameTask(frame["head"].name, frame["head"].kind, h["head_cost"], 0.0)
        self.hand_frames = [frame[hand] for _, _, hand in HUMAN_ARMS]
        self.hand_tasks = [mink.FrameTask(f.name, f.kind, h["hand_cost"], 0.0) for f in self.hand_frames]
        self.elbow_tasks = [mink.FrameTask(frame[elbow].name, frame[elbow].kind, h["limb_cost"], 0.0)
                            for _, elbow, _ in HUMAN_ARMS]
        self.knee_tasks = [mink.FrameTask(frame[knee].name, frame[knee].kind, h["limb_cost"], 0.0)
                           for knee in ("left_knee", "right_knee")]
        self.sole_geoms = [g for sole in standing_sole_geoms(robot) for g in sole]
        self.posture_task = mink.PostureTask(robot.model, cost=s["posture_cost"])
        self.posture_task.set_target(robot.qpos_default)
        # A joint speed of v costs what a joint error of v / fps would: the same weight at any frame rate.
        self.continuity_task = mink.PostureTask(robot.model, cost=h["continuity_cost"] * fps)
        self.tasks = [self.pelvis_task, self.chest_task, *self.foot_tasks, *self.hand_tasks, *self.elbow_tasks,
                      *self.knee_tasks, self.posture_task, self.continuity_task]
        if h["head_cost"] > 0:  # off by default: a head rigid on the torso follows the chest (schema)
            self.tasks.append(self.head_task)
        self.limits = [mink.ConfigurationLimit(robot.model)]
        collision = h["self_collision"]
        pairs = self_collision_pairs(robot)
        if collision["enabled"] and pairs:
            self.limits.append(mink.CollisionAvoidanceLimit(
                robot.model, pairs, gain=collision["gain"],
                minimum_distance_from_collisions=collision["minimum_distance"],
                collision_detection_distance=collision["detection_distance"],
                bound_relaxation=-collision["separation_speed"]))
        self.iterations = 0
        self.first_frame = True

    def solve(self, pelvis: tuple[np.ndarray, np.ndarray], chest_rotation: np.ndarray,
              feet: list[tuple[np.ndarray, np.ndarray]], head: np.ndarray, elbows: np.ndarray,
              hands: np.ndarray, knees: np.ndarray, standing: bool) -> np.ndarray:
        """Joint configuration ``qpos`` for one frame.

        ``pelvis`` and each of ``feet`` are (position, rotation matrix) in the world; ``head`` a position,
        ``elbows``, ``hands`` and ``knees`` positions ``[2, 3]`` (left, right); ``standing``: the source
        has a foot on the ground.
        """
        s = self.settings
        if self.first_frame:  # start at the clip's pelvis pose rather than leap there from the origin
            q = self.configuration.q.copy()
            q[:3] = pelvis[0]
            mujoco.mju_mat2Quat(q[3:7], pelvis[1].reshape(-1))
            self.configuration.update(q)
            self.first_frame = False
        self.continuity_task.set_target(self.configuration.q)
        self.pelvis_task.set_target(_pose(*pelvis))
        self.chest_task.set_target(_pose(np.zeros(3), chest_rotation))
        self.head_task.set_target(mink.SE3.from_translation(head))
        for task, (position, rotation) in zip(self.foot_tasks, feet):
            task.set_target(_pose(position, rotation))
        for tasks, targets in ((self.elbow_tasks, elbows), (self.hand_tasks, hands), (self.knee_tasks, knees)):
            for task, target in zip(tasks, targets):
                task.set_target(mink.SE3.from_translation(target))

        data = self.configuration.data
        for _ in range(s["max_iterations"]):
            error = max(max(np.linalg.norm(f.position(data) - p) for f, (p, _) in zip(self.robot.feet, feet)),
                        max(np.linalg.norm(f.position(data) - h) for f, h in zip(self.hand_frames, hands)))
            if error < s["tolerance"]:
                break
            velocity = mink.solve_ik(self.configuration, self.tasks, 1.0, s["solver"], damping=s["humanoid"]["damping"],
                                     limits=self.limits)
            self.configuration.integrate_inplace(velocity, 1.0)
            self.iterations += 1
            if np.abs(velocity).max() < s["humanoid"]["min_step"]:
                break  # the weighted targets are as close as they get (some may be out of reach)
        self._put_on_the_ground(standing)
        return self.configuration.q.copy()

    def _put_on_the_ground(self, standing: bool) -> None:
        """Move the whole robot up or down so its lowest sole point is on the ground: up whenever it is
        under it, down only while the source stands.

        Where the targets ask for more than the legs can give (a kick at full stretch, a lunge), the IK's
        compromise may tilt a standing foot into the floor; a robot floating a few millimetres is a
        smaller error than one standing in the ground. A landing foot may also lag its target by a few
        millimetres (the continuity cost) while the source already stands. The next frame starts from
        the moved pose.
        """
        data = self.configuration.data
        lowest = min(lowest_point(self.robot.model, data, g) for g in self.sole_geoms)
        if lowest < 0.0 or standing:
            q = self.configuration.q.copy()
            q[2] -= lowest
            self.configuration.update(q)


def _pose(position: np.ndarray, rotation: np.ndarray) -> mink.SE3:
    return mink.SE3.from_rotation_and_translation(mink.SO3.from_matrix(rotation), position)
