"""The project's own keypoint clip format: an ``.npz`` with

- ``positions``: float array ``[frames, keypoints, 3]``, metres, z up;
- ``keypoints``: string array ``[keypoints]`` of names (see ``QUADRUPED_KEYPOINTS``);
- ``fps``: scalar frame rate;
- ``cyclic`` (optional): scalar bool, whether the clip loops.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import save_npz
from locomimic.motion.clip import KeypointClip

REQUIRED_FIELDS = ("positions", "keypoints", "fps")


def read(path: str | Path) -> KeypointClip:
    path = Path(path)
    if not path.is_file():
        raise LocomimicError(path, "file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise LocomimicError(path, f"not a readable .npz file: {exc}") from None
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise LocomimicError(path, f"missing field(s) {', '.join(missing)}; a keypoint clip needs "
                             f"{', '.join(REQUIRED_FIELDS)}")
    positions = fields["positions"]
    if not np.issubdtype(positions.dtype, np.number):
        raise LocomimicError(path, f"dtype {positions.dtype} is not numeric", location="positions")
    names = fields["keypoints"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise LocomimicError(path, "expected a 1-D array of strings", location="keypoints")
    fps = fields["fps"]
    if fps.size != 1 or not np.issubdtype(fps.dtype, np.number):
        raise LocomimicError(path, "expected one number", location="fps")
    cyclic = bool(fields["cyclic"]) if "cyclic" in fields else False
    return KeypointClip(positions.astype(np.float64), tuple(str(n) for n in names), float(fps), str(path), cyclic)


def write(path: str | Path, clip: KeypointClip) -> None:
    save_npz(path, {
        "positions": clip.positions,
        "keypoints": np.array(clip.names),
        "fps": np.float64(clip.fps),
        "cyclic": np.bool_(clip.cyclic),
    })
