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


def quat_multiply(a: jax.Array, b: jax.Array) -> jax.Array:
    """Hamilton product ``a * b`` of quaternions ``(w, x, y, z)``: rotation ``b``, then ``a``."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return jp.array([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ])


def yaw(rotation: jax.Array) -> jax.Array:
    """Heading (rad) of a rotation matrix: the angle of its forward (x) axis in the horizontal plane."""
    return jp.arctan2(rotation[1, 0], rotation[0, 0])


def wrap_angle(angle: jax.Array) -> jax.Array:
    """The same angle in [-pi, pi)."""
    return (angle + jp.pi) % (2 * jp.pi) - jp.pi


def yaw_rotation(angle: jax.Array) -> jax.Array:
    """Rotation matrix about the vertical axis."""
    c, s = jp.cos(angle), jp.sin(angle)
    return jp.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def yaw_quaternion(angle: jax.Array) -> jax.Array:
    """Quaternion ``(w, x, y, z)`` of a rotation about the vertical axis."""
    return jp.array([jp.cos(angle / 2), 0.0, 0.0, jp.sin(angle / 2)])
