"""The AMP discriminator: a flax MLP over motion-feature histories, its loss, style reward and replay.

Following the AMP paper (Peng et al. 2021) and its public code bases (MimicKit, IsaacLab):

- **Input**: a history of ``H`` motion-feature frames (:mod:`locomimic.envs.motion_features`),
  flattened and normalised by brax's ``running_statistics`` (fitted on reference and policy samples).
- **Loss**: least squares (``lsq``: reference -> +1, policy -> -1, the paper's choice) or binary
  cross-entropy on logits (``bce``, GAIL's); plus a **gradient penalty** on reference samples
  (``w/2 * E||grad_x D(x)||^2``), which keeps the discriminator smooth where the policy must climb,
  **logit regularisation** (L2 of the output layer's weights) and weight decay on the hidden layers.
- **Style reward**: ``max(0, 1 - (d - 1)^2 / 4)`` for ``lsq``, ``-log(1 - sigmoid(d))`` for ``bce``.
- **Replay buffer**: half of each batch of policy samples comes from earlier iterations, so the
  discriminator does not forget what the policy did before and chase only its newest behaviour.
"""

from __future__ import annotations

from typing import Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jp
from brax.training.acme import running_statistics

from locomimic.policy import empty_normalizer


class Discriminator(nn.Module):
    """MLP from a normalised, flattened feature history to one logit."""

    hidden_layers: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, width in enumerate(self.hidden_layers):
            x = nn.relu(nn.Dense(width, name=f"hidden_{i}")(x))
        return nn.Dense(1, name="logit")(x)[..., 0]


@flax.struct.dataclass
class DiscriminatorState:
    params: dict
    normalizer: running_statistics.RunningStatisticsState


def init_state(module: Discriminator, key: jax.Array, input_size: int) -> DiscriminatorState:
    params = module.init(key, jp.zeros((1, input_size)))
    return DiscriminatorState(params, empty_normalizer(input_size))


def logits(module: Discriminator, params: dict, normalizer, histories: jax.Array) -> jax.Array:
    """Logits of ``[..., H, F]`` histories."""
    flat = histories.reshape(histories.shape[:-2] + (-1,))
    return module.apply(params, running_statistics.normalize(flat, normalizer))


def style_reward(logit: jax.Array, loss: str) -> jax.Array:
    """Per-transition style reward in [0, 1] (lsq) or [0, ~9] (bce, clipped)."""
    if loss == "lsq":
        return jp.maximum(0.0, 1.0 - 0.25 * (logit - 1.0) ** 2)
    return -jp.log(jp.maximum(1.0 - jax.nn.sigmoid(logit), 1e-4))


def loss_fn(params: dict, module: Discriminator, normalizer, reference: jax.Array, policy: jax.Array,
            settings: dict) -> tuple[jax.Array, dict]:
    """Discriminator loss on a batch of reference and policy histories, with its diagnostics."""
    flat_ref = running_statistics.normalize(reference.reshape(len(reference), -1), normalizer)
    flat_pol = running_statistics.normalize(policy.reshape(len(policy), -1), normalizer)
    logit_ref = module.apply(params, flat_ref)
    logit_pol = module.apply(params, flat_pol)
    if settings["loss"] == "lsq":
        adversarial = 0.5 * (jp.mean((logit_ref - 1.0) ** 2) + jp.mean((logit_pol + 1.0) ** 2))
    else:
        adversarial = jp.mean(jax.nn.softplus(-logit_ref)) + jp.mean(jax.nn.softplus(logit_pol))
    grads = jax.vmap(jax.grad(lambda x: module.apply(params, x)))(flat_ref)
    gradient_penalty = jp.mean(jp.sum(grads ** 2, axis=-1))
    layers = params["params"]
    logit_norm = jp.sum(layers["logit"]["kernel"] ** 2)
    weight_norm = sum(jp.sum(layer["kernel"] ** 2) for name, layer in layers.items() if name != "logit")
    total = (adversarial + 0.5 * settings["gradient_penalty"] * gradient_penalty
             + settings["logit_regularization"] * logit_norm + settings["weight_decay"] * weight_norm)
    metrics = {
        "disc_loss": adversarial,
        "disc_gradient_penalty": gradient_penalty,
        "disc_reference_logit": jp.mean(logit_ref),
        "disc_policy_logit": jp.mean(logit_pol),
        "disc_reference_accuracy": jp.mean(logit_ref > 0),
        "disc_policy_accuracy": jp.mean(logit_pol < 0),
    }
    return total, metrics


@flax.struct.dataclass
class ReplayBuffer:
    """A ring buffer of policy histories ``[capacity, H, F]``."""

    data: jax.Array
    size: jax.Array
    position: jax.Array

    @classmethod
    def create(cls, capacity: int, history: int, features: int) -> "ReplayBuffer":
        return cls(jp.zeros((capacity, history, features)), jp.zeros((), jp.int32), jp.zeros((), jp.int32))

    def insert(self, samples: jax.Array) -> "ReplayBuffer":
        capacity = self.data.shape[0]
        samples = samples[-capacity:]
        index = (self.position + jp.arange(len(samples))) % capacity
        return ReplayBuffer(self.data.at[index].set(samples), jp.minimum(self.size + len(samples), capacity),
                            (self.position + len(samples)) % capacity)

    def sample(self, key: jax.Array, count: int) -> jax.Array:
        return self.data[jax.random.randint(key, (count,), 0, jp.maximum(self.size, 1))]
