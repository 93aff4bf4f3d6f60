"""Which task each policy runs on and how it acts: trained runs, the BC baseline, the reference tracker.

Why one place: the task of a policy decides its environment, its command and which metrics apply;
and a parameter file that no longer fits the robot (its model changed since training) must be refused
with an error naming the file rather than a shape error from deep inside flax.
"""

from __future__ import annotations

from pathlib import Path

import jax

from locomimic.io import load_json
from locomimic.policy import check_params
from locomimic.tasks import algo_task


def task_for(policy: str, summary: dict | None = None) -> str:
    """``amp`` follows velocity commands (``locomotion``); every other policy imitates the motion.

    A training run's ``summary.json`` may name its task, which then wins.
    """
    if summary and summary.get("task"):
        return str(summary["task"])
    return algo_task(policy)


def read_summary(path: str | Path | None) -> dict:
    """A training run's summary.json (empty for baselines), with a clear error when unreadable."""
    if path is None:
        return {}
    return load_json(path, "training summary")


def policy_act(params, path: str | Path, observation_size: int, action_size: int, settings: dict,
               deterministic: bool = True):
    """``act(state, params)``: batched actions of saved parameters (read from ``path``), checked against the env.

    The parameters travel as an argument (see :func:`locomimic.envs.rollout.rollout`). Stochastic
    actions draw their noise from the auto-reset wrapper's per-environment key, which the wrapper
    advances every step, so a seeded rollout stays reproducible.
    """
    from locomimic.policy import deterministic_act, make_inference_fn

    check_params(params, path, observation_size, action_size, settings)
    if deterministic:
        return deterministic_act(observation_size, action_size, settings)
    make_policy = make_inference_fn(observation_size, action_size, settings)

    def act(state, params):
        policy = make_policy(params, deterministic=False)
        keys = state.info["AutoResetWrapper_rng"]
        return jax.vmap(lambda obs, key: policy(obs[None], jax.random.fold_in(key, 1))[0][0])(state.obs, keys)

    return act


def locomotion_command(reference, settings: dict) -> list[float]:
    """The fixed (forward, lateral, yaw) command a locomotion policy is evaluated on.

    ``evaluate.command`` when set, else the motion's own command (``ReferenceMotion.mean_command``, the
    one locomotion BC is checked on), so that a command-following policy (AMP) and the imitation
    policies are asked for the same pace.
    """
    command = settings.get("command")
    return [float(c) for c in command] if command else reference.mean_command
