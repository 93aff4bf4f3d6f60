"""Domain randomisation of the model: friction and link masses, one draw per environment.

PD gains are randomised per episode inside the environments (``QuadrupedEnv.sample_gain_scales``).
The function follows the contract of ``mujoco_playground.wrapper.wrap_for_brax_training``:
``(mjx_model, rng[batch]) -> (batched model, in_axes)``.
"""

from __future__ import annotations

import functools

import jax
from mujoco import mjx


def randomize_model(model: mjx.Model, rng: jax.Array, *, friction, mass_scale) -> tuple[mjx.Model, mjx.Model]:
    @jax.vmap
    def draw(key):
        k_friction, k_mass = jax.random.split(key)
        scale = jax.random.uniform(k_friction, (), minval=friction[0], maxval=friction[1])
        geom_friction = model.geom_friction.at[:, 0].multiply(scale)
        masses = model.body_mass * jax.random.uniform(k_mass, (model.nbody,), minval=mass_scale[0], maxval=mass_scale[1])
        return geom_friction, masses

    geom_friction, body_mass = draw(rng)
    in_axes = jax.tree_util.tree_map(lambda _: None, model).tree_replace({"geom_friction": 0, "body_mass": 0})
    return model.tree_replace({"geom_friction": geom_friction, "body_mass": body_mass}), in_axes


def randomization_fn(settings: dict):
    """The randomisation function for a config's ``env.randomization`` section, or None when disabled."""
    if not settings["enabled"]:
        return None
    return functools.partial(randomize_model, friction=tuple(settings["friction_scale"]),
                             mass_scale=tuple(settings["mass_scale"]))
