"""Rotation helpers shared by the tasks and the motion features (pure ``jax.numpy``)."""

from __future__ import annotations

import jax
import jax.numpy as jp


def quat_to_mat(q: jax.Array) -> jax.Array:
    """Rotation matrix of a unit quaternion ``(w, x, y, z)`` (MuJoCo's convention)."""
    w, x, y, z = q
    return jp.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def rotation_angle(a: jax.Array, b: jax.Array) -> jax.Array:
    """Angle (rad) of the rotation between two rotation matrices."""
    cos = (jp.trace(a.T @ b) - 1.0) / 2.0
    return jp.arccos(jp.clip(cos, -1.0, 1.0))
