"""Parametric quadruped gaits (trot, pace, bound) as keypoint clips.

Why: the default workflow must run without downloaded motion capture, and a clean synthetic gait is a
useful reference with known ground truth (feet never slide during stance).

Model: the trunk moves forward at ``speed``; each foot cycles with period ``stride_length / speed``
and its own phase offset (trot: diagonal pairs together, pace: lateral pairs, bound: front/hind
pairs). For a fraction ``duty_factor`` of the cycle a foot stands still on the ground; during swing it
follows a cycloid forward by one stride (zero velocity at lift-off and touch-down) while rising to
``swing_height``. The clip holds a whole number of cycles, so it loops.
"""

from __future__ import annotations

import numpy as np

from locomimic.motion.clip import QUADRUPED_KEYPOINTS, KeypointClip

PHASE_OFFSETS = {  # FL, FR, RL, RR
    "trot": (0.0, 0.5, 0.5, 0.0),
    "pace": (0.0, 0.5, 0.0, 0.5),
    "bound": (0.0, 0.0, 0.5, 0.5),
}
LEG_SIGNS = {"FL": (1, 1), "FR": (1, -1), "RL": (-1, 1), "RR": (-1, -1)}  # (front/back, left/right)


def generate(pattern: str, speed: float = 0.6, stride_length: float = 0.3, duty_factor: float = 0.6,
             body_height: float = 0.27, swing_height: float = 0.07, body_length: float = 0.376,
             hip_width: float = 0.094, stance_width: float = 0.26, cycles: int = 4, fps: float = 60.0,
             name: str = "gait") -> KeypointClip:
    """Keypoints of ``cycles`` gait cycles; see the module docstring for the model."""
    frames_per_cycle = max(int(round(fps * stride_length / speed)), 4)
    period = frames_per_cycle / fps  # rounded so the clip loops exactly
    stride = speed * period
    t = np.arange(cycles * frames_per_cycle) / fps
    body_x = speed * t

    positions = np.zeros((len(t), len(QUADRUPED_KEYPOINTS), 3))
    index = {n: i for i, n in enumerate(QUADRUPED_KEYPOINTS)}
    for leg, offset in zip(("FL", "FR", "RL", "RR"), PHASE_OFFSETS[pattern]):
        fore, side = LEG_SIGNS[leg]
        hip = np.stack([body_x + fore * body_length / 2, np.full_like(t, side * hip_width / 2),
                        np.full_like(t, body_height)], axis=1)
        positions[:, index[f"{leg}_hip"]] = hip
        positions[:, index[f"{leg}_foot"]] = _foot(t, period, offset, duty_factor, stride, swing_height,
                                                  speed, fore * body_length / 2, side * stance_width / 2)
    positions[:, index["pelvis"]] = np.stack([body_x - body_length / 2 - 0.05, 0 * t, body_height + 0.02 + 0 * t], 1)
    positions[:, index["neck"]] = np.stack([body_x + body_length / 2 + 0.08, 0 * t, body_height + 0.05 + 0 * t], 1)
    return KeypointClip(positions, QUADRUPED_KEYPOINTS, float(fps), f"gait generator ({name}: {pattern})", cyclic=True)


def _foot(t, period, offset, duty, stride, swing_height, speed, x_hip, y_foot) -> np.ndarray:
    """World trajectory of one foot: planted during stance, cycloid forward during swing."""
    cycle_time = t / period + offset
    cycle = np.floor(cycle_time)
    phase = cycle_time - cycle
    # Touch-down of the current stance is centred under the hip: during stance the hip passes from
    # behind the foot to in front of it.
    stance_sweep = speed * duty * period
    touchdown_x = x_hip + speed * (cycle - offset) * period + stance_sweep / 2
    in_stance = phase < duty
    u = np.clip((phase - duty) / (1.0 - duty), 0.0, 1.0)  # swing progress
    ease = u - np.sin(2 * np.pi * u) / (2 * np.pi)
    x = np.where(in_stance, touchdown_x, touchdown_x + stride * ease)
    z = np.where(in_stance, 0.0, swing_height * 0.5 * (1 - np.cos(2 * np.pi * u)))
    return np.stack([x, np.full_like(t, y_foot), z], axis=1)
