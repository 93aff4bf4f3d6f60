"""Foot contact detection on the source and foot-slide measurement.

A toe is in contact when it is both low and slow (after scaling to the robot); phases shorter than
``min_frames`` are merged into their neighbours so one noisy frame does not split a stance.
"""

from __future__ import annotations

import numpy as np


def detect_contacts(feet: np.ndarray, fps: float, height: float, speed: float, min_frames: int) -> np.ndarray:
    """Contact flags ``[T, legs]`` for foot trajectories ``feet[T, legs, 3]`` (ground at z = 0)."""
    velocity = np.gradient(feet[..., :2], axis=0) * fps if len(feet) > 1 else np.zeros_like(feet[..., :2])
    flags = (feet[..., 2] < height) & (np.linalg.norm(velocity, axis=-1) < speed)
    return np.stack([_remove_short_phases(flags[:, leg], min_frames) for leg in range(flags.shape[1])], axis=1)


def _remove_short_phases(flags: np.ndarray, min_frames: int) -> np.ndarray:
    """Flip runs shorter than ``min_frames`` (flights first, then stances) to their neighbours' value."""
    flags = flags.copy()
    for value in (False, True):
        for start, stop in phases(flags, value):
            if stop - start < min_frames and start > 0 and stop < len(flags):
                flags[start:stop] = not value
    return flags


def phases(flags: np.ndarray, value: bool = True) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of ``value`` in a boolean sequence."""
    padded = np.concatenate([[not value], flags == value, [not value]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def stance_slide(feet: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """Horizontal path length (m) each foot travels during each stance phase, all phases together."""
    slides = []
    for leg in range(feet.shape[1]):
        for start, stop in phases(contacts[:, leg]):
            steps = np.diff(feet[start:stop, leg, :2], axis=0)
            slides.append(float(np.linalg.norm(steps, axis=1).sum()))
    return np.asarray(slides)


def pinned_segments(points: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Split a stance's foot points ``[n, 2]`` greedily into runs that stay within ``tolerance`` of their mean."""
    segments, start = [], 0
    for stop in range(1, len(points) + 1):
        if stop == len(points):
            segments.append((start, stop))
            break
        window = points[start:stop + 1]
        if np.linalg.norm(window - window.mean(axis=0), axis=1).max() > tolerance:
            segments.append((start, stop))
            start = stop
    return segments
