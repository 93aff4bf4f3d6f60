"""Velocity-command locomotion: follow (forward, lateral, yaw-rate) commands with the usual regularisers.

Modelled on MuJoCo Playground's Go1 joystick task: exponential tracking rewards for the commanded
planar and yaw velocities, penalties on vertical and roll/pitch velocity, tilt, torques and action
rate, a feet-air-time bonus for stepping, and a termination penalty. Used by AMP (style comes from the
discriminator) and by PPO without a reference.

With ``feature_history > 0`` the state's ``info["motion_history"]`` carries the last that many frames
of motion features (:mod:`locomimic.envs.motion_features`), which AMP's discriminator scores.

Given a reference motion, a fraction ``reference_init`` of episodes starts from a random reference
frame (pose and velocity; the AMP paper's reference state initialisation) instead of the standing
pose: the policy meets mid-stride states from its first iteration, rather than having to discover
walking before the discriminator can tell it anything useful.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jp
import numpy as np
from ml_collections import config_dict
from mujoco_playground._src import mjx_env

from locomimic.envs import motion_features
from locomimic.envs import reference as reference_lib
from locomimic.envs.base import QuadrupedEnv, base_config
from locomimic.errors import LocomimicError
from locomimic.robots import Robot


# The command a locomotion policy follows (``info["command"]``, the observation's last three values):
# m/s, m/s and rad/s in the trunk's heading frame. Play's schedules and the export's runtime spec name these axes.
COMMAND_AXES = ("forward", "lateral", "yaw_rate")


def command_range(task: dict, reference: reference_lib.ReferenceMotion | None) -> tuple[list[float], list[float]]:
    """The (low, high) corners of the box the task draws its commands from.

    ``command_low``/``command_high`` when the config sets them; by default (null) the motion's own
    commands, from its slowest to its fastest clip, widened by ``command_margin``: a policy with a motion
    prior (AMP, locomotion BC) is asked for the speeds its clips move at, whatever the clip (a 0.6 m/s
    generated trot or a 2.4 m/s canter), and evaluated at their mean (``ReferenceMotion.mean_command``).
    """
    if task["command_low"] is not None:
        return [float(c) for c in task["command_low"]], [float(c) for c in task["command_high"]]
    if reference is None:
        raise LocomimicError(None, "env.locomotion.command_low/command_high are null (the motion's own commands), "
                             "but this locomotion environment has no motion: set them, or give it the motion's clips")
    margin = np.asarray(task["command_margin"], dtype=np.float64)
    low, high = reference.commands.min(axis=0) - margin, reference.commands.max(axis=0) + margin
    return [float(c) for c in low], [float(c) for c in high]


# A command component whose range is narrower than this (m/s or rad/s) is one the task holds fixed: the
# lateral and yaw mean commands of a few straight clips differ by micrometres per second.
FIXED_COMMAND_SPAN = 0.01


def command_statistics(low, high) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the command inputs for the observation normaliser: those of the uniform
    distribution the task draws commands from, std 1 for a component it holds fixed."""
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    std = np.where(high - low >= FIXED_COMMAND_SPAN, (high - low) / np.sqrt(12.0), 1.0)
    return (low + high) / 2, std.astype(np.float32)


def pin_command_statistics(normalizer, low, high):
    """``normalizer`` (brax's running statistics over the locomotion observation) with its last three
    inputs, the command, set to :func:`command_statistics`.

    Why: a running estimate of a component the task barely varies shrinks its std towards brax's floor
    (1e-6), so a command a hair off the trained one becomes a huge input. Measured on an AMP policy of
    three generated trots: lateral and yaw commands of 0 instead of the motion's -6e-6 m/s and 5e-5
    rad/s (std 2e-6 and 5e-6) became inputs of 3.7 and -10.5, and the policy that walks at 0.61 m/s
    stood still. Pinned, each command input is scaled by its range, whatever the training saw.
    """
    mean, std = command_statistics(low, high)
    count = normalizer.count  # brax keeps it as a UInt64 (hi, lo) pair
    count = jp.float32(count.hi) * jp.float32(2.0**32) + jp.float32(count.lo) if hasattr(count, "hi") else count
    return normalizer.replace(mean=jp.asarray(normalizer.mean).at[-3:].set(mean),
                              std=jp.asarray(normalizer.std).at[-3:].set(std),
                              summed_variance=jp.asarray(normalizer.summed_variance).at[-3:].set(std**2 * count))


def with_fixed_command(env_settings: dict, command: list[float]) -> dict:
    """Env settings whose locomotion task always draws ``command``."""
    locomotion = {**env_settings["locomotion"], "command_low": list(command), "command_high": list(command)}
    return {**env_settings, "locomotion": locomotion}


class LocomotionEnv(QuadrupedEnv):
    """Follow velocity commands, resampled every ``command_interval`` seconds."""

    def __init__(self, robot: Robot, settings: dict, feature_history: int = 0,
                 reference: reference_lib.ReferenceMotion | None = None):
        task = settings["locomotion"]
        config = base_config(settings, robot)
        config.command_low, config.command_high = command_range(task, reference)
        config.command_interval = task["command_interval"]
        config.tracking_sigma = task["tracking_sigma"]
        config.air_time_target = task["air_time_target"]
        config.reward_scales = config_dict.create(**task["reward_scales"])
        super().__init__(robot, config)
        self.feature_history = feature_history
        self.reference_init = task["reference_init"] if reference is not None else 0.0
        if self.reference_init > 0:
            self._ref = reference.to_jax()

    def without_reference_init(self) -> "LocomotionEnv":
        """The same task with every episode starting from the standing pose (for evaluation)."""
        env = copy.copy(self)
        env.reference_init = 0.0
        return env

    def motion_features(self, data) -> jax.Array:
        return motion_features.motion_features(data.qpos, data.qvel, self.end_effector_positions(data),
                                               self._joint_qpos, self._joint_dof)

    @property
    def command_bounds(self) -> tuple[list[float], list[float]]:
        """The (low, high) corners of the box commands are drawn from (:func:`command_range`)."""
        return list(self._config.command_low), list(self._config.command_high)

    def sample_command(self, rng: jax.Array) -> jax.Array:
        return jax.random.uniform(rng, (3,), minval=jp.asarray(self._config.command_low),
                                  maxval=jp.asarray(self._config.command_high))

    def reset(self, rng: jax.Array) -> mjx_env.State:
        rng, command_key, noise_key, gain_key, start_key = jax.random.split(rng, 5)
        qpos = self._default_qpos.at[self._joint_qpos].add(
            jax.random.uniform(noise_key, (len(self._joint_qpos),), minval=-0.1, maxval=0.1))
        qvel = jp.zeros(self._mjx_model.nv)
        if self.reference_init > 0:
            qpos, qvel = self._maybe_reference_start(start_key, qpos, qvel)
        data = self.make_data(qpos, qvel)
        info = {"rng": rng, "command": self.sample_command(command_key), "step": jp.zeros((), jp.int32),
                "last_action": jp.zeros(self.action_size), "air_time": jp.zeros(len(self._feet)),
                **self.sample_gain_scales(gain_key)}
        if self.feature_history:
            info["motion_history"] = motion_features.start_history(self.motion_features(data), self.feature_history)
        metrics = {f"reward/{name}": jp.zeros(()) for name in self._config.reward_scales}
        metrics["failure"] = metrics["fall"] = jp.zeros(())
        metrics["forward_velocity_per_step"] = metrics["command_forward_velocity_per_step"] = jp.zeros(())
        return mjx_env.State(data, self._observation(data, info), jp.zeros(()), jp.zeros(()), metrics, info)

    def _maybe_reference_start(self, rng: jax.Array, qpos: jax.Array, qvel: jax.Array):
        """With probability ``reference_init``, a random reference frame (over the origin) instead."""
        use_key, clip_key, frame_key = jax.random.split(rng, 3)
        ref = reference_lib.frame(self._ref, *reference_lib.sample_starts(self._ref, clip_key, frame_key))
        use = jax.random.uniform(use_key) < self.reference_init
        return jp.where(use, ref["qpos"].at[:2].set(0.0), qpos), jp.where(use, ref["qvel"], qvel)

    def step(self, state: mjx_env.State, action: jax.Array) -> mjx_env.State:
        info = dict(state.info)
        restarted = self.restarted(info)
        info["step"] = jp.where(restarted, 0, info["step"])
        info["last_action"] = jp.where(restarted, 0.0, info["last_action"])
        info["air_time"] = jp.where(restarted, 0.0, info["air_time"])
        data = self.physics_step(state.data, self.joint_targets(action, info), info)
        fallen = self.fallen(data)
        contact = self.foot_contacts(data)
        first_contact = (info["air_time"] > 0) & contact
        info["air_time"] = info["air_time"] + self.dt
        terms = self._reward_terms(data, action, info, first_contact, fallen)
        reward = sum(self._config.reward_scales[name] * value for name, value in terms.items()) * self.dt
        info["air_time"] = jp.where(contact, 0.0, info["air_time"])
        info["last_action"] = action
        info["step"] = info["step"] + 1  # "step", not "steps": brax's episode wrapper owns info["steps"]
        info["rng"], key = jax.random.split(info["rng"])
        interval = int(round(self._config.command_interval / self.dt))
        info["command"] = jp.where(info["step"] % interval == 0, self.sample_command(key), info["command"])
        if self.feature_history:
            info["motion_history"] = motion_features.push_history(
                info["motion_history"], self.motion_features(data), restarted, self.motion_features(state.data))
        metrics = {**state.metrics, **{f"reward/{name}": value for name, value in terms.items()}}  # keep wrappers' keys
        metrics["failure"] = metrics["fall"] = fallen.astype(jp.float32)
        # brax's evaluator divides metrics named *_per_step by the episode length: episode means.
        metrics["forward_velocity_per_step"] = self.linear_velocity_in_body(data)[0]
        metrics["command_forward_velocity_per_step"] = state.info["command"][0]
        return state.replace(data=data, obs=self._observation(data, info), reward=reward,
                             done=fallen.astype(jp.float32), metrics=metrics, info=info)

    def _reward_terms(self, data, action, info, first_contact, fallen) -> dict[str, jax.Array]:
        command = info["command"]
        linvel = self.linear_velocity_in_body(data)
        angvel = self.angular_velocity_in_body(data)
        sigma = self._config.tracking_sigma
        return {
            "tracking_linear_velocity": jp.exp(-jp.sum((command[:2] - linvel[:2]) ** 2) / sigma),
            "tracking_angular_velocity": jp.exp(-((command[2] - angvel[2]) ** 2) / sigma),
            "linear_velocity_z": linvel[2] ** 2,
            "angular_velocity_xy": jp.sum(angvel[:2] ** 2),
            "orientation": jp.sum(self.gravity_in_body(data)[:2] ** 2),
            "torques": jp.sum(self.torques(data) ** 2),
            "action_rate": jp.sum((action - info["last_action"]) ** 2),
            "feet_air_time": jp.sum((info["air_time"] - self._config.air_time_target) * first_contact)
            * (jp.linalg.norm(command[:2]) > 0.05),
            "termination": fallen.astype(jp.float32),
        }

    def _observation(self, data, info) -> jax.Array:
        return jp.concatenate([self.proprioception(data, info["last_action"]), info["command"]])
