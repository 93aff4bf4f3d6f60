"""PPO on an MJX environment with brax's ``ppo.train``, plus what a long run needs around it.

- **Initialisation**: from BC parameters (``restore_params``), or from scratch.
- **Checkpoints and resume**: parameters are saved every ``checkpoint_every`` environment steps
  (:mod:`locomimic.train.checkpoints`). A run that stops part way resumes from its newest checkpoint,
  continuing the step count; a checkpoint folder written under other settings is discarded, so
  changing the config never resumes a stale run (raising ``num_timesteps`` continues it). brax
  restores parameters, not optimiser state.
- **Divergence guard**: NaN or inf in the losses or the parameters stops the run with a clear message;
  only finite parameters are ever saved, so the last checkpoint stays good.
- **Metrics**: a CSV row per evaluation (step, wall time, steps/s, episode reward and each reward
  term, losses), and a progress line with rate and ETA in the log.
- **Devices**: brax splits the batch over all local devices (``pmap``) when there are several.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import shutil
import time
from pathlib import Path

import jax
import numpy as np
from brax.training.agents.ppo import train as brax_ppo
from mujoco_playground import wrapper

from locomimic.envs.randomize import randomization_fn
from locomimic.errors import LocomimicError
from locomimic.io import save_csv
from locomimic.policy import network_factory
from locomimic.progress import Progress
from locomimic.train import checkpoints

log = logging.getLogger("locomimic")

BRAX_PPO_SETTINGS = ("num_envs", "unroll_length", "batch_size", "num_minibatches", "num_updates_per_batch",
                     "learning_rate", "entropy_cost", "discounting", "reward_scaling", "clipping_epsilon",
                     "gae_lambda", "max_grad_norm", "num_eval_envs", "normalize_observations")


class TrainingDiverged(LocomimicError):
    """NaN or inf appeared in training; the run stops and keeps its last good checkpoint."""


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _prepare_checkpoints(folder: Path, fingerprint: str) -> tuple[int, tuple | None]:
    """Newest checkpoint of a run with the same settings, or a clean folder."""
    stamp = folder / "settings.sha256"
    if folder.exists() and (not stamp.exists() or stamp.read_text().strip() != fingerprint):
        log.info("discarding checkpoints in %s: they were written under other settings", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint + "\n")
    newest = checkpoints.latest(folder)
    if newest is None:
        return 0, None
    step, path = newest
    log.info("resuming from checkpoint %s (step %d)", path, step)
    return step, checkpoints.load(path)


def _finite_metrics(metrics: dict) -> list[str]:
    return [k for k, v in metrics.items() if np.issubdtype(np.asarray(v).dtype, np.floating) and not np.isfinite(v).all()]


def train_ppo(env, env_settings: dict, policy_settings: dict, settings: dict, run_dir: Path, seed: int,
              initial_params=None) -> dict:
    """Train (or resume) one PPO run in ``run_dir``; returns the final parameters and a summary."""
    run_dir = Path(run_dir)
    total = int(settings["num_timesteps"])
    # Everything that shapes the run except its length: raising num_timesteps continues a finished run.
    shaping = {k: v for k, v in settings.items() if k not in ("num_timesteps", "checkpoint_every")}
    fingerprint = _fingerprint(env_settings, policy_settings, shaping, seed,
                               None if initial_params is None else _params_digest(initial_params))
    start_step, resumed = _prepare_checkpoints(run_dir / "checkpoints", fingerprint)
    restore = resumed if resumed is not None else initial_params
    csv_path = run_dir / "checkpoints" / "metrics.csv"  # lives with the checkpoints, for resuming
    rows = _previous_rows(csv_path, start_step) if resumed is not None else []

    progress = Progress("train", total, "env steps", every_s=0.0)
    progress.done = start_step
    wall_start = time.perf_counter()
    last = {"step": start_step, "time": wall_start}
    final = {"params": restore}

    def policy_params_fn(step, make_policy, params):
        global_step = start_step + int(step)
        if not checkpoints.all_finite(params):
            raise TrainingDiverged(run_dir, f"NaN or inf in the policy parameters at step {global_step}; "
                                   f"stopped, the last good checkpoint is kept in {run_dir / 'checkpoints'}")
        final["params"] = params
        if global_step > start_step or resumed is None:
            checkpoints.save(run_dir / "checkpoints", global_step, params)

    def progress_fn(step, metrics):
        global_step = start_step + int(step)
        bad = _finite_metrics(metrics)
        if bad:
            raise TrainingDiverged(run_dir, f"NaN or inf in {', '.join(sorted(bad)[:4])} at step {global_step}; "
                                   f"stopped, the last good checkpoint is kept in {run_dir / 'checkpoints'}")
        now = time.perf_counter()
        rate = (global_step - last["step"]) / max(now - last["time"], 1e-9)
        last.update(step=global_step, time=now)
        row = {"step": global_step, "wall_time": round(now - wall_start, 3), "steps_per_second": round(rate, 1)}
        row.update({_column(k): float(np.mean(v)) for k, v in sorted(metrics.items()) if _column(k)})
        rows.append(row)
        save_csv(csv_path, rows)
        progress.done = global_step
        progress.update(0)

    remaining = total - start_step
    log.info("training on %d %s device(s), %d of %d env steps to go", jax.local_device_count(),
             jax.default_backend(), max(remaining, 0), total)
    if remaining > 0:
        randomize = randomization_fn(env_settings["randomization"])
        brax_ppo.train(
            environment=env,
            wrap_env_fn=wrapper.wrap_for_brax_training,
            randomization_fn=randomize,
            num_timesteps=remaining,
            num_evals=max(2, math.ceil(remaining / settings["checkpoint_every"]) + 1),
            episode_length=env_settings["episode_length"],
            network_factory=network_factory(policy_settings),
            restore_params=restore,
            seed=seed + start_step,
            deterministic_eval=True,
            progress_fn=progress_fn,
            policy_params_fn=policy_params_fn,
            **{k: settings[k] for k in BRAX_PPO_SETTINGS},
        )
    return {"params": final["params"], "steps": max(last["step"], start_step), "resumed_from": start_step,
            "rows": rows}


def _params_digest(params) -> str:
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]
    return hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()[:16]


def _column(key: str) -> str | None:
    """brax metric names -> CSV columns (episode rewards and terms, losses, entropy, sps)."""
    if key.startswith("eval/episode_"):
        return key.removeprefix("eval/").replace("/", "_")
    if key in ("eval/avg_episode_length",):
        return "episode_length"
    if key.startswith("training/") and key.endswith(("loss", "sps")):
        return key.removeprefix("training/")
    return None


def _previous_rows(path: Path, up_to: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as handle:
        return [row for row in csv.DictReader(handle) if int(row["step"]) <= up_to]
