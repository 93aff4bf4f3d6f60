"""Experts that label states with actions (``demos.expert``).

- ``reference``, the reference tracker: the PD target is the reference's next frame, i.e. action =
  (q_ref[k + 1] - q_default) / action_scale (zero with ``env.imitation.action_origin: reference``); the
  robot's own PD law does the rest. Open loop in the trunk: enough for generated gaits, not for real
  motion capture (measured on the AI4Animation dog trot: the default robot lags at half the clip's
  speed and strays from it within half a second);
- ``ppo_scratch``, bootstrapping: the motion's own PPO run from scratch on the imitation task, which
  learns to keep the robot on a real clip (the closed loop the tracker lacks); BC then clones it and
  PPO from BC goes on from there;
- ``policy``, any saved brax policy (BC or PPO parameters, ``demos.policy_path``).

Policies act deterministically (their mean action).
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax

from locomimic.errors import LocomimicError


def reference_tracker(env):
    """Expert for an :class:`~locomimic.envs.imitation.ImitationEnv` (batched state)."""

    def act(state) -> jax.Array:
        return jax.vmap(lambda clip, frame: env.tracker_action({"clip": clip, "frame": frame}))(
            state.info["clip"], state.info["frame"])

    return act


def make_expert(env, policy_path: Path | None, policy_settings: dict):
    """The expert of ``demos.expert``: a saved policy when its parameters are given, else the tracker."""
    if policy_path is None:
        return reference_tracker(env)
    return saved_policy(Path(policy_path), env.observation_size, env.action_size, policy_settings)


def saved_policy(path: Path, observation_size: int, action_size: int, policy_settings: dict):
    """Expert from policy parameters saved by the bc or train stage (refused when made for another env)."""
    from locomimic.policy import check_params, deterministic_act, load_policy_params

    params = load_policy_params(path)
    check_params(params, path, observation_size, action_size, policy_settings)
    return functools.partial(deterministic_act(observation_size, action_size, policy_settings), params=params)


def check_expert(summary: dict, max_failure_rate: float, source: str | Path) -> None:
    """The quality gate of ``demos.max_failure_rate``: refuse demonstrations whose expert fails too often.

    BC clones whatever the expert does; an expert that strays from the clip in most episodes (the reference
    tracker on real motion capture, or a PPO expert that has not learned the clip yet) makes a BC policy, and
    a PPO-from-BC start, that look like results but imitate nothing. ``source`` is what the error names: the
    expert's parameter file, or the clip the reference tracker follows.
    """
    rate = summary["failure_rate"]
    if rate > max_failure_rate:
        raise LocomimicError(source, (
            f"the demonstrations' expert failed in {rate:.0%} of {summary['episodes']} episodes (mean "
            f"{summary['mean_episode_length']:.0f} steps; falls {summary['fall_rate']:.0%}), more than "
            f"demos.max_failure_rate {max_failure_rate:.0%}: BC would clone an expert that cannot follow this "
            "motion. Use a better expert (a PPO expert trained longer, train.num_timesteps; instead of the reference "
            "tracker, demos.expert: ppo_scratch), or raise demos.max_failure_rate to go on anyway"))
