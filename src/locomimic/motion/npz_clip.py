"""The project's own keypoint clip format: an ``.npz`` with

- ``positions``: float array ``[frames, keypoints, 3]``, metres, z up;
- ``keypoints``: string array ``[keypoints]`` of names (see ``QUADRUPED_KEYPOINTS``);
- ``fps``: scalar frame rate;
- ``cyclic`` (optional): scalar bool, whether the clip loops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import load_npz, save_npz
from locomimic.motion.clip import KeypointClip

REQUIRED_FIELDS = ("positions", "keypoints", "fps")


def read(path: str | Path) -> KeypointClip:
    fields = load_npz(path, ".npz clip")
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise LocomimicError(path, f"missing field(s) {', '.join(missing)}; a keypoint clip needs "
                             f"{', '.join(REQUIRED_FIELDS)}")
    positions = fields["positions"]
    if positions.dtype.kind not in "biuf":
        raise LocomimicError(path, f"dtype {positions.dtype} is not real numbers", location="positions")
    names = fields["keypoints"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise LocomimicError(path, "expected a 1-D array of strings", location="keypoints")
    fps = fields["fps"]
    if fps.size != 1 or fps.dtype.kind not in "biuf":
        raise LocomimicError(path, "expected one number", location="fps")
    cyclic = fields.get("cyclic", np.False_)
    if cyclic.size != 1 or cyclic.dtype.kind not in "biu":
        raise LocomimicError(path, "expected one boolean", location="cyclic")
    return KeypointClip(positions.astype(np.float64), tuple(str(n) for n in names), float(fps.item()),
                        str(path), bool(cyclic.item()))


def write(path: str | Path, clip: KeypointClip) -> None:
    save_npz(path, {
        "positions": clip.positions,
        "keypoints": np.array(clip.names),
        "fps": np.float64(clip.fps),
        "cyclic": np.bool_(clip.cyclic),
    })
