"""Build environments from config: the task, its robot, its reference motion, brax wrappers."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
from mujoco_playground import wrapper

from locomimic.envs.imitation import ImitationEnv
from locomimic.envs.locomotion import LocomotionEnv
from locomimic.envs.randomize import randomization_fn
from locomimic.envs.reference import load_reference
from locomimic.robots import Robot
from locomimic.tasks import TASKS

def make_env(task: str, robot: Robot, settings: dict, clip_paths: list[Path] | None = None,
             feature_history: int = 0, reference=None):
    """One (unbatched) environment: ``imitation`` needs the retargeted clips of its motion.

    ``feature_history`` (locomotion) keeps that many frames of motion features in each state's info,
    for AMP's discriminator; a loaded ``reference`` (locomotion) lets episodes start from its frames.
    """
    if task == "imitation":
        horizon = max(settings["imitation"]["reference_horizon"])
        reference = load_reference(list(clip_paths or []), robot, settings["ctrl_dt"], min_frames=horizon + 2)
        return ImitationEnv(robot, reference, settings)
    if task == "locomotion":
        return LocomotionEnv(robot, settings, feature_history, reference)
    raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")


def make_training_env(env, settings: dict, num_envs: int, seed: int, full_reset: bool = False):
    """Batched env with brax's episode and auto-reset wrappers and per-environment randomised models.

    ``full_reset`` re-runs ``reset`` (a fresh random start) whenever an episode ends, instead of
    returning to the batch's first states; rollouts that record data want the variety.
    """
    return wrapper.wrap_for_brax_training(env, episode_length=settings["episode_length"],
                                          randomization_fn=batch_randomization(settings, num_envs, seed),
                                          full_reset=full_reset)


def batch_randomization(settings: dict, num_envs: int, seed: int):
    """``mjx_model -> (batched model, in_axes)``: the randomised model of each of ``num_envs`` environments
    seeded ``seed``, or None when randomisation is off. The sim-to-sim evaluation (plain MuJoCo) gives its
    environments the same models as :func:`make_training_env` through it."""
    randomize = randomization_fn(settings["randomization"])
    if randomize is None:
        return None
    return functools.partial(randomize, rng=jax.random.split(jax.random.PRNGKey(seed), num_envs))
