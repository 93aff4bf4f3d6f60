"""Behaviour-cloning training throughput (samples per second) and demonstration generation rate.

BC is timed on a demonstration-sized dataset drawn from real reference-tracker rollouts in the
imitation environment (the demos stage's own code), with the default config's network and batch.

    python bench/bc.py [--csv results/bench/bc.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import REPO, report

from locomimic.bc import train_bc
from locomimic.config import load_config
from locomimic.demos import generate_demos
from locomimic.demos.experts import reference_tracker
from locomimic.envs import make_env
from locomimic.io import save_npz
from locomimic.jaxcache import enable_compilation_cache
from locomimic.motion import gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    enable_compilation_cache()
    config = load_config(REPO / "config" / "config.yaml")
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    clip = Path(os.environ.get("TMPDIR", "/tmp")) / "locomimic_bench_bc_trot.npz"
    save_npz(clip, retarget_clip(gait.generate("trot", cycles=2), robot, config["retarget"]).arrays)
    env = make_env("imitation", robot, config["env"], [clip])

    settings = config["demos"]
    start = time.perf_counter()
    data, summary = generate_demos(env, reference_tracker(env), config["env"], settings, config["seed"])
    demo_seconds = time.perf_counter() - start
    bc_settings = {**config["bc"], "max_epochs": 20, "patience": 20}
    result = train_bc(data, config["policy"], bc_settings, config["seed"])
    rows = [
        {"stage": "demos (incl. compile)", "samples": summary["steps"], "seconds": round(demo_seconds, 1),
         "per_second": round(summary["steps"] / demo_seconds)},
        {"stage": f"BC training (batch {bc_settings['batch_size']})", "samples": result.metrics["train_samples"] * len(result.history),
         "seconds": round(result.metrics["train_seconds"], 1), "per_second": round(result.metrics["samples_per_second"])},
    ]
    report("demonstration generation and BC training", rows, args.csv)


if __name__ == "__main__":
    main()
