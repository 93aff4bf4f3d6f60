"""The one in-memory motion type every reader produces and the retargeter consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from locomimic.errors import LocomimicError

# The keypoints quadruped retargeting needs: trunk markers to place the root, shoulders/hips
# (``*_hip``, front legs' are the shoulders) to scale legs, and toes (``*_foot``) as IK targets.
QUADRUPED_KEYPOINTS = (
    "pelvis", "neck",
    "FL_hip", "FR_hip", "RL_hip", "RR_hip",
    "FL_foot", "FR_foot", "RL_foot", "RR_foot",
)
# Each foot of a quadruped source and the hip (shoulder for the front legs) its leg hangs from.
QUADRUPED_HIP_OF_FOOT = {"FL_foot": "FL_hip", "FR_foot": "FR_hip", "RL_foot": "RL_hip", "RR_foot": "RR_hip"}
# The keypoints human retargeting needs. A human ``*_foot`` is the ankle joint, ``*_toe`` the ball of the foot
# and ``*_hand`` the wrist: the joints every BVH skeleton has, whatever a conversion calls them.
HUMAN_KEYPOINTS = (
    "pelvis", "chest", "head",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_foot", "right_foot", "left_toe", "right_toe",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_hand", "right_hand",
)
# A human's arms from the shoulder outwards: hands hang from the robot's own shoulders.
HUMAN_ARMS = (("left_shoulder", "left_elbow", "left_hand"), ("right_shoulder", "right_elbow", "right_hand"))
SKELETONS = {"quadruped": QUADRUPED_KEYPOINTS, "human": HUMAN_KEYPOINTS}
# Each foot of a human source: its hip, knee and ankle (the foot keypoint itself) and toe.
HUMAN_LEG_OF_FOOT = {"left_foot": ("left_hip", "left_knee", "left_foot", "left_toe"),
                     "right_foot": ("right_hip", "right_knee", "right_foot", "right_toe")}


def quadruped_legs(robot) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A robot's feet and, for each, the hip its leg hangs from: the keypoints quadruped clips are retargeted by.

    The feet keep the robot file's order (every later stage reads them in that order); they must be a
    quadruped source's four feet, which the workflow checks before any job starts."""
    feet = robot.foot_names
    if sorted(feet) != sorted(QUADRUPED_HIP_OF_FOOT):
        raise LocomimicError(robot.config_path, f"a quadruped clip needs the feet {', '.join(QUADRUPED_HIP_OF_FOOT)}; "
                             f"this robot file's feet are {', '.join(feet)}", location="feet")
    return feet, tuple(QUADRUPED_HIP_OF_FOOT[foot] for foot in feet)


def robot_skeleton(foot_names) -> str | None:
    """The skeleton whose clips a robot takes, from its feet: a quadruped source's four or a human's two
    (None for other feet: such a robot takes only .npz clips, whose keypoints are its own)."""
    for kind, feet in (("quadruped", QUADRUPED_HIP_OF_FOOT), ("human", HUMAN_LEG_OF_FOOT)):
        if sorted(foot_names) == sorted(feet):
            return kind
    return None


def skeleton_of(names) -> str:
    """``quadruped`` or ``human``: the keypoint set (:data:`SKELETONS`) ``names`` share most with.

    Retargeting then requires that whole set, so a clip missing one keypoint is told which."""
    return max(SKELETONS, key=lambda kind: len(set(SKELETONS[kind]) & set(names)))


def human_legs(robot) -> tuple[tuple[str, str, str, str], ...]:
    """Hip, knee, ankle and toe keypoints of each of a robot's feet, in the robot file's foot order.

    A human clip is retargeted onto a robot whose feet are the human's two (``left_foot``,
    ``right_foot``), which the workflow checks before any job starts."""
    feet = robot.foot_names
    if sorted(feet) != sorted(HUMAN_LEG_OF_FOOT):
        raise LocomimicError(robot.config_path, f"a human clip needs the feet {', '.join(HUMAN_LEG_OF_FOOT)}; "
                             f"this robot file's feet are {', '.join(feet)}", location="feet")
    return tuple(HUMAN_LEG_OF_FOOT[foot] for foot in feet)


@dataclass(frozen=True)
class KeypointClip:
    """Keypoint trajectories: ``positions[t, k]`` is keypoint ``names[k]`` at frame ``t`` (m, z up)."""

    positions: np.ndarray
    names: tuple[str, ...]
    fps: float
    source: str
    cyclic: bool = False
    # Index in the source file of frame 0 (a window's start), so errors can name the file's own frames.
    first_frame: int = 0

    def __post_init__(self):
        if self.positions.ndim != 3 or self.positions.shape[2] != 3 or self.positions.shape[1] != len(self.names):
            raise LocomimicError(self.source, f"keypoint positions have shape {self.positions.shape}; expected "
                                 f"(frames, {len(self.names)}, 3)")
        if len(self.positions) == 0:
            raise LocomimicError(self.source, "the clip has no frames")
        bad = np.argwhere(~np.isfinite(self.positions))
        if len(bad):
            frame, key, _ = bad[0]
            raise LocomimicError(self.source, f"non-finite value (NaN or inf) in keypoint {self.names[key]!r}",
                                 location=f"frame {frame}")
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise LocomimicError(self.source, f"fps must be a positive number, got {self.fps}")

    @property
    def skeleton(self) -> str:
        """``quadruped`` or ``human`` (:func:`skeleton_of` its keypoint names)."""
        return skeleton_of(self.names)

    @property
    def num_frames(self) -> int:
        return len(self.positions)

    def keypoint(self, name: str) -> np.ndarray:
        """Trajectory ``[frames, 3]`` of one keypoint."""
        return self.positions[:, self.names.index(name)]

    def require(self, names: tuple[str, ...]) -> None:
        """Fail with the list of missing keypoints if the clip lacks any of ``names``."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise LocomimicError(self.source, f"the clip lacks keypoints {', '.join(missing)}; it has "
                                 f"{', '.join(self.names)}")

    def window(self, start: int, stop: int, location: str = "frames") -> KeypointClip:
        """Frames ``[start, stop)``; an empty or out-of-range window is an error."""
        if not 0 <= start < stop <= self.num_frames:
            raise LocomimicError(self.source, f"frame window [{start}, {stop}) is outside the clip's "
                                 f"{self.num_frames} frames or empty", location=location)
        return replace(self, positions=self.positions[start:stop], first_frame=self.first_frame + start)
