"""Reference motions for imitation: retargeted clips resampled to the control rate, as JAX arrays.

A *motion* is a named set of retargeted clips. Clips of different lengths are padded to a common
length; ``lengths`` says how much of each is real. Cyclic clips loop: frame ``k`` of a cyclic clip of
length ``L`` is frame ``k mod L`` shifted by ``k div L`` times the root's displacement per cycle, so an
episode can run longer than its clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jp
import mujoco
import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import load_npz
from locomimic.robots import Robot


@dataclass(frozen=True)
class ReferenceMotion:
    """Clips stacked as ``[clip, frame, ...]`` at the control rate."""

    qpos: np.ndarray  # [C, L, nq]
    qvel: np.ndarray  # [C, L, nv]
    feet: np.ndarray  # [C, L, feet, 3]
    end_effectors: np.ndarray  # [C, L, end effectors, 3] (the robot file's end_effectors)
    lengths: np.ndarray  # [C]
    cyclic: np.ndarray  # [C] bool
    cycle_offset: np.ndarray  # [C, 3] root displacement per loop (xy only)
    commands: np.ndarray  # [C, 3] each clip's mean (forward, lateral, yaw-rate) velocity, heading frame
    dt: float
    names: tuple[str, ...]

    @property
    def num_clips(self) -> int:
        return len(self.lengths)

    @property
    def mean_command(self) -> list[float]:
        """The motion's command: its clips' commands weighted by their length (see :func:`clip_command`).
        What locomotion BC is checked on and what a locomotion policy (AMP) is evaluated on."""
        return [float(c) for c in np.average(self.commands, axis=0, weights=self.lengths)]

    def to_jax(self) -> dict[str, jax.Array]:
        return {k: jp.asarray(getattr(self, k)) for k in ("qpos", "qvel", "feet", "end_effectors", "lengths", "cyclic",
                                                   "cycle_offset", "commands")}


def clip_command(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """The velocity command a clip answers: its mean (forward, lateral, yaw-rate) in the heading frame.

    The same three numbers the locomotion task commands (``LocomotionEnv``), so demonstrations of the
    clip can be labelled with the command under which they are the right answer (locomotion BC).
    """
    w, x, y, z = qpos[:, 3:7].T
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    forward = np.cos(yaw) * qvel[:, 0] + np.sin(yaw) * qvel[:, 1]
    lateral = -np.sin(yaw) * qvel[:, 0] + np.cos(yaw) * qvel[:, 1]
    return np.array([forward.mean(), lateral.mean(), qvel[:, 5].mean()])


def _resample(times: np.ndarray, source_times: np.ndarray, values: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(times, source_times, flat[:, i]) for i in range(flat.shape[1])], axis=1)
    return out.reshape((len(times),) + values.shape[1:])


def _resample_qpos(model: mujoco.MjModel, qpos: np.ndarray, fps: float, dt: float) -> np.ndarray:
    """Linear interpolation of positions and joint angles, normalised-lerp of the root quaternion."""
    times = np.arange(0.0, (len(qpos) - 1) / fps + 1e-9, dt)
    out = _resample(times, np.arange(len(qpos)) / fps, qpos)
    out[:, 3:7] /= np.linalg.norm(out[:, 3:7], axis=1, keepdims=True)
    return out


def load_clip_arrays(path: Path, robot: Robot) -> dict[str, np.ndarray]:
    """Read a retargeted clip and check it was made for this robot's joints."""
    arrays = load_npz(path, "retargeted clip")
    for field in ("qpos", "fps", "joint_names", "foot_positions", "cyclic"):
        if field not in arrays:
            raise LocomimicError(path, f"missing field {field!r}: not a retargeted clip")
    if list(arrays["joint_names"]) != list(robot.joint_names) or arrays["qpos"].shape[1] != robot.model.nq:
        raise LocomimicError(path, f"made for other joints ({arrays['qpos'].shape[1]} qpos) than robot "
                             f"{robot.name!r} ({robot.model.nq} qpos): retarget it again", location="joint_names")
    return arrays


def frame_positions(robot: Robot, frames, qpos: np.ndarray) -> np.ndarray:
    """World positions ``[T, frames, 3]`` of robot ``frames`` (bodies or sites) in each pose of ``qpos``,
    computed as the retargeters compute the clip's ``foot_positions``."""
    data = mujoco.MjData(robot.model)
    out = np.empty((len(qpos), len(frames), 3))
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(robot.model, data)
        out[t] = [f.position(data) for f in frames]
    return out


def load_reference(paths: list[Path], robot: Robot, dt: float, min_frames: int = 2) -> ReferenceMotion:
    """Load retargeted clips (``results/retarget/{robot}/{clip}.npz``) resampled to ``dt``."""
    model = robot.model
    clips = []
    for path in paths:
        arrays = load_clip_arrays(Path(path), robot)
        fps = float(arrays["fps"])
        qpos = _resample_qpos(model, arrays["qpos"], fps, dt)
        if len(qpos) < min_frames:
            raise LocomimicError(path, f"the clip has {len(qpos)} frames at {1 / dt:.0f} Hz; the observation "
                                 f"horizon needs at least {min_frames}")
        times = np.arange(len(qpos)) * dt
        feet = _resample(times, np.arange(len(arrays["qpos"])) / fps, arrays["foot_positions"])
        end_effectors = _resample(times, np.arange(len(arrays["qpos"])) / fps,
                                  frame_positions(robot, robot.end_effectors, arrays["qpos"]))
        qvel = np.zeros((len(qpos), model.nv))
        for t in range(len(qpos) - 1):
            mujoco.mj_differentiatePos(model, qvel[t], dt, qpos[t], qpos[t + 1])
        cyclic = bool(arrays["cyclic"])
        if cyclic:  # the step from the last frame back to the first
            qvel[-1] = qvel[-2]
            offset = qpos[-1, :3] + qvel[-1, :3] * dt - qpos[0, :3]
            offset[2] = 0.0
        else:
            qvel[-1] = qvel[-2]
            offset = np.zeros(3)
        clips.append((qpos, qvel, feet, cyclic, offset, end_effectors))

    length = max(len(c[0]) for c in clips)

    def pad(x):
        return np.concatenate([x, np.repeat(x[-1:], length - len(x), axis=0)])

    return ReferenceMotion(
        qpos=np.stack([pad(c[0]) for c in clips]),
        qvel=np.stack([pad(c[1]) for c in clips]),
        feet=np.stack([pad(c[2]) for c in clips]),
        end_effectors=np.stack([pad(c[5]) for c in clips]),
        lengths=np.array([len(c[0]) for c in clips], dtype=np.int32),
        cyclic=np.array([c[3] for c in clips]),
        cycle_offset=np.stack([c[4] for c in clips]),
        commands=np.stack([clip_command(c[0], c[1]) for c in clips]),
        dt=dt,
        names=tuple(Path(p).stem for p in paths),
    )


def sample_starts(ref: dict[str, jax.Array], clip_key: jax.Array, frame_key: jax.Array, shape: tuple = (),
                  frames_after: int = 0) -> tuple[jax.Array, jax.Array]:
    """Random ``(clip, start frame)`` pairs of ``shape``: clips drawn in proportion to their length, so
    every frame is equally likely, and a start from which ``frames_after`` more frames are real (a
    cyclic clip loops, so it may start anywhere). Every task and the AMP reference sampler start here."""
    clips = jax.random.categorical(clip_key, jp.log(ref["lengths"].astype(jp.float32)), shape=shape)
    lengths = ref["lengths"][clips]
    last_start = jp.where(ref["cyclic"][clips], lengths, jp.maximum(lengths - frames_after, 1))
    return clips, jax.random.randint(frame_key, shape, 0, last_start)


def frame(ref: dict[str, jax.Array], clip: jax.Array, k: jax.Array) -> dict[str, jax.Array]:
    """Reference state at step ``k`` of ``clip`` (looping cyclic clips, holding the last frame otherwise)."""
    length = ref["lengths"][clip]
    cyclic = ref["cyclic"][clip]
    loops = jp.where(cyclic, k // length, 0)
    index = jp.where(cyclic, k % length, jp.minimum(k, length - 1))
    shift = loops * ref["cycle_offset"][clip]
    qpos = ref["qpos"][clip, index]
    return {
        "qpos": qpos.at[:3].add(shift),
        "qvel": ref["qvel"][clip, index],
        "feet": ref["feet"][clip, index] + shift,
        "end_effectors": ref["end_effectors"][clip, index] + shift,
        "phase": index / length,
    }
