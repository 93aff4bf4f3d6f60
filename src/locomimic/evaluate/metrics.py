"""Per-episode evaluation metrics from a rollout record, and their mean with a 95% confidence interval.

Pure numpy over ``[episode, step, ...]`` arrays, so every metric is defined (and tested) in one place
and the same numbers come out whichever policy produced the record. Each environment of the rollout
contributes its first episode only: later episodes would start from states the policy chose, so
policies would no longer be compared on the same starts.

Positions, velocities and torques are sampled before each control step (``t = 0`` is the start
state); reward, done and failure describe the step taken from there.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

GRAVITY = 9.81
MIN_DISTANCE = 0.01  # m: below this an episode's cost of transport is undefined (it did not travel)

# name -> (unit, what it measures); captions and plots read these.
METRICS = {
    "survival_rate": ("fraction", "episodes that end without a failure (fall, or straying from the reference)"),
    "survival_time": ("s", "time until the episode ended (failure, end of a non-looping clip, or time limit)"),
    "fall_rate": ("fraction", "episodes that end with the trunk low or tilted over 60 degrees"),
    "return": ("reward", "sum of the task's rewards over the episode"),
    "joint_rmse": ("rad", "RMS joint-angle difference to the reference"),
    "foot_error": ("m", "mean distance of each foot to the reference's foot, both relative to their root"),
    "root_position_error": ("m", "mean distance of the root to the reference's root"),
    "root_velocity_error": ("m/s", "mean horizontal root velocity error vs the reference (or the command)"),
    "speed": ("m/s", "mean horizontal root speed"),
    "target_speed": ("m/s", "mean horizontal speed asked for: the reference root's (imitation) or the command's"),
    "cost_of_transport": ("", "mechanical energy sum |tau * qdot| dt over m g times the distance travelled"),
    "action_smoothness": ("action units", "RMS change of the action between consecutive control steps"),
    "foot_slip": ("m/s", "mean horizontal speed of feet in ground contact"),
}
REFERENCE_METRICS = ("joint_rmse", "foot_error", "root_position_error")  # need a time-aligned reference


def first_episode_lengths(dones: np.ndarray) -> np.ndarray:
    """Steps in each environment's first episode (the whole rollout when it never ended)."""
    dones = dones.astype(bool)
    return np.where(dones.any(axis=1), dones.argmax(axis=1) + 1, dones.shape[1])


def first_episode_mask(dones: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of each environment's first episode and the ``[env, step]`` mask of its steps."""
    lengths = first_episode_lengths(dones)
    return lengths, np.arange(dones.shape[1])[None, :] < lengths[:, None]


def first_episode_failures(record: dict[str, np.ndarray], lengths: np.ndarray, key: str = "failures") -> np.ndarray:
    """Whether each environment's first episode ended with ``key`` (a failure, or a fall) set on its last
    step; an episode cut by the rollout's end or the time limit did not."""
    rows, last = np.arange(len(lengths)), lengths - 1
    return record["dones"].astype(bool)[rows, last] & record[key].astype(bool)[rows, last]


def episode_rms(per_step_rms: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RMS over each episode's steps of a per-step RMS (e.g. over joints): ``joint_rmse``'s definition."""
    return np.sqrt(_masked_mean(per_step_rms ** 2, mask))


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over steps (axis 1) where ``mask``; NaN for an episode with no such step."""
    count = mask.sum(axis=1)
    total = np.where(mask, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def episode_metrics(record: dict[str, np.ndarray], task: str, dt: float, mass: float, foot_radius: float) -> dict:
    """Every metric of :data:`METRICS` per episode (arrays of length ``episodes``; NaN where undefined).

    ``record`` holds ``dones, failures, falls, rewards, power [E, T]``, ``qpos [E, T, nq]``,
    ``joint_qpos, actions [E, T, ...]``, ``feet [E, T, F, 3]`` (F feet), and ``velocity``, ``target_velocity
    [E, T, 2]`` (the root's horizontal velocity and the one it should have, in the same frame); for
    ``imitation`` also the reference's ``ref_qpos``, ``ref_joint_qpos`` and ``ref_feet``.
    """
    lengths, alive = first_episode_mask(record["dones"])
    failed = first_episode_failures(record, lengths)
    fell = first_episode_failures(record, lengths, "falls")

    root = record["qpos"][..., :3]
    step_distance = np.linalg.norm(np.diff(root[..., :2], axis=1), axis=-1)  # [E, T-1], from t-1 to t
    moved = alive[:, 1:]
    distance = np.where(moved, step_distance, 0.0).sum(axis=1)
    energy = np.where(alive, record["power"], 0.0).sum(axis=1) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = np.where(distance >= MIN_DISTANCE, energy / (mass * GRAVITY * distance), np.nan)

    action_change = np.diff(record["actions"], axis=1)
    feet = record["feet"]
    contact = feet[..., 2] < foot_radius + 0.005  # the environments' own contact test
    foot_speed = np.linalg.norm(np.diff(feet[..., :2], axis=1), axis=-1) / dt  # [E, T-1, 4]
    planted = contact[:, 1:] & contact[:, :-1] & moved[..., None]
    slip_count = planted.sum(axis=(1, 2))
    slip = np.where(slip_count > 0, np.where(planted, foot_speed, 0.0).sum(axis=(1, 2)) / np.maximum(slip_count, 1),
                    np.nan)

    velocity_error = np.linalg.norm(record["velocity"] - record["target_velocity"], axis=-1)
    result = {
        "survival_rate": (~failed).astype(float),
        "survival_time": lengths * dt,
        "fall_rate": fell.astype(float),
        "return": np.where(alive, record["rewards"], 0.0).sum(axis=1),
        "root_velocity_error": _masked_mean(velocity_error, alive),
        "speed": np.where(lengths > 1, distance / np.maximum((lengths - 1) * dt, dt), np.nan),
        # beside speed, a robot that keeps its legs on the clip but lags it (how real clips fail) shows
        "target_speed": _masked_mean(np.linalg.norm(record["target_velocity"], axis=-1), alive),
        "cost_of_transport": cot,
        "action_smoothness": np.sqrt(_masked_mean((action_change ** 2).mean(axis=-1), moved)),
        "foot_slip": slip,
    }
    if task == "imitation":
        joint_rms = np.sqrt(((record["joint_qpos"] - record["ref_joint_qpos"]) ** 2).mean(axis=-1))
        ref_root = record["ref_qpos"][..., :3]
        relative = (feet - root[:, :, None]) - (record["ref_feet"] - ref_root[:, :, None])
        result["joint_rmse"] = episode_rms(joint_rms, alive)
        result["foot_error"] = _masked_mean(np.linalg.norm(relative, axis=-1).mean(axis=-1), alive)
        result["root_position_error"] = _masked_mean(np.linalg.norm(root - ref_root, axis=-1), alive)
    return {name: result[name] for name in METRICS if name in result}


def mean_ci(values) -> dict:
    """Mean and the 95% confidence interval of the mean (Student t) of the finite values.

    ``ci95`` is the half-width; None when fewer than two values (no spread to estimate). A metric
    with no finite value at all has mean None.
    """
    values = np.asarray([v for v in values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = float(values.mean())
    if n < 2:
        return {"mean": mean, "ci95": None, "n": 1}
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": half, "n": n}
