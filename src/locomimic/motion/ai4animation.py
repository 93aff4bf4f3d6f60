"""Reader for the AI4Animation dog keypoint text files as processed by google-research/motion_imitation.

One frame per line, 81 numbers separated by commas and/or whitespace: 27 keypoints x (x, y, z) in
metres, y up, 60 Hz. Only the keypoints quadruped retargeting needs are kept, under canonical names.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.motion.clip import KeypointClip
from locomimic.motion.files import read_lines

NUM_KEYPOINTS = 27
FPS = 60.0
# Indices used by motion_imitation's retarget_motion.py (pelvis, neck, shoulders/hips, toes).
KEYPOINT_INDEX = {
    "pelvis": 0, "neck": 3,
    "FL_hip": 6, "FR_hip": 11, "RL_hip": 16, "RR_hip": 20,
    "FL_foot": 10, "FR_foot": 15, "RL_foot": 19, "RR_foot": 23,
}
_SEPARATOR = re.compile(r"[,\s]+")
# Y up -> z up: rotate +90 degrees about x, (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def parse_rows(path: Path, width: int, what: str) -> np.ndarray:
    """Numeric rows of a text file, each exactly ``width`` numbers; errors name the line and column."""
    rows = []
    for line_no, line in enumerate(read_lines(path, f"a text file of {what}, one frame per line"), start=1):
        fields = [f for f in _SEPARATOR.split(line.strip()) if f]
        if not fields:
            continue
        if len(fields) != width:
            raise LocomimicError(path, f"expected {width} numbers ({what}), got {len(fields)}",
                                 location=f"line {line_no}")
        try:
            row = [float(f) for f in fields]
        except ValueError:
            column = next(i for i, f in enumerate(fields, 1) if not _is_float(f))
            raise LocomimicError(path, f"{fields[column - 1]!r} is not a number",
                                 location=f"line {line_no}, column {column}") from None
        if not all(np.isfinite(row)):
            column = next(i for i, v in enumerate(row, 1) if not np.isfinite(v))
            raise LocomimicError(path, f"non-finite value {fields[column - 1]!r} (NaN or inf)",
                                 location=f"line {line_no}, column {column}")
        rows.append(row)
    if not rows:
        raise LocomimicError(path, "the file has no frames")
    return np.asarray(rows, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read(path: str | Path) -> KeypointClip:
    """Read a ``*_joint_pos.txt`` file into a z-up :class:`KeypointClip`."""
    path = Path(path)
    rows = parse_rows(path, NUM_KEYPOINTS * 3, f"{NUM_KEYPOINTS} keypoints x (x, y, z)")
    points = rows.reshape(len(rows), NUM_KEYPOINTS, 3) @ Y_UP_TO_Z_UP.T
    names = tuple(KEYPOINT_INDEX)
    return KeypointClip(points[:, [KEYPOINT_INDEX[n] for n in names]], names, FPS, str(path))
