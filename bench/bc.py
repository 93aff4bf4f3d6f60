"""Demonstration generation (env steps/s) and behaviour-cloning training (samples/s).

Demonstrations: the demos stage's own code (``generate_demos`` with the reference tracker and the
default config's 256 environments and action noise, 200 steps instead of 400 to save time) on the
default robot's imitation env. Rollouts run in jitted chunks of 50 steps; the bench times every
chunk, so the steady rate (after the first, compiling chunk) is reported apart from the rate
including compilation. Its reference is
raw batched MJX stepping at the same batch size (``mjx_env.mjx_b{num_envs}``, from bench/mjx_env.py in
the same ``run.py`` run): the ratio is what the expert, the action noise, full resets and the
recording cost on top of physics.

BC: ``train_bc`` on those demonstrations with the default config's networks and batch size, for a
fixed 10 epochs; samples/s is the stage's own figure (median over epochs, so the compiling first
epoch does not count). No same-run reference.

    python bench/bc.py [--quick] [--csv results/bench/bc.csv] [--summary ...]
"""

from __future__ import annotations

import time

from common import imitation_env, parse_args, report, summary_row

import locomimic.envs.rollout as engine
from locomimic.bc import train_bc
from locomimic.demos import generate_demos
from locomimic.demos.experts import reference_tracker
from locomimic.jaxcache import enable_compilation_cache


class ChunkTimer(engine.Progress):
    """The rollout's progress reporter, also keeping (time, steps) of every finished chunk."""

    marks: list[tuple[float, int]] = []

    def update(self, n: int = 1) -> None:
        ChunkTimer.marks.append((time.perf_counter(), n))
        super().update(n)


def main() -> None:
    args = parse_args(__doc__)
    enable_compilation_cache()
    env, _, config = imitation_env("default")
    settings = {**config["demos"], "steps": 200}
    if args.quick:  # two chunks: one compiling, one steady; batch 128 as mjx_env.py --quick measures
        settings.update(num_envs=128, steps=100)

    engine.Progress = ChunkTimer  # time the rollout's chunks without touching its code
    start = time.perf_counter()
    data, summary = generate_demos(env, reference_tracker(env), config["env"], settings, config["seed"])
    demo_seconds = time.perf_counter() - start
    (first_end, _), *rest = ChunkTimer.marks
    steady_steps = sum(n for _, n in rest)
    steady_rate = steady_steps / (rest[-1][0] - first_end) if rest else None

    bc_settings = {**config["bc"], "max_epochs": 2 if args.quick else 10, "patience": 10}
    result = train_bc(data, config["policy"], bc_settings, config["seed"], config["bc"]["initial_std"]["imitation"])
    m = result.metrics
    networks = f"policy {config['policy']['policy_hidden_layers']}, value {config['policy']['value_hidden_layers']}"
    rows = [
        {"stage": "demos (incl. compile)", "samples": summary["steps"], "seconds": round(demo_seconds, 1),
         "per_second": round(summary["steps"] / demo_seconds)},
        {"stage": "demos (after the first chunk)", "samples": steady_steps,
         "seconds": round(rest[-1][0] - first_end, 1) if rest else "", "per_second": round(steady_rate or 0)},
        {"stage": f"BC training (batch {bc_settings['batch_size']})",
         "samples": m["train_samples"] * len(result.history),
         "seconds": round(m["train_seconds"], 1), "per_second": round(m["samples_per_second"])},
    ]
    num_envs = settings["num_envs"]
    out = [
        summary_row("bc", "bc.demos_steps_per_s", f"demonstration generation, {num_envs} envs", steady_rate,
                    "env steps/s", f"mjx_env.mjx_b{num_envs}",
                    f"{summary['steps']:,} steps in {demo_seconds:.0f} s incl. compile "
                    f"({summary['steps'] / demo_seconds:,.0f}/s); steady rate after the first chunk"),
        summary_row("bc", "bc.train_samples_per_s", f"BC training, batch {bc_settings['batch_size']}",
                    m["samples_per_second"], "samples/s",
                    notes=f"{m['train_samples']:,} samples x {len(result.history)} epochs "
                          f"in {m['train_seconds']:.0f} s; "
                          f"{networks}; median epoch"),
    ]
    report("demonstration generation and BC training (default config)", rows, args, out)


if __name__ == "__main__":
    main()
