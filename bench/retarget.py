"""Retargeting throughput: IK frames per second per robot on one CPU core.

Retargets every real dog clip in ../shared/mocap (or, without it, the three generated gaits) onto
each robot, pinned to one core (the retarget rule is a one-thread job, and Snakemake runs one per
core), and prints one row per (robot, clip) plus a total per robot. Two rates: the IK solver alone
(the stage's own ``solver_frames_per_second``) and end to end (root placement, scaling, contacts,
IK and metrics: what a retarget job costs per frame). Unitree Go2 comes from ../shared/menagerie;
without it that robot is skipped and the summary says why. There is no same-run reference to divide
by; issue 2's goal (at least 500 frames/s for a quadruped) is quoted in the notes.

    python bench/retarget.py [--quick] [--csv results/bench/retarget.csv] [--summary ...]
"""

from __future__ import annotations

import time

from common import REPO, SHARED, parse_args, pin_to_one_core, report, summary_row

from locomimic.config import load_config
from locomimic.motion import ai4animation, gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot

GO2 = SHARED / "menagerie" / "unitree_go2"
DOG = SHARED / "mocap" / "ai4animation_dog"


def clips(quick: bool):
    """(name, clip) pairs: the real dog clips, else generated gaits; ``quick`` keeps 100 frames of one."""
    dog = sorted(DOG.glob("*_joint_pos.txt"))
    if dog:
        found = [(p.name.removesuffix("_joint_pos.txt"), ai4animation.read(p)) for p in dog]
    else:
        found = [(name, gait.generate(name, cycles=8)) for name in ("trot", "pace", "bound")]
    if quick:
        name, clip = found[0]
        return [(name, clip.window(0, min(100, clip.num_frames)))]
    return found


def main() -> None:
    args = parse_args(__doc__)
    pin_to_one_core()
    settings = load_config(REPO / "config" / "config.yaml")["retarget"]
    has_dog = any(DOG.glob("*_joint_pos.txt"))
    source = "AI4Animation dog mocap" if has_dog else f"generated gaits (no dog mocap in {DOG})"
    rows, summary = [], []
    for robot_name in ("default", "unitree_go2"):
        key = f"retarget.{robot_name}_frames_per_s"
        measurement = f"retargeting {robot_name}, end to end, 1 core"
        if robot_name == "unitree_go2" and not GO2.is_dir():
            reason = f"skipped: Unitree Go2 model not found under {GO2} (set LOCOMIMIC_SHARED)"
            summary.append(summary_row("retarget", key, measurement, None, "frames/s", notes=reason))
            continue
        robot = load_robot(REPO / "config" / "robots" / f"{robot_name}.yaml")
        total_frames, total_seconds, ik_rates = 0, 0.0, []
        for clip_name, clip in clips(args.quick):
            start = time.perf_counter()
            m = retarget_clip(clip, robot, settings).metrics
            seconds = time.perf_counter() - start
            total_frames += m["frames"]
            total_seconds += seconds
            ik_rates.append(m["solver_frames_per_second"])
            rows.append({"robot": robot_name, "clip": clip_name, "frames": m["frames"],
                         "ik_frames_per_s": round(m["solver_frames_per_second"]),
                         "end_to_end_frames_per_s": round(m["frames"] / seconds),
                         "ik_iterations_per_frame": round(m["ik_iterations_per_frame"], 2),
                         "foot_error_mean_mm": round(1e3 * m["foot_error_mean"], 1)})
        rows.append({"robot": robot_name, "clip": "ALL", "frames": total_frames, "ik_frames_per_s": "",
                     "end_to_end_frames_per_s": round(total_frames / total_seconds),
                     "ik_iterations_per_frame": "", "foot_error_mean_mm": ""})
        summary.append(summary_row(
            "retarget", key, measurement, total_frames / total_seconds, "frames/s",
            notes=f"{len(ik_rates)} clip(s), {total_frames:,} frames, {source}; IK alone {min(ik_rates):,.0f}-"
                  f"{max(ik_rates):,.0f}/s per clip; goal >= 500/s (issue 2)"))
    report("retargeting frames per second, pinned to one core", rows, args, summary)


if __name__ == "__main__":
    main()
