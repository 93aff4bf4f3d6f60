"""Per-frame whole-body IK with mink: trunk pose, foot positions, posture regularisation, joint limits.

Each frame starts from the previous frame's joint angles (warm start) with the floating base moved to
the frame's target root pose, so a few Gauss-Newton steps usually suffice; iteration stops once every
foot is within ``tolerance`` of its target or the step stops making progress.
"""

from __future__ import annotations

import mink
import mujoco
import numpy as np

from locomimic.robots import Robot


class FootIK:
    """IK solver for one robot; call :meth:`solve` frame by frame in order."""

    def __init__(self, robot: Robot, settings: dict):
        self.robot = robot
        self.settings = settings
        self.configuration = mink.Configuration(robot.model)
        self.configuration.update(robot.qpos_default.copy())
        self.trunk_task = mink.FrameTask(robot.trunk.name, "body", settings["trunk_position_cost"],
                                         settings["trunk_orientation_cost"])
        self.foot_tasks = [mink.FrameTask(f.name, f.kind, settings["foot_cost"], 0.0) for f in robot.feet]
        self.posture_task = mink.PostureTask(robot.model, cost=settings["posture_cost"])
        self.posture_task.set_target(robot.qpos_default)
        self.tasks = [self.trunk_task, *self.foot_tasks, self.posture_task]
        self.limits = [mink.ConfigurationLimit(robot.model)]
        self.iterations = 0

    def solve(self, root_position: np.ndarray, root_rotation: np.ndarray, foot_targets: np.ndarray) -> np.ndarray:
        """Joint configuration ``qpos`` that puts the trunk and feet on their targets for one frame."""
        s = self.settings
        q = self.configuration.q.copy()
        q[:3] = root_position
        mujoco.mju_mat2Quat(q[3:7], root_rotation.reshape(-1))
        self.configuration.update(q)
        self.trunk_task.set_target(mink.SE3.from_rotation_and_translation(
            mink.SO3.from_matrix(root_rotation), root_position))
        for task, target in zip(self.foot_tasks, foot_targets):
            task.set_target(mink.SE3.from_translation(target))

        data = self.configuration.data
        previous = np.inf
        for _ in range(s["max_iterations"]):
            error = max(np.linalg.norm(f.position(data) - t) for f, t in zip(self.robot.feet, foot_targets))
            if error < s["tolerance"] or error > previous - 1e-7:
                break
            previous = error
            velocity = mink.solve_ik(self.configuration, self.tasks, 1.0, s["solver"], damping=s["damping"],
                                     limits=self.limits)
            self.configuration.integrate_inplace(velocity, 1.0)
            self.iterations += 1
        return self.configuration.q.copy()
