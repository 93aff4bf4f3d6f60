"""Motion imitation: follow a reference motion (DeepMimic / motion_imitation style).

Observation: proprioception, the reference phase (sin, cos), and for each step ``h`` in
``reference_horizon`` the reference's joint angles, its root position relative to the robot's (in
the robot's frame) and its gravity direction. Reward: named terms with scales (pose, joint velocity,
end effectors, root pose, root velocity), each ``exp(-w * error)`` as in Peng et al. 2018/2020.
Episodes start from a random clip at a random phase (reference-state initialisation) and end early
on a fall or when the root strays more than ``max_root_error`` from the reference.

Every ``sync_interval`` seconds the reference is moved onto the robot: its horizontal origin onto the
robot's root and its heading onto the robot's heading (``info["origin"]``, ``info["heading"]``), as
motion_imitation's cycle sync does (Peng et al. 2020). A robot that lags the reference by a few
percent, or turns a few degrees less than a real clip does, is then judged on how it moves, not on
the distance or the angle it lost seconds ago; without the heading, a robot a little off a clip's
heading walks away from the reference sideways and fails on distance although it walks well.

With ``action_origin: reference`` the action is residual: a zero action targets the reference's next
frame (the reference tracker), so the policy learns corrections about the clip instead of the whole
gait about the default pose, and the targets reach the clip's poses wherever they lie.
"""

from __future__ import annotations

import jax
import jax.numpy as jp
from ml_collections import config_dict
from mujoco_playground._src import mjx_env

from locomimic.envs import reference as reference_lib
from locomimic.envs.base import QuadrupedEnv, base_config
from locomimic.envs.rotations import (quat_multiply, quat_to_mat, rotation_angle, wrap_angle, yaw, yaw_quaternion,
                                     yaw_rotation)
from locomimic.robots import Robot


class ImitationEnv(QuadrupedEnv):
    """Follow a :class:`~locomimic.envs.reference.ReferenceMotion`."""

    def __init__(self, robot: Robot, reference: reference_lib.ReferenceMotion, settings: dict):
        task = settings["imitation"]
        config = base_config(settings, robot)
        config.reference_horizon = list(task["reference_horizon"])
        config.max_root_error = task["max_root_error"]
        config.sync_interval = task["sync_interval"]
        config.reward_scales = config_dict.create(**task["reward_scales"])
        config.reward_weights = config_dict.create(**task["reward_weights"])
        super().__init__(robot, config)
        self.reference = reference
        self._ref = reference.to_jax()
        self.action_origin = task["action_origin"]

    def reference_frame(self, info, ahead: int = 0) -> dict[str, jax.Array]:
        """The reference ``ahead`` steps from the current frame, turned by the episode's heading about the
        vertical axis and moved to its origin (both zero until the first sync)."""
        ref = reference_lib.frame(self._ref, info["clip"], info["frame"] + ahead)
        heading, origin = info.get("heading", jp.zeros(())), info.get("origin", jp.zeros(3))
        turn = yaw_rotation(heading)
        qpos = ref["qpos"].at[:3].set(turn @ ref["qpos"][:3] + origin)
        qpos = qpos.at[3:7].set(quat_multiply(yaw_quaternion(heading), ref["qpos"][3:7]))
        qvel = ref["qvel"].at[:3].set(turn @ ref["qvel"][:3])  # free-joint angular velocity is in the body frame
        return {**ref, "qpos": qpos, "qvel": qvel, "feet": ref["feet"] @ turn.T + origin,
                "end_effectors": ref["end_effectors"] @ turn.T + origin}

    def clip_command(self, info) -> jax.Array:
        """The locomotion command the current clip answers (``ReferenceMotion.commands``); batches too."""
        return self._ref["commands"][info["clip"]]

    def zero_action_targets(self, info) -> jax.Array:
        """The PD targets of a zero action: the default pose, or with ``action_origin: reference`` the
        reference's joint angles at the next frame (the frame the control step ends on)."""
        if self.action_origin == "reference":
            return self.reference_frame(info, ahead=1)["qpos"][self._joint_qpos]
        return super().zero_action_targets(info)

    def tracker_action(self, info) -> jax.Array:
        """The reference tracker's action: PD targets on the reference's next frame (clipped to [-1, 1];
        zero when the actions are about the reference)."""
        target = self.reference_frame(info, ahead=1)["qpos"][self._joint_qpos]
        return jp.clip(self.action_for_targets(target, info), -1.0, 1.0)

    def _synced_anchor(self, data, info) -> tuple[jax.Array, jax.Array]:
        """Every ``sync_interval`` seconds, (origin, heading) that put the reference's root under the
        robot's, horizontally, facing the robot's heading; otherwise the current ones."""
        interval = int(round(self._config.sync_interval / self.dt))
        if interval <= 0:
            return info["origin"], info["heading"]
        ref = self.reference_frame(info)
        heading = info["heading"] + wrap_angle(yaw(quat_to_mat(data.qpos[3:7])) - yaw(quat_to_mat(ref["qpos"][3:7])))
        raw = reference_lib.frame(self._ref, info["clip"], info["frame"])["qpos"][:3]
        origin = (data.qpos[:3] - yaw_rotation(heading) @ raw).at[2].set(0.0)
        sync = info["frame"] % interval == 0
        return jp.where(sync, origin, info["origin"]), jp.where(sync, heading, info["heading"])

    def reset(self, rng: jax.Array) -> mjx_env.State:
        rng, clip_key, frame_key, gain_key = jax.random.split(rng, 4)
        # the observation looks max(reference_horizon) frames ahead of the next one
        clip, start = reference_lib.sample_starts(self._ref, clip_key, frame_key,
                                                  frames_after=1 + max(self._config.reference_horizon))
        info = {"rng": rng, "clip": clip, "frame": start, "origin": jp.zeros(3), "heading": jp.zeros(()),
                "last_action": jp.zeros(self.action_size), "start_clip": clip, "start_frame": start,
                **self.sample_gain_scales(gain_key)}
        ref = self.reference_frame(info)
        data = self.make_data(ref["qpos"], ref["qvel"])
        metrics = {f"reward/{name}": jp.zeros(()) for name in self._config.reward_weights}
        metrics.update(root_error=jp.zeros(()), joint_error=jp.zeros(()), failure=jp.zeros(()), fall=jp.zeros(()))
        return mjx_env.State(data, self._observation(data, info), jp.zeros(()), jp.zeros(()), metrics, info)

    def step(self, state: mjx_env.State, action: jax.Array) -> mjx_env.State:
        info = dict(state.info)
        restarted = self.restarted(info)
        info["clip"] = jp.where(restarted, info["start_clip"], info["clip"])
        info["frame"] = jp.where(restarted, info["start_frame"], info["frame"])
        info["origin"] = jp.where(restarted, 0.0, info["origin"])
        info["heading"] = jp.where(restarted, 0.0, info["heading"])
        info["last_action"] = jp.where(restarted, 0.0, info["last_action"])
        data = self.physics_step(state.data, self.joint_targets(action, info), info)
        info["frame"] = info["frame"] + 1
        info["last_action"] = action
        info["origin"], info["heading"] = self._synced_anchor(data, info)
        ref = self.reference_frame(info)
        terms = self._reward_terms(data, ref)
        reward = sum(self._config.reward_weights[name] * value for name, value in terms.items())
        root_error = jp.linalg.norm(data.qpos[:3] - ref["qpos"][:3])
        clip_over = (~self._ref["cyclic"][info["clip"]]) & (info["frame"] >= self._ref["lengths"][info["clip"]] - 1)
        fall = self.fallen(data)
        failure = fall | (root_error > self._config.max_root_error)
        done = failure | clip_over
        metrics = {**state.metrics, **{f"reward/{name}": value for name, value in terms.items()}}  # keep wrappers' keys
        metrics["root_error"] = root_error
        metrics["joint_error"] = jp.sqrt(jp.mean((data.qpos[self._joint_qpos] - ref["qpos"][self._joint_qpos]) ** 2))
        metrics["failure"] = failure.astype(jp.float32)
        metrics["fall"] = fall.astype(jp.float32)
        return state.replace(data=data, obs=self._observation(data, info), reward=reward,
                             done=done.astype(jp.float32), metrics=metrics, info=info)

    def _reward_terms(self, data, ref) -> dict[str, jax.Array]:
        s = self._config.reward_scales
        q, dq = data.qpos[self._joint_qpos], data.qvel[self._joint_dof]
        q_ref, dq_ref = ref["qpos"][self._joint_qpos], ref["qvel"][self._joint_dof]
        root, root_ref = data.qpos[:3], ref["qpos"][:3]
        effectors = self.end_effector_positions(data) - root
        effectors_ref = ref["end_effectors"] - root_ref
        rot, rot_ref = self.trunk_rotation(data), quat_to_mat(ref["qpos"][3:7])
        return {
            "pose": jp.exp(-s.pose * jp.sum((q - q_ref) ** 2)),
            "joint_velocity": jp.exp(-s.joint_velocity * jp.sum((dq - dq_ref) ** 2)),
            "end_effector": jp.exp(-s.end_effector * jp.sum((effectors - effectors_ref) ** 2)),
            "root_pose": jp.exp(-s.root_position * jp.sum((root - root_ref) ** 2)
                                - s.root_orientation * rotation_angle(rot, rot_ref) ** 2),
            "root_velocity": jp.exp(-s.root_linear_velocity * jp.sum((data.qvel[:3] - ref["qvel"][:3]) ** 2)
                                    - s.root_angular_velocity * jp.sum((data.qvel[3:6] - ref["qvel"][3:6]) ** 2)),
        }

    def _observation(self, data, info) -> jax.Array:
        rot = self.trunk_rotation(data)
        parts = [self.proprioception(data, info["last_action"])]
        phase = self.reference_frame(info)["phase"] * 2 * jp.pi
        parts.append(jp.array([jp.sin(phase), jp.cos(phase)]))
        for h in self._config.reference_horizon:
            ref = self.reference_frame(info, ahead=h)
            parts += [
                ref["qpos"][self._joint_qpos] - self._default_joints,
                rot.T @ (ref["qpos"][:3] - data.qpos[:3]),
                quat_to_mat(ref["qpos"][3:7]).T @ jp.array([0.0, 0.0, -1.0]),
            ]
        return jp.concatenate(parts)
