"""What both tasks share: the robot in MJX, 50 Hz PD control, proprioception, falls, randomised gains.

Why the PD law lives here and not in the model: position servos and torque motors (Go2) then behave
the same, and the gains can be randomised per episode (``state.info['kp_scale']``) without a model per
environment. At load time every actuator becomes a plain motor limited to the robot's torque limits;
each physics substep applies ``tau = kp (q* - q) - kd dq``, which is what a position servo computes.
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jp
import mujoco
import numpy as np
from ml_collections import config_dict
from mujoco import mjx
from mujoco_playground._src import mjx_env

from locomimic.robots import Robot
from locomimic.robots.feet import colliding_robot_geoms, standing_sole_geoms


def base_config(settings: dict, robot: Robot) -> config_dict.ConfigDict:
    """Playground-style config: timing, action scale, episode length, randomisation ranges."""
    return config_dict.create(
        ctrl_dt=settings["ctrl_dt"],
        sim_dt=sim_dt(robot),
        episode_length=settings["episode_length"],
        action_scale=settings["action_scale"],
        randomization=config_dict.create(**settings["randomization"]),
    )


def sim_dt(robot: Robot) -> float:
    """The physics timestep of the MJX environments: the robot file's ``mjx.timestep``, else the model's."""
    return float(robot.mjx_options.get("timestep", robot.model.opt.timestep))


def to_motor_model(robot: Robot) -> mujoco.MjModel:
    """Copy of the robot's model prepared for MJX.

    - actuators become torque motors (``ctrl`` = torque) limited to the robot's torque limits;
    - only feet and trunk (or, with ``mjx.contacts: feet``, only feet) collide, and only with the world
      (MJX lacks some primitive pairs, such as cylinder-box, and self-collisions cost time without
      changing a walking gait);
    - the robot file's ``mjx`` physics options apply (timestep, solver, cone, impratio, eulerdamp,
      contacts, the feet's contact impedance): the robot file is the one place per-robot MJX settings
      live. MuJoCo C given this model (sim-to-sim) simulates the same physics.
    """
    model = copy.deepcopy(robot.model)  # the registry's model: with control.motors, its added motors
    options = robot.mjx_options
    model.opt.timestep = sim_dt(robot)
    model.opt.iterations = options.get("iterations", model.opt.iterations)
    model.opt.ls_iterations = options.get("ls_iterations", model.opt.ls_iterations)
    model.opt.impratio = options.get("impratio", model.opt.impratio)
    if "cone" in options:
        model.opt.cone = getattr(mujoco.mjtCone, f"mjCONE_{options['cone'].upper()}")
    if "eulerdamp" in options:  # a disable flag in MuJoCo
        no_eulerdamp = int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)
        model.opt.disableflags &= ~no_eulerdamp
        model.opt.disableflags |= 0 if options["eulerdamp"] else no_eulerdamp
    model.actuator_gaintype[:] = mujoco.mjtGain.mjGAIN_FIXED
    model.actuator_biastype[:] = mujoco.mjtBias.mjBIAS_NONE
    model.actuator_gainprm[:] = 0.0
    model.actuator_gainprm[:, 0] = 1.0
    model.actuator_biasprm[:] = 0.0
    limits = robot.torque_limit[robot.actuator_joint]
    model.actuator_ctrllimited[:] = 1
    model.actuator_ctrlrange[:] = np.stack([-limits, limits], axis=1)
    model.actuator_forcelimited[:] = 0
    soles = [g for sole in standing_sole_geoms(robot) for g in sole]  # robot.model's geoms are model's
    _collide_with_world_only(model, robot, soles, trunk=options.get("contacts") != "feet")
    if "foot_solimp" in options:
        model.geom_solimp[soles, :3] = options["foot_solimp"]
    return model


def _collide_with_world_only(model: mujoco.MjModel, robot: Robot, soles: list[int], trunk: bool = True) -> None:
    """The feet's sole geoms and (with ``trunk``) the trunk's collide with the world, nothing else."""
    colliding = np.flatnonzero((model.geom_contype != 0) | (model.geom_conaffinity != 0))
    robot_geoms = colliding_robot_geoms(model)
    keep = {g for g in robot_geoms if trunk and model.geom_bodyid[g] == robot.trunk.id}
    keep.update(soles)
    for g in robot_geoms:
        model.geom_contype[g], model.geom_conaffinity[g] = (1, 0) if g in keep else (0, 0)
    world = [g for g in colliding if model.geom_bodyid[g] == 0]
    model.geom_conaffinity[world] |= 1


class QuadrupedEnv(mjx_env.MjxEnv):
    """Base class: subclasses implement ``reset``/``step`` with the helpers below."""

    def __init__(self, robot: Robot, config: config_dict.ConfigDict):
        super().__init__(config)
        self.robot = robot
        self._mj_model = to_motor_model(robot)
        self._mjx_model = mjx.put_model(self._mj_model)
        self._xml_path = str(robot.model_path)
        self._default_qpos = jp.asarray(robot.qpos_default)
        self._default_joints = jp.asarray(robot.default_joints)
        self._joint_qpos = np.asarray(robot.joint_qpos_adr)
        self._joint_dof = np.asarray(robot.joint_dof_adr)
        self._actuator_joint = np.asarray(robot.actuator_joint)
        self._kp, self._kd = jp.asarray(robot.kp), jp.asarray(robot.kd)
        self._torque_limit = jp.asarray(robot.torque_limit)
        self._trunk = robot.trunk.id
        self._feet = robot.feet
        self._end_effectors = robot.end_effectors
        self._foot_radius = robot.foot_radius
        self._standing_height = float(robot.qpos_default[2])

    # --- MjxEnv accessors -------------------------------------------------------------------------
    @property
    def xml_path(self) -> str:
        return self._xml_path

    @property
    def action_size(self) -> int:
        return self._mjx_model.nu

    @property
    def mj_model(self) -> mujoco.MjModel:
        return self._mj_model

    @property
    def mjx_model(self) -> mjx.Model:
        return self._mjx_model

    # --- control ----------------------------------------------------------------------------------
    action_origin = "default_pose"  # what a zero action targets (the imitation task may use its reference)

    def zero_action_targets(self, info: dict[str, Any]) -> jax.Array:
        """The PD targets of a zero action: the default pose."""
        return self._default_joints

    def joint_targets(self, action: jax.Array, info: dict[str, Any]) -> jax.Array:
        """Action (about [-1, 1]) -> PD targets: an offset from :meth:`zero_action_targets`, scaled."""
        return self.zero_action_targets(info) + action * self._config.action_scale

    def action_for_targets(self, targets: jax.Array, info: dict[str, Any]) -> jax.Array:
        """Inverse of :meth:`joint_targets` (for experts that think in joint angles)."""
        return (targets - self.zero_action_targets(info)) / self._config.action_scale

    def default_pose_action(self, action: jax.Array, info: dict[str, Any]) -> jax.Array:
        """The action about the default pose (the locomotion task's) with the same PD targets as ``action``
        here: ``action`` itself unless this task acts about another origin (residual imitation)."""
        return (self.joint_targets(action, info) - self._default_joints) / self._config.action_scale

    def physics_step(self, data: mjx.Data, targets: jax.Array, info: dict[str, Any]) -> mjx.Data:
        """Advance one control step: ``n_substeps`` physics steps under the PD law."""
        kp = self._kp * info["kp_scale"]
        kd = self._kd * info["kd_scale"]

        def substep(data, _):
            q = data.qpos[self._joint_qpos]
            dq = data.qvel[self._joint_dof]
            tau = jp.clip(kp * (targets - q) - kd * dq, -self._torque_limit, self._torque_limit)
            return mjx.step(self._mjx_model, data.replace(ctrl=tau[self._actuator_joint])), None

        return jax.lax.scan(substep, data, None, length=self.n_substeps)[0]

    def sample_gain_scales(self, rng: jax.Array) -> dict[str, jax.Array]:
        """Per-episode PD gain multipliers (domain randomisation; 1 when disabled)."""
        r = self._config.randomization
        if not r.enabled:
            return {"kp_scale": jp.ones(()), "kd_scale": jp.ones(())}
        k1, k2 = jax.random.split(rng)
        return {"kp_scale": jax.random.uniform(k1, (), minval=r.kp_scale[0], maxval=r.kp_scale[1]),
                "kd_scale": jax.random.uniform(k2, (), minval=r.kd_scale[0], maxval=r.kd_scale[1])}

    @staticmethod
    def restarted(info: dict[str, Any]) -> jax.Array:
        """Whether this step begins a new episode from the batch's cached first state.

        brax's auto-reset (without ``full_reset``) swaps in the episode's first physics state but keeps
        ``info``; it zeroes the episode wrapper's ``info["steps"]``, which is how a task knows to point
        its own bookkeeping (reference frame, counters, histories) back at that state. Unwrapped
        environments never restart on their own.
        """
        return info["steps"] == 0 if "steps" in info else jp.zeros((), bool)

    def make_data(self, qpos: jax.Array, qvel: jax.Array) -> mjx.Data:
        data = mjx.make_data(self._mjx_model).replace(qpos=qpos, qvel=qvel)
        return mjx.forward(self._mjx_model, data)

    # --- state readers ----------------------------------------------------------------------------
    def trunk_rotation(self, data: mjx.Data) -> jax.Array:
        return data.xmat[self._trunk]

    def gravity_in_body(self, data: mjx.Data) -> jax.Array:
        return self.trunk_rotation(data).T @ jp.array([0.0, 0.0, -1.0])

    def angular_velocity_in_body(self, data: mjx.Data) -> jax.Array:
        return data.qvel[3:6]  # free-joint angular velocity is expressed in the body frame

    def linear_velocity_in_body(self, data: mjx.Data) -> jax.Array:
        return self.trunk_rotation(data).T @ data.qvel[0:3]

    def foot_positions(self, data: mjx.Data) -> jax.Array:
        return _frame_positions(data, self._feet)

    def end_effector_positions(self, data: mjx.Data) -> jax.Array:
        return _frame_positions(data, self._end_effectors)

    def foot_contacts(self, data: mjx.Data) -> jax.Array:
        return self.foot_positions(data)[:, 2] < self._foot_radius + 0.005

    @property
    def proprioception_size(self) -> int:
        """Length of :meth:`proprioception`, the part every task's observation starts with."""
        return sum(size for _, size in self.proprioception_terms())

    def proprioception_terms(self) -> list[tuple[str, int]]:
        """(name, size) of each part of :meth:`proprioception`, in order: the layout an exported policy's
        runtime assembles (``locomimic.export.runtime_spec``). Keep it in step with :meth:`proprioception`."""
        joints = len(self._joint_qpos)
        return [("joint_position", joints), ("joint_velocity", joints), ("gravity", 3), ("angular_velocity", 3),
                ("last_action", self.action_size)]

    def proprioception(self, data: mjx.Data, last_action: jax.Array) -> jax.Array:
        """Joint positions (from default) and velocities, gravity and angular velocity in the body, last action."""
        return jp.concatenate([
            data.qpos[self._joint_qpos] - self._default_joints,
            data.qvel[self._joint_dof],
            self.gravity_in_body(data),
            self.angular_velocity_in_body(data),
            last_action,
        ])

    def fallen(self, data: mjx.Data) -> jax.Array:
        """Trunk below half its standing height, or tilted more than 60 degrees."""
        too_low = data.qpos[2] < 0.5 * self._standing_height
        tilted = self.trunk_rotation(data)[2, 2] < 0.5
        return too_low | tilted

    def torques(self, data: mjx.Data) -> jax.Array:
        return data.actuator_force


def _frame_positions(data: mjx.Data, frames) -> jax.Array:
    """World positions ``[frames, 3]`` of robot frames (bodies or sites)."""
    return jp.stack([(data.xpos if f.kind == "body" else data.site_xpos)[f.id] for f in frames])
