"""Source skeleton geometry: the root pose from trunk keypoints, heading alignment and scaling."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from locomimic.motion.clip import KeypointClip

FRONT_HIPS, REAR_HIPS = ("FL_hip", "FR_hip"), ("RL_hip", "RR_hip")
LEFT_HIPS, RIGHT_HIPS = ("FL_hip", "RL_hip"), ("FR_hip", "RR_hip")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def root_pose(clip: KeypointClip) -> tuple[np.ndarray, np.ndarray]:
    """Root position ``[T, 3]`` and rotation ``[T, 3, 3]`` (columns: the trunk's forward, left and up axes).

    A quadruped's root is the centroid of its shoulders and hips (:func:`_quadruped_root_pose`), a human's
    the pelvis (:func:`_human_root_pose`).
    """
    return _human_root_pose(clip) if clip.skeleton == "human" else _quadruped_root_pose(clip)


def _human_root_pose(clip: KeypointClip) -> tuple[np.ndarray, np.ndarray]:
    """The pelvis: left from the right hip to the left, up along the spine (pelvis to chest) made square to it."""
    k = clip.keypoint
    left = _unit(k("left_hip") - k("right_hip"))
    forward = _unit(np.cross(left, k("chest") - k("pelvis")))
    up = np.cross(forward, left)
    return k("pelvis"), np.stack([forward, left, up], axis=-1)


def _quadruped_root_pose(clip: KeypointClip) -> tuple[np.ndarray, np.ndarray]:
    """Centroid of shoulders and hips.

    Forward averages pelvis->neck and hips->shoulders (both run along the spine); left averages the
    shoulder and hip left-right vectors, as in motion_imitation's retargeting. The rotation's columns
    are the trunk's forward, left and up axes in the world.
    """
    k = clip.keypoint
    shoulders = (k("FL_hip") + k("FR_hip")) / 2
    hips = (k("RL_hip") + k("RR_hip")) / 2
    forward = _unit(_unit(k("neck") - k("pelvis")) + _unit(shoulders - hips))
    left = _unit(_unit(k("FL_hip") - k("FR_hip")) + _unit(k("RL_hip") - k("RR_hip")))
    up = _unit(np.cross(forward, left))
    left = np.cross(up, forward)
    rotation = np.stack([forward, left, up], axis=-1)
    return (shoulders + hips) / 2, rotation


def align_heading(clip: KeypointClip) -> KeypointClip:
    """Rotate about z and shift so that frame 0's root is at the origin (x, y) and faces +x."""
    position, rotation = root_pose(clip)
    yaw = np.arctan2(rotation[0, 1, 0], rotation[0, 0, 0])
    c, s = np.cos(-yaw), np.sin(-yaw)
    rot_z = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    shift = np.array([position[0, 0], position[0, 1], 0.0])
    aligned = (clip.positions - shift) @ rot_z.T
    return replace(clip, positions=aligned)


def ground_height(clip: KeypointClip, feet: tuple[str, ...]) -> float:
    """Height of the ground under the source: a low percentile of the toe heights (robust to outliers)."""
    toes = np.stack([clip.keypoint(f)[:, 2] for f in feet])
    return float(np.percentile(toes, 2.0))


def limb_length(clip: KeypointClip, chains) -> float:
    """Median length of keypoint chains over frames and limbs: a quadruped's legs are (hip, toe), a
    human's (hip, knee, ankle) or (shoulder, elbow, wrist)."""
    lengths = [sum(np.linalg.norm(clip.keypoint(b) - clip.keypoint(a), axis=1) for a, b in zip(chain, chain[1:]))
               for chain in chains]
    return float(np.median(np.concatenate(lengths)))


def scale_clip(clip: KeypointClip, scale: float, ground: float) -> KeypointClip:
    """Put the ground at z = 0 and scale the whole skeleton (positions and speeds) by ``scale``."""
    shifted = clip.positions - np.array([0.0, 0.0, ground])
    return replace(clip, positions=shifted * scale)
