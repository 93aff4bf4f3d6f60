"""PPO on an MJX environment with brax's ``ppo.train``: from BC parameters (``restore_params``) or scratch.

The run folder (checkpoints, resume, metrics CSV, divergence guard) is :class:`~locomimic.train.run.TrainingRun`;
brax restores parameters, not optimiser state. brax splits the batch over all local devices
(``pmap``) when there are several.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import jax
import numpy as np
from brax.training.agents.ppo import train as brax_ppo
from mujoco_playground import wrapper

from locomimic.envs.randomize import randomization_fn
from locomimic.policy import fresh_params, network_factory
from locomimic.train.run import TrainingRun, params_digest, run_shape

log = logging.getLogger("locomimic")

BRAX_PPO_SETTINGS = ("num_envs", "unroll_length", "batch_size", "num_minibatches", "num_updates_per_batch",
                     "learning_rate", "entropy_cost", "discounting", "reward_scaling", "clipping_epsilon",
                     "gae_lambda", "max_grad_norm", "num_eval_envs", "normalize_observations")


def train_ppo(env, env_settings: dict, policy_settings: dict, settings: dict, run_dir: Path, seed: int,
              initial_params=None) -> dict:
    """Train (or resume) one PPO run in ``run_dir``; returns the final parameters and a summary.

    From scratch (no ``initial_params``) with ``settings["initial_std"]`` set (``train.ppo_scratch``),
    the run starts from :func:`~locomimic.policy.fresh_params` instead of brax's own initialisation."""
    if initial_params is None and settings.get("initial_std") is not None:
        initial_params = fresh_params(int(env.observation_size), env.action_size, policy_settings, seed,
                                      settings["initial_std"])
    run = TrainingRun(run_dir, settings["num_timesteps"], env_settings, policy_settings, run_shape(settings), seed,
                      None if initial_params is None else params_digest(initial_params), tracking=settings.get("tracking"))
    restore = run.resumed if run.resumed is not None else initial_params
    final = {"params": restore}

    def policy_params_fn(step, make_policy, params):
        global_step = run.start_step + int(step)
        final["params"] = params
        if global_step > run.start_step or run.resumed is None:
            run.save_checkpoint(global_step, params)

    def progress_fn(step, metrics):
        run.record(run.start_step + int(step),
                   {_column(k): float(np.mean(v)) for k, v in sorted(metrics.items()) if _column(k)})

    num_evals = max(2, math.ceil(run.remaining / settings["checkpoint_every"]) + 1)
    run.will_run(brax_ppo_steps(run.remaining, num_evals, settings))
    log.info("training on %d %s device(s), %d of %d env steps to go", jax.local_device_count(),
             jax.default_backend(), run.remaining, run.total)
    try:
        if run.remaining > 0:
            brax_ppo.train(
                environment=env,
                wrap_env_fn=wrapper.wrap_for_brax_training,
                randomization_fn=randomization_fn(env_settings["randomization"]),
                num_timesteps=run.remaining,
                num_evals=num_evals,
                episode_length=env_settings["episode_length"],
                network_factory=network_factory(policy_settings),
                restore_params=restore,
                seed=seed + run.start_step,
                deterministic_eval=True,
                progress_fn=progress_fn,
                policy_params_fn=policy_params_fn,
                **{k: settings[k] for k in BRAX_PPO_SETTINGS},
            )
    finally:
        run.close()
    return {"params": final["params"], "steps": run.steps_done, "resumed_from": run.start_step, "rows": run.rows}


def brax_ppo_steps(num_timesteps: int, num_evals: int, settings: dict) -> int:
    """Env steps brax PPO runs for ``num_timesteps``: whole training steps (``batch_size`` x
    ``num_minibatches`` unrolls of ``unroll_length``) in each of its ``num_evals - 1`` segments."""
    if num_timesteps <= 0:
        return 0
    per_training_step = settings["batch_size"] * settings["num_minibatches"] * settings["unroll_length"]
    segments = max(num_evals - 1, 1)
    return segments * math.ceil(num_timesteps / (segments * per_training_step)) * per_training_step


def _column(key: str) -> str | None:
    """brax metric names -> CSV columns (episode rewards and terms, losses, entropy, sps)."""
    if key.startswith("eval/episode_"):
        return key.removeprefix("eval/").replace("/", "_")
    if key in ("eval/avg_episode_length",):
        return "episode_length"
    if key.startswith("training/") and key.endswith(("loss", "sps")):
        return key.removeprefix("training/")
    return None
