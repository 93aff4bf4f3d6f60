"""Offline behaviour cloning with flax + optax, in the exact parameter layout brax PPO restores.

- Observations are normalised by brax's ``running_statistics`` state, fitted on the training split.
- The policy is the network ``make_ppo_networks`` builds; BC fits its deterministic action
  (``tanh`` of the Gaussian mean, what ``deterministic=True`` inference returns) to the expert's
  actions by mean squared error. The head's scale outputs are then set to a constant
  ``initial_std`` (``bc.initial_std``, per task): left at their initialisation (about 0.7 before
  ``tanh``) PPO's first rollouts would be so noisy that its first updates undo the cloned gait, and
  the noise PPO starts with is about the noise it ends with, under which its policy learns to act.
- The value network is fitted to discounted returns of the demonstrations, so PPO's first updates
  see sensible advantages instead of ones from a random critic.
- Episodes, not samples, are split into training and validation sets; training stops when the
  validation loss has not improved for ``patience`` epochs, keeping the best parameters.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import jax
import jax.numpy as jp
import numpy as np
import optax
from brax.training.acme import running_statistics

from locomimic.demos import DemoDataset
from locomimic.policy import empty_normalizer, make_networks, with_constant_std
from locomimic.progress import Progress

log = logging.getLogger("locomimic")


@dataclass
class BCResult:
    params: tuple  # (normalizer_params, policy_params, value_params)
    history: list[dict]
    metrics: dict


def discounted_returns(rewards: np.ndarray, episode_ids: np.ndarray, discount: float) -> np.ndarray:
    """Return-to-go within each episode (episodes are contiguous in the dataset)."""
    returns = np.zeros_like(rewards, dtype=np.float64)
    running = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        if i == len(rewards) - 1 or episode_ids[i + 1] != episode_ids[i]:
            running = 0.0
        running = rewards[i] + discount * running
        returns[i] = running
    return returns.astype(np.float32)


def split_episodes(episode_ids: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices of training and validation episodes (at least one episode each)."""
    episodes = np.unique(episode_ids)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(episodes)
    count = min(max(1, int(round(fraction * len(episodes)))), max(len(episodes) - 1, 1))
    validation = np.isin(episode_ids, shuffled[:count])
    if validation.all():  # a single episode: hold out its last part instead
        validation = np.arange(len(episode_ids)) >= int(len(episode_ids) * (1 - fraction))
    return np.flatnonzero(~validation), np.flatnonzero(validation)


def r_squared(predicted: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination of all action dimensions together (each about its own mean)."""
    residual = np.sum((target - predicted) ** 2)
    total = np.sum((target - target.mean(axis=0)) ** 2)
    return float(1.0 - residual / max(total, 1e-12))


def fit_normalizer(observations) -> running_statistics.RunningStatisticsState:
    """brax's observation normaliser, fitted on ``observations`` (one batch of ``[N, obs]``)."""
    return running_statistics.update(empty_normalizer(observations.shape[1]), jp.asarray(observations))


def train_bc(data: DemoDataset, policy_settings: dict, settings: dict, seed: int, initial_std: float,
             normalizer_fn=fit_normalizer) -> BCResult:
    """Fit the policy (and value) networks to ``data``; the policy leaves with exploration noise ``initial_std``
    (the task's ``bc.initial_std``). ``normalizer_fn`` makes the observation normaliser from the training
    split's observations (a task whose inputs the demonstrations do not vary overrides it)."""
    obs_size, act_size = data.observations.shape[1], data.actions.shape[1]
    networks = make_networks(obs_size, act_size, policy_settings)
    distribution = networks.parametric_action_distribution
    train_idx, val_idx = split_episodes(data.episode_ids, settings["validation_fraction"], seed)
    obs = jp.asarray(data.observations)
    actions = jp.asarray(data.actions)
    returns = jp.asarray(discounted_returns(data.rewards, data.episode_ids, settings["value_discount"]))

    normalizer = normalizer_fn(obs[train_idx])
    key_policy, key_value, key_shuffle = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = {"policy": networks.policy_network.init(key_policy), "value": networks.value_network.init(key_value)}
    optimizer = optax.adam(settings["learning_rate"])
    opt_state = optimizer.init(params)

    def losses(params, batch_obs, batch_actions, batch_returns):
        logits = networks.policy_network.apply(normalizer, params["policy"], batch_obs)
        policy_loss = jp.mean((distribution.mode(logits) - batch_actions) ** 2)
        values = networks.value_network.apply(normalizer, params["value"], batch_obs)
        value_loss = jp.mean((values - batch_returns) ** 2)
        return policy_loss, value_loss

    @jax.jit
    def train_step(params, opt_state, idx):
        def total(p):
            policy_loss, value_loss = losses(p, obs[idx], actions[idx], returns[idx])
            return policy_loss + value_loss, (policy_loss, value_loss)

        grads, (policy_loss, value_loss) = jax.grad(total, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, policy_loss, value_loss

    @jax.jit
    def predict(params, batch_obs):
        return distribution.mode(networks.policy_network.apply(normalizer, params["policy"], batch_obs))

    batch = min(settings["batch_size"], len(train_idx))
    batches_per_epoch = max(len(train_idx) // batch, 1)
    best = (np.inf, params, 0)
    history = []
    progress = Progress("bc", settings["max_epochs"], "epochs", every_s=10.0)
    start = time.perf_counter()
    for epoch in range(1, settings["max_epochs"] + 1):
        key_shuffle, key = jax.random.split(key_shuffle)
        order = np.asarray(jax.random.permutation(key, jp.asarray(train_idx)))
        epoch_start = time.perf_counter()
        train_losses = []
        for b in range(batches_per_epoch):
            params, opt_state, policy_loss, value_loss = train_step(params, opt_state, jp.asarray(order[b * batch:(b + 1) * batch]))
            train_losses.append((policy_loss, value_loss))
        train_policy, train_value = np.mean(jax.device_get(train_losses), axis=0)
        val_policy, val_value = (float(x) for x in losses(params, obs[val_idx], actions[val_idx], returns[val_idx]))
        samples_per_s = batches_per_epoch * batch / (time.perf_counter() - epoch_start)
        history.append({"epoch": epoch, "train_loss": float(train_policy), "validation_loss": val_policy,
                        "train_value_loss": float(train_value), "validation_value_loss": val_value,
                        "samples_per_second": samples_per_s})
        progress.update()
        if val_policy < best[0]:
            best = (val_policy, params, epoch)
        elif epoch - best[2] >= settings["patience"]:
            log.info("early stop at epoch %d: validation loss has not improved since epoch %d", epoch, best[2])
            break

    params = {**best[1], "policy": with_constant_std(best[1]["policy"], data.actions.shape[1], initial_std)}
    predicted = np.asarray(predict(params, obs[val_idx]))
    metrics = {
        "validation_r2": r_squared(predicted, np.asarray(actions[val_idx])),
        "validation_loss": float(best[0]),
        "best_epoch": best[2],
        "epochs": len(history),
        "train_samples": int(len(train_idx)),
        "validation_samples": int(len(val_idx)),
        "train_seconds": time.perf_counter() - start,
        "samples_per_second": float(np.median([h["samples_per_second"] for h in history])),
    }
    log.info("BC: validation R^2 %.3f after %d epochs (best %d)", metrics["validation_r2"], len(history), best[2])
    return BCResult((normalizer, params["policy"], params["value"]), history, metrics)
