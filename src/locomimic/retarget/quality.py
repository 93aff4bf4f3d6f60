"""The retargeting quality gate: stop a clip whose motion is physically absurd, before anything is written.

Why: a capture glitch (the whole animal jumps 10 m in one frame), a mirrored axis (z negated puts the
trunk under the ground, y negated turns it upside down) or a wrong unit all retarget without complaint
and with ordinary-looking summary metrics, and the policy trained on them learns nonsense. The
gate checks every frame against ``retarget.quality`` and raises one :class:`LocomimicError` naming
the clip, the first offending frames and the value against its threshold.

It runs twice: on the trunk path the source asks for (before IK, so a degenerate or absurd clip costs
no solving and cannot crash it), and on the retargeted result. Lengths are in robot leg lengths (hip
to toe at the default pose) so one set of thresholds fits every robot.
"""

from __future__ import annotations

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.motion.clip import KeypointClip
from locomimic.retarget import root as root_lib

_SHOWN_RUNS = 3  # contiguous runs of offending frames spelled out in a message
TRUNK_KEYPOINTS = {"quadruped": "pelvis, neck, FL_hip, FR_hip, RL_hip, RR_hip",
                   "human": "pelvis, chest, left_hip, right_hip"}


def check_trunk_keypoints(clip: KeypointClip) -> None:
    """Refuse frames whose trunk keypoints give no orientation (they coincide or lie on one line).

    Such a frame (a row of one repeated value, say) has no root pose: every later step would turn it
    into NaN and fail far away from the cause.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        _, rotation = root_lib.root_pose(clip)
    bad = np.flatnonzero(~np.isfinite(rotation).all(axis=(1, 2)))
    if len(bad):
        pelvis = clip.keypoint("pelvis")[bad[0]]
        raise LocomimicError(clip.source, f"the trunk keypoints ({TRUNK_KEYPOINTS[clip.skeleton]}) coincide or lie "
                             f"on one line, so the trunk has no orientation (pelvis at {np.array2string(pelvis, precision=4)})",
                             location=frames_text(clip, bad))


def trunk_signals(positions: np.ndarray, rotations: np.ndarray, fps: float) -> dict[str, np.ndarray]:
    """Per-step speeds (m/s, rad/s; ``[T-1]``, step t is frame t -> t+1) and per-frame uprightness and height.

    Uprightness is the trunk's z axis dotted with world z: 1 level, 0 on its side or nose down, -1 upside down.
    """
    relative = np.einsum("tji,tjk->tik", rotations[:-1], rotations[1:])  # R_t^T R_t+1
    cos_angle = np.clip((np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    return {
        "speed": np.linalg.norm(np.diff(positions, axis=0), axis=1) * fps,
        "angular_speed": np.arccos(cos_angle) * fps,
        "uprightness": rotations[:, 2, 2],
        "height": positions[:, 2],
    }


def check_trunk(clip: KeypointClip, signals: dict[str, np.ndarray], leg: float, quality: dict, what: str,
                keypoints: KeypointClip | None = None) -> None:
    """Trunk speed, turn rate, uprightness and height of ``what`` against ``retarget.quality``.

    With ``keypoints`` (the scaled source), each keypoint's speed is checked right after the trunk's:
    a whole-animal jump is reported as the trunk's, a single keypoint's glitch by the keypoint's name.
    """
    speed = signals["speed"] / leg
    _upper(clip, speed, quality["max_root_speed"], "max_root_speed", "leg lengths/s", steps=True,
           finding=lambda v, i: f"{what} moves at {v:.4g} leg lengths/s ({v * leg:.4g} m/s)",
           hint="the clip jumps (a capture glitch or a cut?)")
    if keypoints is not None:
        _check_keypoint_speed(clip, keypoints, leg, quality)
    _upper(clip, signals["angular_speed"], quality["max_root_angular_speed"], "max_root_angular_speed", "rad/s",
           steps=True, finding=lambda v, i: f"{what} turns at {v:.4g} rad/s",
           hint="the trunk's orientation jumps (a capture glitch or swapped keypoints?)")
    _lower(clip, signals["uprightness"], quality["min_uprightness"], "min_uprightness", "",
           finding=lambda v, i: f"{what} has uprightness {v:.3g} (its up axis dotted with world z; "
                                f"{np.degrees(np.arccos(np.clip(v, -1, 1))):.0f} degrees from level)",
           hint="the clip is upside down or on its side (a mirrored axis or the wrong up axis?)")
    _lower(clip, signals["height"] / leg, quality["min_trunk_height"], "min_trunk_height", "leg lengths",
           finding=lambda v, i: f"{what} is at height {v:.3g} leg lengths ({v * leg:.3g} m)",
           hint="the trunk is at or under the ground (a mirrored up axis?)")


def _check_keypoint_speed(clip: KeypointClip, keypoints: KeypointClip, leg: float, quality: dict) -> None:
    """Each source keypoint's speed: a glitch in one toe or hip moves the trunk little but wrecks the IK."""
    steps = np.linalg.norm(np.diff(keypoints.positions, axis=0), axis=-1) * keypoints.fps / leg  # [T-1, K]
    fastest = steps.argmax(axis=1) if len(steps) else np.zeros(0, dtype=int)
    _upper(clip, steps.max(axis=1, initial=0.0), quality["max_keypoint_speed"], "max_keypoint_speed",
           "leg lengths/s", steps=True,
           finding=lambda v, i: f"keypoint {keypoints.names[fastest[i]]} of the source (scaled to the robot) moves "
                                f"at {v:.4g} leg lengths/s ({v * leg:.4g} m/s)",
           hint="the keypoint jumps (a capture glitch?)")


def check_result(clip: KeypointClip, penetration: np.ndarray, foot_error: np.ndarray, leg: float,
                 quality: dict) -> None:
    """Foot penetration (``[T]``, m, deepest foot) and foot error (``[T]``, m, mean over feet) of the IK result."""
    _upper(clip, penetration, quality["max_penetration"], "max_penetration", "m",
           finding=lambda v, i: f"a retargeted foot is {1e3 * v:.4g} mm under the ground",
           hint="the source's feet are below its ground or the robot cannot reach them")
    mean_error = float(foot_error.mean()) / leg
    limit = quality["max_foot_error_mean"]
    if mean_error > limit:
        worst = np.flatnonzero(foot_error / leg > limit)
        worst = worst if len(worst) else np.argsort(foot_error)[-5:]
        raise LocomimicError(clip.source, f"mean foot error {mean_error:.3g} leg lengths ({mean_error * leg:.3g} m), "
                             f"over retarget.quality.max_foot_error_mean = {limit:g} leg lengths: the robot cannot "
                             f"follow the source's feet (wrong scale or keypoints?); worst {frames_text(clip, worst)}")


def _upper(clip, values, limit, key, unit, finding, hint, steps=False) -> None:
    _gate(clip, values, values > limit, np.argmax, limit, key, unit, finding, hint, steps, "over")


def _lower(clip, values, limit, key, unit, finding, hint, steps=False) -> None:
    _gate(clip, values, values < limit, np.argmin, limit, key, unit, finding, hint, steps, "under")


def _gate(clip, values, bad, pick_worst, limit, key, unit, finding, hint, steps, side) -> None:
    """Raise naming the offending frames and the worst value against the threshold ``key``."""
    bad = np.flatnonzero(bad | ~np.isfinite(values))
    if not len(bad):
        return
    worst = bad[pick_worst(np.nan_to_num(values[bad], nan=np.inf if side == "over" else -np.inf))]
    frames = np.union1d(bad, bad + 1) if steps else bad  # step t joins frames t and t+1
    raise LocomimicError(clip.source, f"{finding(values[worst], worst)}, {side} retarget.quality.{key} = "
                         f"{limit:g}{' ' + unit if unit else ''}: {hint}", location=frames_text(clip, frames))


def frames_text(clip: KeypointClip, frames: np.ndarray) -> str:
    """``frames 19-21, 40 and 7 more (t = 0.317-0.683 s)``: the file's own frame indices, counted from 0."""
    frames = np.asarray(frames) + clip.first_frame
    runs = np.split(frames, np.flatnonzero(np.diff(frames) != 1) + 1)
    shown = ", ".join(f"{r[0]}" if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs[:_SHOWN_RUNS])
    more = sum(len(r) for r in runs[_SHOWN_RUNS:])
    times = f"{frames[0] / clip.fps:.3f}" + (f"-{frames[-1] / clip.fps:.3f}" if len(frames) > 1 else "")
    noun = "frame" if len(frames) == 1 else "frames"
    return f"{noun} {shown}{f' and {more} more' if more else ''} (t = {times} s)"
