"""Retargeting throughput: IK frames per second per robot on one CPU core.

Retargets every real dog clip in ../shared/mocap (or, without it, the three generated gaits) onto
each robot, pinned to one core, and prints one row per (robot, clip) plus a total per robot.
Goal (issue 2): at least 500 frames/s for a quadruped.

    python bench/retarget.py [--csv results/bench/retarget.csv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import REPO, SHARED, pin_to_one_core, report

from locomimic.config import load_config
from locomimic.motion import ai4animation, gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot


def clips():
    dog = sorted((SHARED / "mocap" / "ai4animation_dog").glob("*_joint_pos.txt"))
    if dog:
        return [(p.name.removesuffix("_joint_pos.txt"), ai4animation.read(p)) for p in dog]
    return [(name, gait.generate(name, cycles=8)) for name in ("trot", "pace", "bound")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="also write the rows as CSV")
    args = parser.parse_args()
    pin_to_one_core()
    settings = load_config(REPO / "config" / "config.yaml")["retarget"]
    robots = ["default"] + (["unitree_go2"] if (SHARED / "menagerie" / "unitree_go2").is_dir() else [])
    rows = []
    for robot_name in robots:
        robot = load_robot(REPO / "config" / "robots" / f"{robot_name}.yaml")
        total_frames, total_seconds = 0, 0.0
        for clip_name, clip in clips():
            start = time.perf_counter()
            m = retarget_clip(clip, robot, settings).metrics
            seconds = time.perf_counter() - start
            total_frames += m["frames"]
            total_seconds += seconds
            rows.append({"robot": robot_name, "clip": clip_name, "frames": m["frames"],
                         "ik_frames_per_s": round(m["solver_frames_per_second"]),
                         "end_to_end_frames_per_s": round(m["frames"] / seconds),
                         "ik_iterations_per_frame": round(m["ik_iterations_per_frame"], 2),
                         "foot_error_mean_mm": round(1e3 * m["foot_error_mean"], 1)})
        rows.append({"robot": robot_name, "clip": "ALL", "frames": total_frames, "ik_frames_per_s": "",
                     "end_to_end_frames_per_s": round(total_frames / total_seconds),
                     "ik_iterations_per_frame": "", "foot_error_mean_mm": ""})
    report("retargeting frames per second, pinned to one core", rows, args.csv)


if __name__ == "__main__":
    main()
