"""Experts that label states with actions.

- reference tracker: the PD target is the reference's next frame, i.e. action =
  (q_ref[k + 1] - q_default) / action_scale; the robot's own PD law does the rest;
- policy: a saved brax policy (BC or PPO parameters), deterministic.
"""

from __future__ import annotations

from pathlib import Path

import jax


def reference_tracker(env):
    """Expert for an :class:`~locomimic.envs.imitation.ImitationEnv` (batched state)."""

    def act(state) -> jax.Array:
        return jax.vmap(lambda clip, frame: env.tracker_action({"clip": clip, "frame": frame}))(
            state.info["clip"], state.info["frame"])

    return act


def saved_policy(path: Path, observation_size: int, action_size: int, policy_settings: dict):
    """Expert from policy parameters saved by the bc or train stage."""
    from locomimic.policy import load_policy_params, make_inference_fn

    params = load_policy_params(path)
    inference = make_inference_fn(observation_size, action_size, policy_settings)(params, deterministic=True)

    def act(state) -> jax.Array:
        return inference(state.obs, jax.random.PRNGKey(0))[0]

    return act
