"""What the workflow checks before any job starts; ``python -m locomimic check-config`` runs the same.

Why one place: a config or robot file that is wrong should stop the run at once with one line naming
the file and the field, not fail minutes later inside a job, and ``check-config`` must never accept a
config the workflow rejects (or the other way round). Checked: the config schema and its cross-field
rules, every robot file (schema, MJCF compilation, the bodies and sites its keypoints name, the feet,
hips and - for human clips - knees, chest, head and arms the clips are retargeted by), each BVH clip's
keypoint map (every keypoint of its skeleton), every input file a clip or the demonstrations' expert
names, and every clip a motion names.

Which robot takes which clip is decided here too (:func:`robot_clips`): a config may hold quadrupeds and
humanoids, dog and human clips; each robot retargets and trains on the clips of its own skeleton.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locomimic.config import (REPO_ROOT, field_path, field_source, load_yaml, robot_config_path, validate,
                              validate_config)
from locomimic.errors import LocomimicError
from locomimic.motion.clip import HUMAN_ARMS, SKELETONS, human_legs, quadruped_legs, robot_skeleton, skeleton_of
from locomimic.robots import load_robot


def check_run(layers: list[tuple[str, Any]], config: dict | None = None, root: Path = REPO_ROOT,
              workdir: Path | None = None) -> dict:
    """Check a run's config, merged from ``layers`` ((file name, contents), in merge order), and return
    it with the schema's defaults filled in.

    ``config`` is the merged config when the caller has it (Snakemake's, filled in place); without it
    the single layer is the config. Relative input paths are taken from ``workdir`` (the working
    directory by default), as the jobs will.
    """
    if config is None:
        config = layers[-1][1] if layers else {}
    workdir = Path.cwd() if workdir is None else Path(workdir)
    validate_config(config, ", ".join(name for name, _ in layers) or "config", layers=layers)
    robots = {name: load_robot(robot_config_path(config, name, field_source(layers, ["robots"]), root))
              for name in config["robots"]}
    kinds = {name: robot_skeleton(robot.foot_names) for name, robot in robots.items()}
    clip_kinds = {clip: clip_skeleton(spec) for clip, spec in config["clips"].items()}
    for skeleton in sorted(set(clip_kinds.values()) - {None}):
        # The robots that take these clips must have what retargeting them needs; with none that does,
        # the first robot's error says what a robot for them would need.
        for name in [name for name, kind in kinds.items() if kind == skeleton] or list(robots)[:1]:
            robots[name].frames(RETARGET_KEYPOINTS[skeleton](robots[name]),
                                f"retargeting the config's {skeleton} clips onto {name}")
    for index, (name, clips) in enumerate(_clips_by_kind(config, kinds).items()):
        if not clips:
            raise LocomimicError(field_source(layers, ["robots"]), f"{name} takes none of the config's clips: its "
                                 f"feet are {', '.join(robots[name].foot_names)}, the clips are "
                                 f"{' and '.join(sorted(set(clip_kinds.values())))} clips", location=f"robots[{index}]")
    for clip, spec in config["clips"].items():
        if spec["source"] == "bvh":
            _check_bvh_keypoints(spec["bvh"]["keypoints"], layers, ["clips", clip, "bvh", "keypoints"])
        if "path" in spec:
            _check_input_file(spec["path"], workdir, layers, ["clips", clip, "path"], f"clip {clip!r}")
    if config["demos"]["expert"] == "policy":
        _check_input_file(config["demos"].get("policy_path"), workdir, layers, ["demos", "policy_path"],
                          "the demonstrations' expert policy")
    for motion, spec in config["motions"].items():
        for index, clip in enumerate(spec["clips"]):
            if clip not in config["clips"]:
                field = ["motions", motion, "clips", index]
                raise LocomimicError(field_source(layers, field), f"unknown clip {clip!r}; clips: "
                                     f"{', '.join(config['clips'])}", location=field_path(field))
        mixed = sorted({clip_kinds[clip] for clip in spec["clips"]} - {None})
        if len(mixed) > 1:
            field = ["motions", motion, "clips"]
            raise LocomimicError(field_source(layers, field), f"motion {motion!r} mixes {' and '.join(mixed)} clips: "
                                 "a motion is learnt by one robot, so its clips are of one skeleton",
                                 location=field_path(field))
    return config


# The robot keypoints each kind of clip is retargeted by (checking the robot's feet on the way).
RETARGET_KEYPOINTS = {
    "quadruped": lambda robot: tuple(name for names in quadruped_legs(robot) for name in names),
    "human": lambda robot: (*(name for leg in human_legs(robot) for name in leg[:3]), "chest", "head",
                            *(name for arm in HUMAN_ARMS for name in arm)),
}


def robot_clips(config: dict, root: Path = REPO_ROOT) -> dict[str, list[str]]:
    """Each robot's clips, sorted: those of its skeleton (its feet say which) and every .npz clip, whose
    keypoints are in the file. Reads only the robot files' ``feet``: the workflow calls it while planning,
    after :func:`check_run`."""
    kinds = {}
    for name in config["robots"]:
        path = robot_config_path(config, name, root=root)
        kinds[name] = robot_skeleton(validate(load_yaml(path), "robot.schema.yaml", path)["feet"])
    return _clips_by_kind(config, kinds)


def _clips_by_kind(config: dict, kinds: dict[str, str | None]) -> dict[str, list[str]]:
    """Each robot's clips, sorted, from its skeleton (``kinds``: robot -> :func:`robot_skeleton`)."""
    return {name: sorted(clip for clip, spec in config["clips"].items() if clip_skeleton(spec) in (None, kind))
            for name, kind in kinds.items()}


def robot_motions(config: dict, clips: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each robot's motions, sorted: those whose clips it takes (``clips`` from :func:`robot_clips`)."""
    return {robot: sorted(motion for motion, spec in config["motions"].items() if set(spec["clips"]) <= set(taken))
            for robot, taken in clips.items()}


def clip_skeleton(spec: dict) -> str | None:
    """A clip's skeleton from its config entry (None for .npz clips: their keypoints are in the file)."""
    if spec["source"] == "bvh":
        return skeleton_of(spec["bvh"]["keypoints"])
    return None if spec["source"] == "npz" else "quadruped"


def _check_bvh_keypoints(keypoints: dict, layers, field: list) -> None:
    """A BVH keypoint map must name every keypoint of its skeleton: retargeting needs them all."""
    skeleton = skeleton_of(keypoints)
    missing = [name for name in SKELETONS[skeleton] if name not in keypoints]
    if missing:
        raise LocomimicError(field_source(layers, field), f"a {skeleton} clip's keypoint map needs "
                             f"{', '.join(missing)} (the BVH joints that stand for them); it maps "
                             f"{', '.join(keypoints)}", location=field_path(field))


def _check_input_file(path: str | None, workdir: Path, layers, field: list, what: str) -> None:
    """An input file a field names must exist and be a file (relative paths from the working directory)."""
    source, location = field_source(layers, field), field_path(field)
    if not path:
        raise LocomimicError(source, f"{what}: a file path is required", location=location)
    full = Path(path) if Path(path).is_absolute() else workdir / path
    if full.is_dir():
        raise LocomimicError(source, f"{what}: {path} is a directory; expected a file", location=location)
    if not full.is_file():
        shown = path if Path(path).is_absolute() else f"{path} (from {workdir})"
        raise LocomimicError(source, f"{what}: no such file {shown}", location=location)
