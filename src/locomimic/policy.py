"""The policy/value networks shared by BC and PPO: exactly what brax's ``make_ppo_networks`` builds.

BC saves ``(normalizer_params, policy_params, value_params)`` with ``brax.io.model.save_params``,
the tuple ``brax.training.agents.ppo.train(restore_params=...)`` accepts, so PPO starts from BC.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from brax.io import model as brax_model
from brax.training.acme import running_statistics, specs
from brax.training.agents.ppo import networks as ppo_networks

from locomimic.errors import LocomimicError
from locomimic.io import atomic_path


def make_networks(observation_size: int, action_size: int, settings: dict):
    """brax PPO networks (tanh-normal policy head, observation normaliser) with the configured sizes."""
    return ppo_networks.make_ppo_networks(
        observation_size,
        action_size,
        preprocess_observations_fn=running_statistics.normalize,
        policy_hidden_layer_sizes=tuple(settings["policy_hidden_layers"]),
        value_hidden_layer_sizes=tuple(settings["value_hidden_layers"]),
    )


def network_factory(settings: dict):
    """``network_factory`` argument for ``ppo.train`` that builds the same networks as BC."""

    def factory(observation_size, action_size, preprocess_observations_fn=running_statistics.normalize, **_):
        return ppo_networks.make_ppo_networks(
            observation_size, action_size, preprocess_observations_fn=preprocess_observations_fn,
            policy_hidden_layer_sizes=tuple(settings["policy_hidden_layers"]),
            value_hidden_layer_sizes=tuple(settings["value_hidden_layers"]))

    return factory


def _last_layer(policy_params: dict) -> str:
    return max(policy_params["params"], key=lambda name: int(name.rsplit("_", 1)[-1]))


def with_constant_std(policy_params: dict, action_size: int, std: float, min_std: float = 0.001) -> dict:
    """Make the tanh-normal head's scale ``std`` everywhere: zero weights, bias ``softplus^-1(std - min_std)``.

    brax's ``NormalTanhDistribution`` computes ``scale = softplus(raw) + min_std`` from the last
    ``action_size`` outputs of the policy network.
    """
    layers = dict(policy_params["params"])
    last = _last_layer(policy_params)
    kernel, bias = layers[last]["kernel"], layers[last]["bias"]
    raw = float(np.log(np.expm1(std - min_std)))
    layers[last] = {"kernel": kernel.at[:, action_size:].set(0.0), "bias": bias.at[action_size:].set(raw)}
    return {**policy_params, "params": layers}


def empty_normalizer(size: int) -> running_statistics.RunningStatisticsState:
    """brax's running observation statistics for ``size`` inputs, before any observation (mean 0, std 1)."""
    return running_statistics.init_state(specs.Array((size,), np.dtype("float32")))


def fresh_params(observation_size: int, action_size: int, settings: dict, seed: int, initial_std: float,
                 mean_scale: float = 0.01):
    """Randomly initialised ``(normalizer, policy, value)`` parameters for PPO from scratch, with a quiet start.

    brax's own initialisation starts the tanh-normal policy with a scale of about 0.7 and a mean that is
    a random function of the observation (about 0.5 in size): on imitation, where a zero action is a
    sensible gait (the default pose, or with residual actions the reference tracker), that buries the
    signal in noise. Here the mean layer's weights are scaled by ``mean_scale`` (the first actions are
    close to zero; Andrychowicz et al. 2021 recommend 0.01) and the scale starts at ``initial_std``
    everywhere, as PPO from BC starts (``bc.initial_std``).
    """
    networks = make_networks(observation_size, action_size, settings)
    policy_key, value_key = jax.random.split(jax.random.PRNGKey(seed))
    policy = networks.policy_network.init(policy_key)
    layers = dict(policy["params"])
    last = _last_layer(policy)
    kernel = layers[last]["kernel"]
    layers[last] = {**layers[last], "kernel": kernel.at[:, :action_size].multiply(mean_scale)}
    policy = with_constant_std({**policy, "params": layers}, action_size, initial_std)
    return empty_normalizer(observation_size), policy, networks.value_network.init(value_key)


def make_inference_fn(observation_size: int, action_size: int, settings: dict):
    return ppo_networks.make_inference_fn(make_networks(observation_size, action_size, settings))


def deterministic_act(observation_size: int, action_size: int, settings: dict):
    """``act(state, params)``: the policy's deterministic actions (the tanh of its Gaussian's mean) for a
    batch of states, with the parameters as an argument so one traced program serves every parameter
    set (see :func:`locomimic.envs.rollout.rollout`); bind them with ``functools.partial`` otherwise."""
    make_policy = make_inference_fn(observation_size, action_size, settings)

    def act(state, params):
        return make_policy(params, deterministic=True)(state.obs, jax.random.PRNGKey(0))[0]

    return act


def save_policy_params(path: str | Path, params) -> None:
    with atomic_path(path) as tmp:
        brax_model.save_params(str(tmp), params)


def load_policy_params(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise LocomimicError(path, "policy parameters not found")
    try:
        params = brax_model.load_params(str(path))
    except Exception as exc:  # pickle raises many types for a corrupt file
        raise LocomimicError(path, f"not a readable policy parameter file: {exc}") from None
    if not (isinstance(params, (tuple, list)) and len(params) == 3):
        raise LocomimicError(path, "expected (normalizer, policy, value) parameters")
    if not all_finite(params):  # a diverged run's NaN policy would otherwise "survive" every episode
        raise LocomimicError(path, "holds non-finite (NaN or inf) parameters: the run that wrote them diverged")
    return params


def all_finite(params) -> bool:
    """Whether every floating-point array of a parameter tree is finite."""
    return all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree_util.tree_leaves(params)
               if np.issubdtype(np.asarray(leaf).dtype, np.floating))


def check_params(params, path: str | Path, observation_size: int, action_size: int, settings: dict) -> None:
    """Refuse parameters whose input, output or hidden sizes differ from what the environment needs."""
    try:
        normalizer, policy, _ = params
        observed = int(np.shape(normalizer.mean)[0])
        layers = policy["params"]
        kernels = [np.shape(layers[name]["kernel"]) for name in sorted(layers, key=lambda n: int(n.rsplit("_", 1)[1]))]
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise LocomimicError(path, f"unexpected parameter layout ({exc}): not a brax PPO policy") from None
    produced = kernels[-1][1] // 2  # tanh-normal head: mean and scale per action
    if observed != observation_size or kernels[0][0] != observation_size or produced != action_size:
        raise LocomimicError(path, f"made for observations of size {observed} and {produced} actions, but the "
                             f"environment has {observation_size} and {action_size}: the robot model or the "
                             "env settings changed since training; train this policy again")
    hidden = [shape[1] for shape in kernels[:-1]]
    if hidden != list(settings["policy_hidden_layers"]):
        raise LocomimicError(path, f"hidden layers {hidden} differ from policy.policy_hidden_layers "
                             f"{list(settings['policy_hidden_layers'])}: train this policy again")
