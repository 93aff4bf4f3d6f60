"""BVH motion capture reader: forward kinematics of the skeleton into named keypoints.

BVH stores a joint hierarchy (OFFSET, CHANNELS) and one row of channel values per frame. Rotation
channels are applied in the order they are listed (intrinsic), which is how BVH exporters define
them. End Sites become keypoints named ``<parent joint>_end``; the clip config maps canonical names
(``pelvis``, ``FL_foot``, ...) to joint names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.motion.clip import KeypointClip
from locomimic.motion.files import read_lines

Z_UP_FROM = {
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
    "z": np.eye(3),
}
# The channels forward kinematics understands; anything else would be silently ignored, so it is refused.
_CHANNEL = re.compile(r"[XYZ](position|rotation)", re.IGNORECASE)
CHANNEL_NAMES = "Xposition, Yposition, Zposition, Xrotation, Yrotation or Zrotation"


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    channel_start: int = 0


def _axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[frames, 3, 3]`` about x, y or z by ``angle`` (radians)."""
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "x": [[one, zero, zero], [zero, c, -s], [zero, s, c]],
        "y": [[c, zero, s], [zero, one, zero], [-s, zero, c]],
        "z": [[c, -s, zero], [s, c, zero], [zero, zero, one]],
    }[axis]
    return np.moveaxis(np.array(rows), [0, 1], [-2, -1])


class _Tokens:
    """Whitespace tokens with their line numbers, so parse errors can point at a line."""

    def __init__(self, path: Path, lines: list[str], first_line: int = 1):
        self.path = path
        self.items = [(tok, n) for n, line in enumerate(lines, first_line) for tok in line.split()]
        self.pos = 0

    def take(self, what: str) -> str:
        """The next token, whatever it is (``what`` describes it for the error at end of file)."""
        if self.pos >= len(self.items):
            raise LocomimicError(self.path, f"unexpected end of file (expected {what})")
        token, _ = self.items[self.pos]
        self.pos += 1
        return token

    def expect(self, literal: str) -> str:
        """The next token, which must be ``literal``."""
        token = self.take(repr(literal))
        if token != literal:
            raise LocomimicError(self.path, f"expected {literal!r}, found {token!r}",
                                 location=f"line {self.items[self.pos - 1][1]}")
        return token

    def number(self) -> float:
        token = self.take("a number")
        try:
            return float(token)
        except ValueError:
            raise LocomimicError(self.path, f"{token!r} is not a number",
                                 location=f"line {self.items[self.pos - 1][1]}") from None

    def count(self, what: str) -> int:
        """The next token as a whole number >= 0 (``int(float(...))`` would silently truncate 3.5 to 3)."""
        token = self.take(what)
        if not (token.isascii() and token.isdigit()):
            raise LocomimicError(self.path, f"expected {what} (a whole number), found {token!r}",
                                 location=f"line {self.items[self.pos - 1][1]}")
        return int(token)

    def channel(self, joint: str, count: int) -> str:
        """The next token as a channel name (``Xrotation``, ``Zposition`` ...)."""
        token = self.take("a channel name")
        if not _CHANNEL.fullmatch(token):
            raise LocomimicError(self.path, f"{token!r} is not a channel of joint {joint!r} (CHANNELS {count}); "
                                 f"expected {CHANNEL_NAMES}", location=f"line {self.items[self.pos - 1][1]}")
        return token

    @property
    def line(self) -> int:
        return self.items[min(self.pos, len(self.items) - 1)][1]


def _parse_hierarchy(tokens: _Tokens) -> list[_Joint]:
    joints: list[_Joint] = []
    tokens.expect("HIERARCHY")
    tokens.expect("ROOT")
    stack: list[int] = []
    name, parent, end_site = tokens.take("a joint name"), -1, False
    channel_count = 0
    while True:
        tokens.expect("{")
        tokens.expect("OFFSET")
        joint = _Joint(name, parent, np.array([tokens.number() for _ in range(3)]))
        if not end_site:
            tokens.expect("CHANNELS")
            count = tokens.count("the number of channels")
            joint.channels = [tokens.channel(name, count) for _ in range(count)]
            joint.channel_start = channel_count
            channel_count += count
        joints.append(joint)
        stack.append(len(joints) - 1)
        # Children, or closing braces back up the tree.
        while True:
            keyword = tokens.take("JOINT, End Site or }")
            if keyword in ("JOINT", "End"):
                parent, end_site = stack[-1], keyword == "End"
                name = f"{joints[parent].name}_end" if end_site else tokens.take("a joint name")
                if keyword == "End":
                    tokens.expect("Site")
                break
            if keyword != "}":
                raise LocomimicError(tokens.path, f"unexpected {keyword!r} in HIERARCHY", location=f"line {tokens.line}")
            stack.pop()
            if not stack:
                return joints


def read(path: str | Path, keypoints: dict[str, str], units: float = 0.01, up_axis: str = "y") -> KeypointClip:
    """Read a BVH file and return the joints named in ``keypoints`` (canonical name -> BVH joint)."""
    path = Path(path)
    lines = read_lines(path, "a BVH motion capture file (HIERARCHY, then MOTION)")
    try:
        motion_line = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
    except StopIteration:
        raise LocomimicError(path, "no MOTION section") from None
    joints = _parse_hierarchy(_Tokens(path, lines[:motion_line]))
    names = [j.name for j in joints]
    unknown = {k: v for k, v in keypoints.items() if v not in names}
    if unknown:
        raise LocomimicError(path, f"keypoint map names joints the file lacks: "
                             f"{', '.join(f'{k} -> {v}' for k, v in unknown.items())}; joints: {', '.join(names)}")

    header = _Tokens(path, lines[motion_line + 1: motion_line + 3], first_line=motion_line + 2)
    header.expect("Frames:")
    num_frames = header.count("the number of frames")
    header.expect("Frame")
    header.expect("Time:")
    frame_time = header.number()
    if frame_time <= 0:
        raise LocomimicError(path, f"Frame Time must be positive, got {frame_time}", location=f"line {motion_line + 3}")

    width = sum(len(j.channels) for j in joints)
    rows = _motion_rows(lines, motion_line + 3, width, path)
    if len(rows) != num_frames:
        raise LocomimicError(path, f"header says {num_frames} frames but {len(rows)} follow",
                             location=f"line {motion_line + 2}")

    positions = _forward_kinematics(joints, rows) * units
    order = [names.index(keypoints[k]) for k in keypoints]
    points = positions[:, order] @ Z_UP_FROM[up_axis].T
    return KeypointClip(points, tuple(keypoints), 1.0 / frame_time, str(path))


def _motion_rows(lines: list[str], first: int, width: int, path: Path) -> np.ndarray:
    rows = []
    for line_no in range(first, len(lines)):
        fields = lines[line_no].split()
        if not fields:
            continue
        if len(fields) != width:
            raise LocomimicError(path, f"expected {width} channel values, got {len(fields)}",
                                 location=f"line {line_no + 1}")
        try:
            row = np.array([float(f) for f in fields])
        except ValueError:
            raise LocomimicError(path, "non-numeric channel value", location=f"line {line_no + 1}") from None
        if not np.isfinite(row).all():
            raise LocomimicError(path, "non-finite channel value (NaN or inf)", location=f"line {line_no + 1}")
        rows.append(row)
    if not rows:
        raise LocomimicError(path, "the MOTION section has no frames")
    return np.stack(rows)


def _forward_kinematics(joints: list[_Joint], rows: np.ndarray) -> np.ndarray:
    """World positions ``[frames, joints, 3]`` of every joint (and End Site) in BVH units."""
    frames = len(rows)
    rotations = np.empty((len(joints), frames, 3, 3))
    positions = np.empty((frames, len(joints), 3))
    for index, joint in enumerate(joints):
        local_rot = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
        local_pos = np.broadcast_to(joint.offset, (frames, 3)).copy()
        for k, channel in enumerate(joint.channels):
            values = rows[:, joint.channel_start + k]
            axis, kind = channel[0].lower(), channel[1:].lower()
            if kind == "rotation":
                local_rot = local_rot @ _axis_rotation(axis, np.deg2rad(values))
            elif kind == "position":
                local_pos[:, "xyz".index(axis)] += values
        if joint.parent < 0:
            rotations[index], positions[:, index] = local_rot, local_pos
        else:
            parent_rot = rotations[joint.parent]
            positions[:, index] = positions[:, joint.parent] + np.einsum("fij,fj->fi", parent_rot, local_pos)
            rotations[index] = parent_rot @ local_rot
    return positions
