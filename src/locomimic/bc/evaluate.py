"""Closed-loop evaluation of a policy against the expert, on the same seeds and randomised models."""

from __future__ import annotations

import numpy as np

from locomimic.envs.rollout import rollout
from locomimic.evaluate.metrics import episode_rms, first_episode_failures, first_episode_mask


def first_episode_stats(record: dict[str, np.ndarray], dt: float) -> dict:
    """Survival and tracking over each environment's first episode, averaged over the episodes, with the
    evaluation's definitions (:mod:`locomimic.evaluate.metrics`): the same policy gets the same numbers
    from BC's check as from the evaluate stage. ``root_error``/``joint_error`` are the imitation env's
    per-step metrics (root distance to the reference, RMS over joints)."""
    lengths, mask = first_episode_mask(record["dones"])
    return {
        "survival_time_mean": float(lengths.mean() * dt),
        "survival_rate": float(1.0 - first_episode_failures(record, lengths).mean()),
        "root_position_error_mean": float((np.where(mask, record["root_error"], 0.0).sum(axis=1) / lengths).mean()),
        "joint_rmse_mean": float(episode_rms(record["joint_error"], mask).mean()),
        "return_mean": float((record["rewards"] * mask).sum(axis=1).mean()),
    }


def compare_closed_loop(env, policy_act, expert_act, env_settings: dict, num_envs: int, seed: int) -> dict:
    """Roll both out for one full episode length from the same starts; report both and their ratio."""
    steps = env_settings["episode_length"]
    policy = first_episode_stats(rollout(env, policy_act, env_settings, num_envs, steps, seed, label="eval policy"), env.dt)
    expert = first_episode_stats(rollout(env, expert_act, env_settings, num_envs, steps, seed, label="eval expert"), env.dt)
    return {
        "policy": policy,
        "expert": expert,
        "survival_ratio": policy["survival_time_mean"] / max(expert["survival_time_mean"], 1e-9),
        "episodes": num_envs,
        "episode_seconds": steps * env.dt,
    }
