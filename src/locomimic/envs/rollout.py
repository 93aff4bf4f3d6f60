"""Batched rollouts of a policy in MJX, in jitted chunks with a progress line (rate and ETA) between them.

Why here, beside the environments: demonstrations, BC's closed-loop checks, evaluation and the style
curve of AMP checkpoints all roll a policy out the same way; one engine keeps their steps, noise and
records identical.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jp
import numpy as np

from locomimic.envs.factory import make_training_env
from locomimic.progress import Progress


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
    key_noise = jax.random.split(jax.random.PRNGKey(seed))[1]
    state = reset(reset_keys(seed, num_envs))
    progress = Progress(label, steps * num_envs, "env steps")
    keys = jax.random.split(key_noise, steps)
    keys = jp.concatenate([keys, jp.repeat(keys[-1:], -steps % chunk, axis=0)])
    records = []
    for start in range(0, steps, chunk):
        state, record = run_chunk(state, keys[start:start + chunk], act_params)
        records.append(jax.device_get(record))
        progress.update(min(chunk, steps - start) * num_envs)
    return {name: np.swapaxes(np.concatenate([r[name] for r in records])[:steps], 0, 1) for name in records[0]}


def reset_keys(seed: int, num_envs: int) -> jax.Array:
    """The keys of a seeded rollout's first states: the plain-MuJoCo engine (``evaluate.mujoco_sim``) starts
    from them too, so both simulators play the same episodes."""
    return jax.random.split(jax.random.split(jax.random.PRNGKey(seed))[0], num_envs)


def step_record(state, action, next_state, record_fn=None) -> dict:
    """What a rollout records of one batched step (the state before it, the action, the step's outcome),
    plus ``record_fn``'s fields: one definition for the MJX engine and the plain-MuJoCo one."""
    zeros = jp.zeros_like(next_state.reward)
    record = {"observations": state.obs, "actions": action, "rewards": next_state.reward,
              "dones": next_state.done, "failures": next_state.metrics["failure"],
              "falls": next_state.metrics["fall"],
              "root_error": next_state.metrics.get("root_error", zeros),
              "joint_error": next_state.metrics.get("joint_error", zeros)}
    if record_fn is not None:
        record.update(record_fn(state, action, next_state))
    return record


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
        return next_state, step_record(state, action, next_state, record_fn)

    @jax.jit
    def run_chunk(state, keys, params):
        return jax.lax.scan(lambda s, k: one_step(s, k, params), state, keys)

    return jax.jit(batched.reset), run_chunk
