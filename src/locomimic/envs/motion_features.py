"""Motion features for the AMP discriminator, computed the same way from simulation and from clips.

A frame's features, all in the trunk's frame so they do not depend on where the robot is or which
way it faces (what makes a motion look like a trot, not where it happens):

====================  ====  ===============================================================
joint positions         J   the robot's joint angles
joint velocities        J
root height             1   trunk height above the ground
root linear velocity    3   in the body frame
root angular velocity   3   in the body frame (MuJoCo's free-joint ``qvel[3:6]`` already is)
gravity direction       3   in the body frame: the trunk's roll and pitch (the AMP paper uses
                            the root rotation the same way)
end-effector positions 3E   relative to the root, in the body frame (the robot file's
                            ``end_effectors``: the feet, a humanoid's hands too)
====================  ====  ===============================================================

The discriminator scores *histories*: ``H`` consecutive frames at the control rate (``H = 2`` is
the AMP paper's state transition). :func:`motion_features` takes ``(qpos, qvel, end_effectors)`` so simulated
states and retargeted reference frames go through the very same code.
"""

from __future__ import annotations

import jax
import jax.numpy as jp

from locomimic.envs import reference as reference_lib
from locomimic.envs.rotations import quat_to_mat


def feature_size(num_joints: int, num_end_effectors: int) -> int:
    return 2 * num_joints + 1 + 3 + 3 + 3 + 3 * num_end_effectors


def motion_features(qpos: jax.Array, qvel: jax.Array, end_effectors: jax.Array, joint_qpos, joint_dof) -> jax.Array:
    """Features of one frame from the free-joint robot's ``qpos``, ``qvel`` and world end-effector positions."""
    rot = quat_to_mat(qpos[3:7])
    return jp.concatenate([
        qpos[joint_qpos],
        qvel[joint_dof],
        qpos[2:3],
        rot.T @ qvel[0:3],
        qvel[3:6],
        rot.T @ jp.array([0.0, 0.0, -1.0]),
        ((end_effectors - qpos[:3]) @ rot).reshape(-1),
    ])


def start_history(features: jax.Array, length: int) -> jax.Array:
    """The history of a state with no past (an episode's first state): its features repeated."""
    return jp.tile(features[None], (length, 1))


def push_history(history: jax.Array, features: jax.Array, restart: jax.Array, current: jax.Array) -> jax.Array:
    """Append ``features`` to ``history`` (oldest first, fixed length).

    ``restart`` says the step began from a fresh state whose features are ``current``: the history
    then starts over from that state instead of mixing two episodes.
    """
    history = jp.where(restart, start_history(current, history.shape[0]), history)
    return jp.concatenate([history[1:], features[None]])


class ReferenceHistories:
    """Samples feature histories from a reference motion, uniformly over its frames (jit-friendly)."""

    def __init__(self, reference: reference_lib.ReferenceMotion, joint_qpos, joint_dof, length: int):
        self._ref = reference.to_jax()
        self._joint_qpos, self._joint_dof = joint_qpos, joint_dof
        self.length = length

    def _history(self, clip: jax.Array, start: jax.Array) -> jax.Array:
        def one(k):
            f = reference_lib.frame(self._ref, clip, k)
            return motion_features(f["qpos"], f["qvel"], f["end_effectors"], self._joint_qpos, self._joint_dof)

        return jax.vmap(one)(start + jp.arange(self.length))

    def sample(self, rng: jax.Array, count: int) -> jax.Array:
        """``[count, length, features]`` histories; non-cyclic clips only start where a whole one fits."""
        clip_key, frame_key = jax.random.split(rng)
        clips, starts = reference_lib.sample_starts(self._ref, clip_key, frame_key, (count,), self.length - 1)
        return jax.vmap(self._history)(clips, starts)
