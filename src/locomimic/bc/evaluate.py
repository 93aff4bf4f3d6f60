"""Closed-loop evaluation of a policy against the expert, on the same seeds and randomised models."""

from __future__ import annotations

import numpy as np

from locomimic.envs.rollout import rollout


def first_episode_mask(dones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of each environment's first episode and the ``[env, step]`` mask of its steps."""
    dones = dones.astype(bool)
    steps = dones.shape[1]
    lengths = np.where(dones.any(axis=1), dones.argmax(axis=1) + 1, steps)
    return lengths, np.arange(steps)[None, :] < lengths[:, None]


def first_episode_stats(record: dict[str, np.ndarray], dt: float) -> dict:
    """Survival time and tracking errors over each environment's first episode."""
    dones = record["dones"].astype(bool)
    lengths, mask = first_episode_mask(dones)
    fell = np.array([bool(record["failures"][i, n - 1]) and dones[i, n - 1] for i, n in enumerate(lengths)])
    return {
        "survival_time_mean": float(lengths.mean() * dt),
        "survival_rate": float(1.0 - fell.mean()),
        "root_error_mean": float(record["root_error"][mask].mean()),
        "joint_error_mean": float(record["joint_error"][mask].mean()),
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
