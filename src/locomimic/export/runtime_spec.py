"""``policy.json``: what a robot-side runtime needs besides the ONNX graph, and the PD law it describes.

Why a file of its own: the graph maps an observation to an action, but a runtime must also assemble the
observation (which terms, in which order, in which units), turn the action into joint targets (scale,
default pose, joint order), run the PD law at the physics rate (gains, torque limits) and query the
policy at the control period. Every number comes from the robot file and the env settings the policy
was trained with; the sim-to-sim evaluation (:mod:`locomimic.evaluate.mujoco_sim`) runs its PD law from
this file, not from the environment, so a missing or wrong field shows up there as a gap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import load_json, save_json

FORMAT = "locomimic-policy/1"

# What each observation term holds (units, frame); the sizes come from the environment.
TERM_DESCRIPTIONS = {
    "joint_position": "joint angles minus the default pose (rad), joint order",
    "joint_velocity": "joint velocities (rad/s), joint order",
    "gravity": "unit gravity direction in the trunk frame (0, 0, -1 when level)",
    "angular_velocity": "trunk angular velocity in the trunk frame (rad/s, the free joint's qvel[3:6])",
    "last_action": "the previous control step's action (zeros at the start of an episode)",
    "command": "velocity command: forward (m/s), lateral (m/s), yaw rate (rad/s), in the trunk's heading frame",
    "reference_phase": "sin and cos of 2 pi x the reference clip's phase",
    "reference_joint_position": "the reference's joint angles minus the default pose (rad), {h} control steps ahead",
    "reference_root_position": "the reference's root position minus the robot's, in the trunk frame (m), {h} steps ahead",
    "reference_gravity": "gravity direction in the reference's trunk frame, {h} steps ahead",
}
PD_LAW = ("every physics step: torque = clip(kp * (target - q) - kd * dq, -torque_limit, torque_limit), "
          "target = origin + action * action.scale, joint order, origin as action.origin says; the policy runs "
          "every control.period")
# What a zero action targets (action.origin): the env's ``action_origin``.
ACTION_ORIGINS = {
    "default_pose": "joint target = default_pose + action * scale (rad), joint order",
    "reference": "joint target = the reference's joint angles one control step ahead (the observation's "
                 "reference_joint_position_1 + default_pose) + action * scale (rad), joint order",
}


def observation_terms(env, task: str, env_settings: dict) -> list[dict]:
    """Name, start, size and meaning of each part of ``env``'s observation, in order.

    The proprioception comes from the environment (``QuadrupedEnv.proprioception_terms``); the task's
    own parts follow its ``_observation``. A layout that does not add up to the observation size is
    refused, so the two cannot drift apart silently (tests compare each slice with the env's values).
    """
    terms = [(name, size, None) for name, size in env.proprioception_terms()]  # (kind, size, steps ahead)
    if task == "locomotion":
        terms.append(("command", 3, None))
    else:
        joints = len(env.robot.joint_names)
        terms.append(("reference_phase", 2, None))
        for h in env_settings["imitation"]["reference_horizon"]:
            terms += [("reference_joint_position", joints, h), ("reference_root_position", 3, h),
                      ("reference_gravity", 3, h)]
    layout, start = [], 0
    for kind, size, ahead in terms:
        layout.append({"name": kind if ahead is None else f"{kind}_{ahead}", "start": start, "size": int(size),
                       "description": TERM_DESCRIPTIONS[kind].format(h=ahead)})
        start += int(size)
    if start != env.observation_size:
        raise LocomimicError(None, f"the {task} observation layout adds up to {start} values but the environment "
                             f"observes {env.observation_size}: update locomimic.export.runtime_spec")
    return layout


def runtime_spec(env, task: str, env_settings: dict, policy: dict, command: dict | None = None) -> dict:
    """The ``policy.json`` document of a policy of ``task`` on ``env``'s robot.

    ``policy`` names it (robot, motion, algo, seed, the ONNX file and its check); ``command`` (locomotion)
    is the range it was trained on and the command it is evaluated at.
    """
    from locomimic.envs.base import sim_dt
    from locomimic.envs.locomotion import COMMAND_AXES
    from locomimic.export.onnx_policy import INPUT, OUTPUT

    robot = env.robot
    spec = {
        "format": FORMAT,
        "policy": {**policy, "task": task, "input": INPUT, "output": OUTPUT},
        "observation": {"size": int(env.observation_size), "terms": observation_terms(env, task, env_settings)},
        "action": {"size": int(env.action_size), "scale": float(env_settings["action_scale"]), "range": [-1.0, 1.0],
                   "origin": env.action_origin, "meaning": ACTION_ORIGINS[env.action_origin]},
        "joints": {"names": list(robot.joint_names), "default_pose": _floats(robot.default_joints),
                   "kp": _floats(robot.kp), "kd": _floats(robot.kd), "torque_limit": _floats(robot.torque_limit)},
        "control": {"period": float(env_settings["ctrl_dt"]), "physics_timestep": sim_dt(robot), "pd_law": PD_LAW,
                    "robot_actuators": robot.actuators},
    }
    if task == "locomotion":
        spec["command"] = {"axes": list(COMMAND_AXES), "units": ["m/s", "m/s", "rad/s"], **(command or {})}
    else:
        spec["reference"] = {"clips": list(env.reference.names),
                             "horizon": list(env_settings["imitation"]["reference_horizon"]),
                             "note": "the observation carries the retargeted reference ahead of the robot: "
                                     "a runtime plays the same clips (results/retarget/) at the control period"}
    return spec


def _floats(values) -> list[float]:
    return [float(v) for v in np.asarray(values).reshape(-1)]


def save_spec(path: str | Path, spec: dict) -> None:
    save_json(path, spec)


def load_spec(path: str | Path) -> dict:
    """A ``policy.json``, with the fields a runtime reads checked to be there."""
    spec = load_json(path, "policy runtime spec")
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise LocomimicError(path, f"expected format {FORMAT!r}: not written by locomimic's export stage")
    for section, fields in (("policy", ("robot", "task")), ("observation", ("size", "terms")),
                            ("action", ("size", "scale")), ("joints", ("names", "default_pose", "kp", "kd",
                                                                        "torque_limit")),
                            ("control", ("period", "physics_timestep"))):
        missing = [f for f in fields if f not in spec.get(section, {})]
        if missing:
            raise LocomimicError(path, f"missing field(s) {', '.join(missing)}", location=section)
    return spec


def check_spec(spec: dict, path: str | Path, env, robot_name: str, task: str) -> None:
    """Refuse a spec made for another robot, task, observation, joint order or action origin than ``env``'s."""
    made_for = spec["policy"]
    if made_for["robot"] != robot_name:
        raise LocomimicError(path, f"exported for robot {made_for['robot']!r}, not {robot_name!r}", location="policy.robot")
    if made_for["task"] != task:
        raise LocomimicError(path, f"exported for the {made_for['task']} task, not {task}", location="policy.task")
    if spec["joints"]["names"] != list(env.robot.joint_names):
        raise LocomimicError(path, f"joint order {spec['joints']['names']} differs from the robot's "
                             f"{list(env.robot.joint_names)}: export the policy again", location="joints.names")
    origin = action_origin(spec)
    if origin != env.action_origin:
        raise LocomimicError(path, f"actions about the {origin}, but the environment's are about the "
                             f"{env.action_origin} (env.imitation.action_origin): export the policy again",
                             location="action.origin")
    if (spec["observation"]["size"], spec["action"]["size"]) != (env.observation_size, env.action_size):
        raise LocomimicError(path, f"observation/action sizes {spec['observation']['size']}/{spec['action']['size']} "
                             f"but the environment has {env.observation_size}/{env.action_size}: the robot or the "
                             "env settings changed since export", location="observation.size")


def action_origin(spec: dict) -> str:
    """What a zero action of the spec's policy targets (specs written before action.origin: the default pose)."""
    return spec["action"].get("origin", "default_pose")


class PDController:
    """The PD law of a spec, batched over episodes: joint targets from actions, torques from joint states.

    ``kp_scale``/``kd_scale`` (per episode) are the evaluation's randomised gain multipliers; a robot
    runtime leaves them at 1.
    """

    def __init__(self, spec: dict):
        joints = spec["joints"]
        self.default_pose = np.asarray(joints["default_pose"], np.float64)
        self.kp, self.kd = np.asarray(joints["kp"], np.float64), np.asarray(joints["kd"], np.float64)
        self.torque_limit = np.asarray(joints["torque_limit"], np.float64)
        self.action_scale = float(spec["action"]["scale"])
        self.origin = action_origin(spec)
        self.substeps = int(round(spec["control"]["period"] / spec["control"]["physics_timestep"]))

    def targets(self, actions: np.ndarray, reference_joints: np.ndarray | None = None) -> np.ndarray:
        """Joint targets of ``actions``; a policy whose actions are about the reference needs the reference's
        joint angles one control step ahead (``reference_joints``, same shape)."""
        if self.origin == "reference":
            if reference_joints is None:
                raise ValueError("this policy's actions are about the reference: pass reference_joints")
            origin = reference_joints
        else:
            origin = self.default_pose
        return origin + np.clip(actions, -1.0, 1.0) * self.action_scale

    def torques(self, targets: np.ndarray, q: np.ndarray, dq: np.ndarray, kp_scale=1.0, kd_scale=1.0) -> np.ndarray:
        kp_scale, kd_scale = np.asarray(kp_scale)[..., None], np.asarray(kd_scale)[..., None]
        tau = self.kp * kp_scale * (targets - q) - self.kd * kd_scale * dq
        return np.clip(tau, -self.torque_limit, self.torque_limit)
