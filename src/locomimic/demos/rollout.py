"""Batched expert rollouts in MJX, recorded as (observation, action, reward, done, episode id, command).

The recorded action is the expert's clean action (the label BC learns); the executed action adds
Gaussian noise so the dataset covers states slightly off the expert's path, from which the expert's
answer shows how to come back (the DART recipe). Rollouts run in jitted chunks so the log gets a
progress line with rate and ETA between chunks.

Each sample also carries the velocity command its clip answers (``ReferenceMotion.commands``), so the
same demonstrations can teach a command-following locomotion policy (:mod:`locomimic.bc.locomotion`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np

from locomimic.envs import make_training_env
from locomimic.errors import LocomimicError
from locomimic.io import load_npz, save_npz
from locomimic.progress import Progress

FIELDS = ("observations", "actions", "rewards", "dones", "episode_ids", "commands")


@dataclass
class DemoDataset:
    """Flat arrays, episode after episode: ``observations [N, obs]``, ``actions [N, act]``, ``commands [N, 3]`` ..."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    episode_ids: np.ndarray
    commands: np.ndarray
    failures: np.ndarray

    def save(self, path: Path) -> None:
        save_npz(path, {name: getattr(self, name) for name in (*FIELDS, "failures")})


def load_demos(path: str | Path) -> DemoDataset:
    """Read a demonstration file, checking every field's shape and values."""
    path = Path(path)
    arrays = load_npz(path, "demonstration file")
    missing = [f for f in FIELDS if f not in arrays]
    if missing:
        raise LocomimicError(path, f"missing field(s) {', '.join(missing)}; expected {', '.join(FIELDS)}")
    n = len(arrays["observations"])
    if n == 0:
        raise LocomimicError(path, "no samples", location="observations")
    expected_ndim = {"observations": 2, "actions": 2, "rewards": 1, "dones": 1, "episode_ids": 1, "commands": 2}
    for name, ndim in expected_ndim.items():
        array = arrays[name]
        if array.ndim != ndim or len(array) != n:
            raise LocomimicError(path, f"shape {array.shape} does not match {n} samples "
                                 f"(observations {arrays['observations'].shape})", location=name)
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            row = int(np.argwhere(~np.isfinite(array))[0][0])
            raise LocomimicError(path, f"non-finite value (NaN or inf) at sample {row}", location=name)
    failures = arrays.get("failures", np.zeros(n, dtype=bool))
    return DemoDataset(**{f: arrays[f] for f in FIELDS}, failures=failures)


def rollout(env, act, env_settings: dict, num_envs: int, steps: int, seed: int, action_noise: float = 0.0,
            label: str = "rollout", chunk: int = 50, record_fn=None, act_params=None) -> dict[str, np.ndarray]:
    """Run ``act`` (batched state -> action) in ``num_envs`` environments; arrays are ``[env, step, ...]``.

    ``record_fn(state, action, next_state) -> dict`` adds fields to each step's record (evaluation
    and rendering record positions, torques and the reference this way). With ``act_params``, ``act``
    is called as ``act(state, act_params)`` and the parameters are an argument of the jitted rollout
    rather than constants in it, so policies of the same shape share one compilation: within a
    process, calls with the same ``env``, ``act``, ``record_fn`` and sizes reuse one traced program
    (:func:`_program`), and across processes JAX's persistent cache holds it. Every chunk has the
    same length (the last one is padded and cut), so a rollout compiles once.
    """
    chunk = min(chunk, steps)
    reset, run_chunk = _program(env, act, env_settings, num_envs, seed, float(action_noise), record_fn)
    key_reset, key_noise = jax.random.split(jax.random.PRNGKey(seed))
    state = reset(jax.random.split(key_reset, num_envs))
    progress = Progress(label, steps * num_envs, "env steps")
    keys = jax.random.split(key_noise, steps)
    keys = jp.concatenate([keys, jp.repeat(keys[-1:], -steps % chunk, axis=0)])
    records = []
    for start in range(0, steps, chunk):
        state, record = run_chunk(state, keys[start:start + chunk], act_params)
        records.append(jax.device_get(record))
        progress.update(min(chunk, steps - start) * num_envs)
    return {name: np.swapaxes(np.concatenate([r[name] for r in records])[:steps], 0, 1) for name in records[0]}


_PROGRAMS: dict = {}  # the few most recent rollout programs of this process (see _program)
_MAX_PROGRAMS = 4


def _program(env, act, env_settings: dict, num_envs: int, seed: int, action_noise: float, record_fn):
    """The batched env's jitted ``reset`` and chunk of steps, built once per rollout shape.

    Why: tracing and lowering the batched MJX step takes tens of seconds even when JAX's persistent
    cache holds the compiled program, so a caller that rolls out many parameter sets of one policy
    (``act_params``: the style curve over every AMP checkpoint) must not pay it per call.
    """
    key = (env, act, record_fn, json.dumps(env_settings, sort_keys=True, default=str), num_envs, seed, action_noise)
    if key not in _PROGRAMS:
        while len(_PROGRAMS) >= _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[key] = _build_program(env, act, env_settings, num_envs, seed, action_noise, record_fn)
    return _PROGRAMS[key]


def _build_program(env, act, env_settings: dict, num_envs: int, seed: int, action_noise: float, record_fn):
    batched = make_training_env(env, env_settings, num_envs, seed, full_reset=True)

    def one_step(state, key, params):
        action = act(state) if params is None else act(state, params)
        executed = jp.clip(action + action_noise * jax.random.normal(key, action.shape), -1.0, 1.0)
        next_state = batched.step(state, executed)
        record = {"observations": state.obs, "actions": action, "rewards": next_state.reward,
                  "dones": next_state.done, "failures": next_state.metrics["failure"],
                  "falls": next_state.metrics["fall"],
                  "root_error": next_state.metrics.get("root_error", jp.zeros_like(next_state.reward)),
                  "joint_error": next_state.metrics.get("joint_error", jp.zeros_like(next_state.reward))}
        if record_fn is not None:
            record.update(record_fn(state, action, next_state))
        return next_state, record

    @jax.jit
    def run_chunk(state, keys, params):
        return jax.lax.scan(lambda s, k: one_step(s, k, params), state, keys)

    return jax.jit(batched.reset), run_chunk


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
                     record_fn=lambda state, action, next_state: {"commands": env.clip_command(state.info)})
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
        failures=flat["failures"].astype(bool),
    )
    summary = episode_summary(dones, record["rewards"], record["failures"].astype(bool), record["falls"].astype(bool))
    return dataset, summary
