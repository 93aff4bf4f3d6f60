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


def follow_planted_feet(targets, src_feet, contact):
    """During stance, move each target exactly as the source toe moves in the world.

    Hip-relative targets drift while the robot's trunk turns (its hips are not where the scaled
    animal's are), which would make planted feet slide. Each stance is anchored at its middle frame and
    then follows the source toe's own world displacement; the correction is blended linearly through
    the swing phases in between, so targets stay continuous.
    """
    targets = targets.copy()
    frames = np.arange(len(contact))
    for leg in range(contact.shape[1]):
        stances = phases(contact[:, leg])
        if not stances:
            continue
        correction = np.full((len(contact), 2), np.nan)
        for start, stop in stances:
            anchor = (start + stop - 1) // 2
            world = targets[anchor, leg, :2] + src_feet[start:stop, leg, :2] - src_feet[anchor, leg, :2]
            correction[start:stop] = world - targets[start:stop, leg, :2]
        known = ~np.isnan(correction[:, 0])
        for axis in range(2):
            targets[:, leg, axis] += np.interp(frames, frames[known], correction[known, axis])
    return targets


def ground_contacts(source_targets, contact, radius, pin_tolerance):
    """IK targets: feet in contact on the ground and, when ``pin_tolerance`` > 0, held still.

    A stance is split into as few segments as possible whose source points all lie within
    ``pin_tolerance`` of the segment's mean; the foot is held at that mean. A foot whose source
    barely slides is held for the whole stance; one that really shuffles (turning on the spot) takes
    small steps instead of being dragged, so the target never strays more than the tolerance.
    """
    targets = source_targets.copy()
    targets[..., 2][contact] = radius
    if pin_tolerance > 0:
        for leg in range(targets.shape[1]):
            for start, stop in phases(contact[:, leg]):
                for a, b in pinned_segments(targets[start:stop, leg, :2], pin_tolerance):
                    targets[start + a:start + b, leg, :2] = targets[start + a:start + b, leg, :2].mean(axis=0)
    return targets
