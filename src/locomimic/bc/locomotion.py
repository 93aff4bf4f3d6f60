"""Behaviour cloning for the locomotion task, from the same demonstrations as imitation BC.

Why: AMP learns the velocity-command task, whose observation is proprioception plus the command,
with no reference phase. Started from random weights on the default run it never finds the gait the
discriminator rewards (it learns to stand: 0.01 m/s for a 0.6 m/s command after 1.5M steps). The
expert's demonstrations already show the gait: every imitation observation starts with the robot's
proprioception, and every sample records the velocity command its clip answers. Cut to those two
parts they are a locomotion dataset, and the phase the imitation policy was told is recoverable from
the joint angles and velocities (validation R^2 about 0.998 on the default trot). AMP then starts
from that policy and only has to learn to start from standing and to follow other commands.

When the imitation task acts about the reference (``env.imitation.action_origin: reference``), its
actions are corrections to the clip's next pose; the locomotion task acts about the default pose. The
labels and the last action in the observation are turned into the default-pose actions with the same
PD targets (``DemoDataset.action_origins``), clipped to [-1, 1] as the locomotion task's actions are.

The demonstrations hold one command per clip, so their command columns barely vary; a normaliser
fitted on them would divide the command by brax's minimum std (1e-6) and hand AMP a policy that
saturates on its first command off the clip's own. The command part of the normaliser is set from
the task's command range instead (``command_normalizer``), and AMP keeps it there.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from locomimic.bc.evaluate import first_episode_stats
from locomimic.bc.train import fit_normalizer
from locomimic.demos import DemoDataset
from locomimic.envs.locomotion import pin_command_statistics
from locomimic.envs.rollout import rollout
from locomimic.evaluate.metrics import first_episode_mask


def locomotion_demos(data: DemoDataset, proprioception_terms: list[tuple[str, int]]) -> DemoDataset:
    """The demonstrations as the locomotion task observes and acts: proprioception (last action about
    the default pose), then the command; actions about the default pose.

    ``proprioception_terms`` is the locomotion env's :meth:`~locomimic.envs.base.QuadrupedEnv.proprioception_terms`.
    """
    names = [name for name, _ in proprioception_terms]
    ends = np.cumsum([size for _, size in proprioception_terms])
    last = names.index("last_action")
    last_action = slice(ends[last - 1] if last else 0, ends[last])
    proprioception = data.observations[:, :ends[-1]].copy()
    # The last action in sample k was executed at k - 1 (zero at an episode's first sample, as at a reset).
    previous_origins = np.concatenate([np.zeros_like(data.action_origins[:1]), data.action_origins[:-1]])
    continuing = np.concatenate([[False], data.episode_ids[1:] == data.episode_ids[:-1]])
    proprioception[:, last_action] = np.where(
        continuing[:, None], np.clip(proprioception[:, last_action] + previous_origins, -1.0, 1.0),
        proprioception[:, last_action])
    observations = np.concatenate([proprioception, data.commands], axis=1)
    actions = np.clip(data.actions + data.action_origins, -1.0, 1.0)
    return dataclasses.replace(data, observations=observations.astype(np.float32), actions=actions.astype(np.float32))


def command_normalizer(command_low, command_high):
    """``normalizer_fn`` for ``train_bc``: fitted on the demonstrations, except the command inputs, whose
    statistics are those of the task's command range (:func:`locomimic.envs.locomotion.pin_command_statistics`)."""

    def fit(observations):
        return pin_command_statistics(fit_normalizer(observations), command_low, command_high)

    return fit


def locomotion_closed_loop(env, policy_act, env_settings: dict, num_envs: int, seed: int) -> dict:
    """One episode per environment of ``env`` (a LocomotionEnv): survival and speed against the command.

    Give ``env`` a fixed command and reference starts: the cloned policy has only seen mid-stride
    states, so this measures what BC hands to AMP, not whether it can start from standing.
    """
    steps = env_settings["episode_length"]
    record = rollout(env, policy_act, env_settings, num_envs, steps, seed, label="eval locomotion policy",
                     record_fn=lambda state, action, next_state: {
                         "forward_velocity": next_state.metrics["forward_velocity_per_step"],
                         "command": state.info["command"][..., 0]})
    stats = first_episode_stats(record, env.dt)
    _, mask = first_episode_mask(record["dones"])
    speed = float(record["forward_velocity"][mask].mean())
    command = float(record["command"][mask].mean())
    return {
        "survival_time_mean": stats["survival_time_mean"],
        "survival_rate": stats["survival_rate"],
        "forward_velocity_mean": speed,
        "command_forward_velocity_mean": command,
        "speed_ratio": speed / command if command else None,  # undefined for a clip standing still
        "episodes": num_envs,
        "episode_seconds": steps * env.dt,
    }
