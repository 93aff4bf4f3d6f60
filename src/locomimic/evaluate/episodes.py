"""Seeded evaluation episodes of one policy: the environment of its task, the rollout, the metrics.

Every policy is rolled out from the same seeded starts (and the same randomised models when
``evaluate.randomization`` is on) for one episode per environment, so differences in the metrics come
from the policies, not from the draw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np

from locomimic.demos.experts import reference_tracker
from locomimic.envs.rollout import rollout
from locomimic.envs import make_env
from locomimic.envs.locomotion import with_fixed_command
from locomimic.envs.reference import load_reference
from locomimic.errors import LocomimicError
from locomimic.evaluate.metrics import episode_metrics, mean_ci
from locomimic.evaluate.policies import locomotion_command, policy_act, task_for
from locomimic.policy import load_policy_params

log = logging.getLogger("locomimic")


@dataclass
class PolicySetup:
    """A policy ready to roll out: its task's environment, its batched act function (and parameters,
    None for the reference tracker), the command used (locomotion)."""

    env: object
    act: object
    params: object
    task: str
    env_settings: dict
    command: list[float] | None
    source: str  # the parameter file, or the policy's name for the reference tracker (for errors)


def setup_policy(policy: str, params_path: Path | None, summary: dict, robot, clip_paths: list[Path],
                 env_settings: dict, policy_settings: dict, settings: dict) -> PolicySetup:
    """The environment and actions of ``policy``: ``reference`` (the PD tracker), ``bc`` or a training run."""
    params = None
    if policy != "reference":  # a missing or corrupt file fails before the environment is built
        if params_path is None:
            raise LocomimicError(None, f"policy {policy!r} needs its parameter file (--params)")
        params = load_policy_params(params_path)
    task = task_for(policy, summary)
    env_settings, command = evaluation_env_settings(env_settings, settings, task, clip_paths, robot)
    env = make_env(task, robot, env_settings, clip_paths)
    if params is None:
        act = reference_tracker(env)
    else:
        act = policy_act(params, params_path, env.observation_size, env.action_size, policy_settings,
                         settings["deterministic"])
    return PolicySetup(env, act, params, task, env_settings, command, str(params_path or policy))


def evaluation_env_settings(env_settings: dict, settings: dict, task: str, clip_paths: list[Path],
                            robot) -> tuple[dict, list | None]:
    """Env settings for evaluating a policy of ``task``, and the fixed command (locomotion only)."""
    env_settings = {**env_settings, "randomization": {**env_settings["randomization"],
                                                      "enabled": env_settings["randomization"]["enabled"]
                                                      and settings["randomization"]}}
    if task != "locomotion":
        return env_settings, None
    command = locomotion_command(load_reference(clip_paths, robot, env_settings["ctrl_dt"]), settings)
    return with_fixed_command(env_settings, command), command


def evaluation_record(env, task: str):
    """``record_fn`` for :func:`locomimic.envs.rollout.rollout`: the state before each step.

    Imitation records the reference at the same frame; locomotion records the command, against which
    the trunk's horizontal velocity (in the trunk frame, as the command is given) is compared.
    """
    robot = env.robot
    joint_qpos = np.asarray(robot.joint_qpos_adr)
    actuator_dof = np.asarray(robot.joint_dof_adr)[np.asarray(robot.actuator_joint)]

    def record(state, action, next_state):
        data = state.data
        out = {
            "qpos": data.qpos,
            "joint_qpos": data.qpos[:, joint_qpos],
            "feet": jax.vmap(env.foot_positions)(data),
            "power": jp.abs(data.actuator_force * data.qvel[:, actuator_dof]).sum(axis=-1),
        }
        if task == "imitation":
            anchor = {k: state.info[k] for k in ("clip", "frame", "origin", "heading")}
            ref = jax.vmap(env.reference_frame)(anchor)  # the reference the task judges the robot against
            out.update(ref_qpos=ref["qpos"], ref_joint_qpos=ref["qpos"][:, joint_qpos], ref_feet=ref["feet"],
                       velocity=data.qvel[:, :2], target_velocity=ref["qvel"][:, :2], clip=state.info["clip"])
        else:
            out.update(velocity=jax.vmap(env.linear_velocity_in_body)(data)[:, :2],
                       target_velocity=state.info["command"][:, :2])
        return out

    return record


def evaluate_policy(setup: PolicySetup, episodes: int, seed: int,
                    label: str = "evaluate") -> tuple[dict[str, np.ndarray], dict, dict[str, np.ndarray]]:
    """Per-episode metrics (with the ``clip`` each imitation episode started on), their mean with a 95%
    confidence interval over the episodes, and the rollout record (arrays ``[env, step, ...]``, see
    :func:`evaluation_record`)."""
    env = setup.env
    record = rollout(env, setup.act, setup.env_settings, episodes, setup.env_settings["episode_length"], seed,
                     label=label, record_fn=evaluation_record(env, setup.task), act_params=setup.params)
    return (*record_metrics(env, setup.task, record, setup.source), record)


def record_metrics(env, task: str, record: dict[str, np.ndarray], source: str) -> tuple[dict[str, np.ndarray], dict]:
    """Per-episode metrics of an evaluation record and their mean and 95% CI; the MJX evaluation and the
    plain-MuJoCo one (``evaluate.mujoco_sim``) share it, so their tables compare like with like."""
    broken = ~np.isfinite(record["qpos"]).all(axis=tuple(range(1, record["qpos"].ndim)))
    if broken.any():  # metrics of a NaN state would read as a perfect survival
        raise LocomimicError(source, f"the simulation state became non-finite (NaN or inf) in "
                             f"{int(broken.sum())} of {len(broken)} evaluation episodes: the policy's actions "
                             "are not finite or drive the model unstable")
    mass = float(np.sum(env.mj_model.body_mass))
    per_episode = episode_metrics(record, task, env.dt, mass, env.robot.foot_radius)
    summary = {name: mean_ci(values) for name, values in per_episode.items()}
    if "clip" in record:  # a motion library: which clip each episode imitated (it starts on it)
        per_episode["clip"] = np.asarray(env.reference.names)[record["clip"][:, 0]]
    for name, value in summary.items():
        if value["mean"] is None:
            log.warning("%s is undefined in every episode (see the metric's definition)", name)
    return per_episode, summary


def per_clip_summary(per_episode: dict[str, np.ndarray]) -> dict[str, dict]:
    """Mean and 95% CI of every metric over the episodes of each clip (imitation of a motion library).

    Why: a motion's mean hides the clip a policy cannot follow (a turn among straight walks).
    """
    if "clip" not in per_episode:
        return {}
    clips = per_episode["clip"]
    return {str(clip): {name: mean_ci(values[clips == clip]) for name, values in per_episode.items() if name != "clip"}
            for clip in dict.fromkeys(clips.tolist())}
