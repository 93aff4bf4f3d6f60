"""The evaluated episode a policy video shows: environment 0's poses and the reference ghost.

Why the evaluate stage saves it: the video then shows exactly an episode that was scored, and the
render stage needs no simulation (no MJX compilation), only poses to draw, so changing the video
settings re-renders in seconds.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np

from locomimic.envs import reference as reference_lib
from locomimic.errors import LocomimicError
from locomimic.io import load_npz, save_npz
from locomimic.robots import Robot

FIELDS = ("qpos", "ghost_qpos", "dones", "dt")


def reference_replay(clip_paths: list[Path], robot: Robot, dt: float, steps: int) -> np.ndarray:
    """``qpos [steps, nq]`` of the motion's first clip from its first frame, looping cyclic clips.

    The ghost of a command-following (locomotion) policy, which has no reference frame of its own:
    it starts at the origin heading +x like the retargeted clip, so pace and style compare by eye.
    """
    ref = reference_lib.load_reference(list(clip_paths), robot, dt).to_jax()
    return np.asarray(jax.vmap(lambda k: reference_lib.frame(ref, 0, k)["qpos"])(jp.arange(steps)))


def episode_trajectory(record: dict[str, np.ndarray], task: str, robot: Robot, dt: float,
                       clip_paths: list[Path]) -> dict[str, np.ndarray]:
    """Environment 0 of an evaluation record (``[env, step, ...]``): its poses, ghost and dones."""
    qpos = record["qpos"][0]
    ghost = record["ref_qpos"][0] if task == "imitation" else reference_replay(clip_paths, robot, dt, len(qpos))
    return {"qpos": qpos.astype(np.float32), "ghost_qpos": ghost.astype(np.float32),
            "dones": record["dones"][0].astype(bool), "dt": np.float64(dt)}


def save_trajectory(path: str | Path, trajectory: dict[str, np.ndarray]) -> None:
    save_npz(path, trajectory)


def load_trajectory(path: str | Path, robot: Robot) -> dict[str, np.ndarray]:
    """Read a trajectory and check it was recorded for this robot's model."""
    path = Path(path)
    arrays = load_npz(path, "episode trajectory")
    missing = [f for f in FIELDS if f not in arrays]
    if missing:
        raise LocomimicError(path, f"missing field(s) {', '.join(missing)}: not written by the evaluate stage")
    for name in ("qpos", "ghost_qpos"):
        if arrays[name].ndim != 2 or arrays[name].shape[1] != robot.model.nq or len(arrays[name]) == 0:
            raise LocomimicError(path, f"shape {arrays[name].shape} does not fit robot {robot.name!r} "
                                 f"({robot.model.nq} qpos): the robot model changed since evaluation",
                                 location=name)
        if not np.isfinite(arrays[name]).all():
            raise LocomimicError(path, "non-finite poses", location=name)
    return arrays
