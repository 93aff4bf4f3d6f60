"""Turn a clip's config entry into a :class:`KeypointClip` (reader by ``source``, then the frame window)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from locomimic.motion import ai4animation, bvh, npz_clip
from locomimic.motion.clip import KeypointClip


def read_source(spec: dict, path: str | Path) -> KeypointClip:
    """Read ``path`` with the reader ``spec['source']`` names; gait clips arrive as generated ``.npz``."""
    source = spec["source"]
    if source == "ai4animation":
        return ai4animation.read(path)
    if source == "bvh":
        options = spec["bvh"]
        return bvh.read(path, options["keypoints"], options.get("units", 0.01), options.get("up_axis", "y"))
    return npz_clip.read(path)  # "npz", and "gait" clips written by the gait rule


def load_clip(spec: dict, path: str | Path, clip_name: str = "clip") -> KeypointClip:
    """Read a clip and apply its ``frames`` window and ``cyclic`` flag from config."""
    clip = read_source(spec, path)
    if "frames" in spec:
        start, stop = spec["frames"]
        clip = clip.window(start, stop, location=f"clips.{clip_name}.frames")
    if "cyclic" in spec:
        clip = replace(clip, cyclic=bool(spec["cyclic"]))
    return clip
