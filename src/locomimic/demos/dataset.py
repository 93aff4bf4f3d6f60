"""Demonstration datasets: an expert rolled out in MJX (:mod:`locomimic.envs.rollout`), recorded as
(observation, action, reward, done, episode id, command), and their episode statistics.

The recorded action is the expert's clean action (the label BC learns); the executed action adds
Gaussian noise so the dataset covers states slightly off the expert's path, from which the expert's
answer shows how to come back (the DART recipe).

Each sample also carries the velocity command its clip answers (``ReferenceMotion.commands``) and the
default-pose action its zero action stood for (``action_origins``: zero unless the imitation task acts
about the reference, ``env.imitation.action_origin``), so the same demonstrations can teach a
command-following locomotion policy, which acts about the default pose (:mod:`locomimic.bc.locomotion`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np

from locomimic.envs.rollout import rollout
from locomimic.errors import LocomimicError
from locomimic.io import load_npz, save_npz

FIELDS = ("observations", "actions", "rewards", "dones", "episode_ids", "commands", "action_origins")


@dataclass
class DemoDataset:
    """Flat arrays, episode after episode: ``observations [N, obs]``, ``actions [N, act]``, ``commands [N, 3]``,
    ``action_origins [N, act]`` (``actions + action_origins`` are the same PD targets about the default pose) ..."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    episode_ids: np.ndarray
    commands: np.ndarray
    action_origins: np.ndarray
    failures: np.ndarray

    def save(self, path: Path) -> None:
        save_npz(path, {name: getattr(self, name) for name in (*FIELDS, "failures")})


def load_demos(path: str | Path) -> DemoDataset:
    """Read a demonstration file, checking every field's shape and values."""
    path = Path(path)
    arrays = load_npz(path, "demonstration file")
    missing = [f for f in FIELDS if f not in arrays]
    if missing:
        raise LocomimicError(path, f"missing field(s) {', '.join(missing)}; expected {', '.join(FIELDS)} "
                             "(a file from an older locomimic: generate the demonstrations again)")
    n = len(arrays["observations"])
    if n == 0:
        raise LocomimicError(path, "no samples", location="observations")
    expected_ndim = {"observations": 2, "actions": 2, "rewards": 1, "dones": 1, "episode_ids": 1, "commands": 2,
                     "action_origins": 2}
    for name, ndim in expected_ndim.items():
        array = arrays[name]
        if array.ndim != ndim or len(array) != n:
            raise LocomimicError(path, f"shape {array.shape} does not match {n} samples "
                                 f"(observations {arrays['observations'].shape})", location=name)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            row = int(np.argwhere(~np.isfinite(array))[0][0])
            raise LocomimicError(path, f"non-finite value (NaN or inf) at sample {row}", location=name)
    if arrays["action_origins"].shape != arrays["actions"].shape:
        raise LocomimicError(path, f"shape {arrays['action_origins'].shape} does not match the actions' "
                             f"{arrays['actions'].shape}", location="action_origins")
    failures = arrays.get("failures", np.zeros(n, dtype=bool))
    return DemoDataset(**{f: arrays[f] for f in FIELDS}, failures=failures)


def episode_summary(dones: np.ndarray, rewards: np.ndarray, failures: np.ndarray, falls: np.ndarray) -> dict:
    """Episodes, mean return, fall and failure rates and mean length from ``[env, step]`` arrays.

    A failure is a fall or, in imitation, the root straying too far from the reference.

    Returns and lengths count completed episodes (falls, clip ends and time limits); when none
    completed, the unfinished ones stand in so the numbers are never empty. Fall and failure rates are
    over every episode, the unfinished ones (which had not failed when the rollout stopped) included:
    over completed episodes only, a good expert whose rare failures are the only episodes to end
    within the rollout would read as failing every time.
    """
    lengths, returns, failed, fell = [], [], [], []
    unfinished_lengths, unfinished_returns = [], []
    for env_dones, env_rewards, env_failures, env_falls in zip(dones, rewards, failures, falls):
        start = 0
        for end in np.flatnonzero(env_dones) + 1:
            lengths.append(end - start)
            returns.append(env_rewards[start:end].sum())
            failed.append(bool(env_failures[end - 1]))
            fell.append(bool(env_falls[end - 1]))
            start = end
        if start < len(env_dones):
            unfinished_lengths.append(len(env_dones) - start)
            unfinished_returns.append(env_rewards[start:].sum())
    completed = len(lengths)
    episodes = completed + len(unfinished_lengths)
    lengths = lengths or unfinished_lengths
    returns = returns or unfinished_returns
    return {
        "episodes": episodes,
        "completed_episodes": completed,
        "steps": int(dones.size),
        "mean_return": float(np.mean(returns)),
        "mean_episode_length": float(np.mean(lengths)),
        "fall_rate": float(np.sum(fell)) / episodes,
        "failure_rate": float(np.sum(failed)) / episodes,
    }


def generate_demos(env, act, env_settings: dict, demo_settings: dict, seed: int) -> tuple[DemoDataset, dict]:
    """Roll the expert out and flatten the record episode by episode."""
    record = rollout(env, act, env_settings, demo_settings["num_envs"], demo_settings["steps"], seed,
                     demo_settings["action_noise"], label="demos",
                     record_fn=lambda state, action, next_state: {
                         "commands": env.clip_command(state.info),
                         # rollouts reset fully, so state.info is the info this step acts on
                         "action_origins": jax.vmap(env.default_pose_action)(jp.zeros_like(action), state.info)})
    dones = record["dones"].astype(bool)
    # Episode ids: one counter per environment, offset so ids are unique and increase along the file.
    local = np.concatenate([np.zeros((len(dones), 1), int), np.cumsum(dones[:, :-1], axis=1)], axis=1)
    offsets = np.concatenate([[0], np.cumsum(local[:, -1] + 1)[:-1]])
    flat = {name: value.reshape((-1,) + value.shape[2:]) for name, value in record.items()}
    dataset = DemoDataset(
        observations=flat["observations"].astype(np.float32),
        actions=flat["actions"].astype(np.float32),
        rewards=flat["rewards"].astype(np.float32),
        dones=flat["dones"].astype(bool),
        episode_ids=(local + offsets[:, None]).reshape(-1),
        commands=flat["commands"].astype(np.float32),
        action_origins=flat["action_origins"].astype(np.float32),
        failures=flat["failures"].astype(bool),
    )
    summary = episode_summary(dones, record["rewards"], record["failures"].astype(bool), record["falls"].astype(bool))
    return dataset, summary
