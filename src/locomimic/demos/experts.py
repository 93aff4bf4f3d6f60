"""Experts that label states with actions.

- reference tracker: the PD target is the reference's next frame, i.e. action =
  (q_ref[k + 1] - q_default) / action_scale; the robot's own PD law does the rest;
- policy: a saved brax policy (BC or PPO parameters), deterministic.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jp

from locomimic.envs import reference as reference_lib


def reference_tracker(env):
    """Expert for an :class:`~locomimic.envs.imitation.ImitationEnv` (batched state)."""
    joints = env._joint_qpos

    def act(state) -> jax.Array:
        def one(clip, frame):
            target = reference_lib.frame(env._ref, clip, frame + 1)["qpos"][joints]
            return env.action_for_targets(target)

        return jp.clip(jax.vmap(one)(state.info["clip"], state.info["frame"]), -1.0, 1.0)

    return act


def saved_policy(path: Path, observation_size: int, action_size: int, policy_settings: dict):
    """Expert from policy parameters saved by the bc or train stage."""
    from locomimic.policy import load_policy_params, make_inference_fn

    params = load_policy_params(path)
    inference = make_inference_fn(observation_size, action_size, policy_settings)(params, deterministic=True)

    def act(state) -> jax.Array:
        return inference(state.obs, jax.random.PRNGKey(0))[0]

    return act
