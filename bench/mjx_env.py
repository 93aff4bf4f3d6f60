"""MJX environment throughput against MuJoCo C on the same model.

For each batch size, the batched imitation environment exactly as training uses it (brax wrappers,
per-environment randomised models, PD law, 50 Hz control with the robot's physics substeps) is
stepped with zero actions in a jitted ``lax.scan``; env steps/s are the best of a few timed calls
after the first (compiling) one. The first call's time is reported too: it is mostly compilation,
shortened when JAX's persistent cache already holds the program.

The reference is MuJoCo C stepping the same ``MjModel`` (same contacts and actuators, robot under
zero control) on one core, and on every usable core through ``mujoco.rollout``; its physics
steps/s are divided by the substeps per control step, to compare env steps with env steps. MJX runs
on whatever ``jax.default_backend()`` is (CPU here; a GPU where jax has one), which the rows name.

Robots compared: the same environment for each robot of ``--compare`` (Menagerie ones are skipped,
with the reason, when ../shared/menagerie is missing), built and stepped in the same process at one
batch size (``--compare-batch``, 256; 128 with ``--quick``), as a ratio to the ``--robot`` robot at that
batch. Each robot runs its own robot file's ``mjx:`` physics (timestep, hence substeps, and solver),
so the ratio is what training that robot costs against the default one.

Summary keys: ``mjx_env.mujoco_c_1core``, ``mjx_env.mujoco_rollout_all_cores``,
``mjx_env.mjx_b{N}`` for each batch size N (other benches refer to these, e.g. ``mjx_env.mjx_b256``),
and ``mjx_env.robot_{name}_b{N}`` for each compared robot (reference: ``mjx_env.mjx_b{N}``).

    python bench/mjx_env.py [--quick] [--batch-sizes 128 256 ...] [--compare unitree_go2 ...]
                            [--compare-batch 256] [--csv ...] [--summary ...]
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jax
import jax.numpy as jp
import mujoco
import numpy as np

from common import REPO, imitation_env, parse_args, report, summary_row

from locomimic.config import load_yaml
from locomimic.envs import make_training_env
from locomimic.jaxcache import enable_compilation_cache

BATCH_SIZES = [128, 256, 512, 1024, 2048, 4096]
COMPARED_ROBOTS = ["unitree_go2", "google_barkour_vb"]


def mjx_rate(env, settings, num_envs: int, steps: int = 20, repeats: int = 2, statistic=min) -> tuple[float, float]:
    """(env steps per second, seconds of the first call) of the batched training environment.

    The rate is over ``statistic`` (the best, by default) of ``repeats`` timed calls of ``steps`` steps.
    """
    batched = make_training_env(env, settings, num_envs, seed=0)
    state = jax.jit(batched.reset)(jax.random.split(jax.random.PRNGKey(0), num_envs))
    actions = jp.zeros((num_envs, env.action_size))

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (batched.step(s, actions), None), state, None, length=steps)[0]

    start = time.perf_counter()
    state = jax.block_until_ready(run(state))
    first_call = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state = jax.block_until_ready(run(state))
        times.append(time.perf_counter() - start)
    return num_envs * steps / statistic(times), first_call


def mujoco_c_rate(model: mujoco.MjModel, qpos: np.ndarray, seconds: float = 3.0) -> float:
    """Physics steps per second of ``mj_step`` on one core (robot under zero control, reset every 20k steps)."""
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(1000):
            mujoco.mj_step(model, data)
        steps += 1000
        if steps % 20000 == 0:
            mujoco.mj_resetData(model, data)
            data.qpos[:] = qpos
    return steps / (time.perf_counter() - start)


def mujoco_rollout_rate(model: mujoco.MjModel, qpos: np.ndarray, threads: int, horizon: int = 500) -> float | None:
    """Physics steps per second of ``mujoco.rollout`` over ``threads`` threads (None if unavailable)."""
    try:
        from mujoco import rollout
    except ImportError:
        return None
    batch = 64
    state = np.zeros((batch, mujoco.mj_stateSize(model, mujoco.mjtState.mjSTATE_FULLPHYSICS)))
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_getState(model, data, state[0], mujoco.mjtState.mjSTATE_FULLPHYSICS)
    state[:] = state[0]
    datas = [mujoco.MjData(model) for _ in range(threads)]
    control = np.zeros((batch, horizon, model.nu))
    with rollout.Rollout(nthread=threads) as runner:
        runner.rollout([model] * batch, datas, state, control)  # warm up
        start = time.perf_counter()
        runner.rollout([model] * batch, datas, state, control)
    return batch * horizon / (time.perf_counter() - start)


def main() -> None:
    args = parse_args(__doc__, lambda p: (p.add_argument("--batch-sizes", type=int, nargs="+"),
                                          p.add_argument("--robot", default="default"),
                                          p.add_argument("--compare", nargs="*", default=COMPARED_ROBOTS),
                                          p.add_argument("--compare-batch", type=int, default=256)))
    batch_sizes = args.batch_sizes or ([128] if args.quick else BATCH_SIZES)
    steps, repeats = (5, 1) if args.quick else (20, 2)
    enable_compilation_cache()
    env, robot, config = imitation_env(args.robot)

    substeps = env.n_substeps
    c_one = mujoco_c_rate(env.mj_model, robot.qpos_default, 0.5 if args.quick else 3.0) / substeps
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    c_all = mujoco_rollout_rate(env.mj_model, robot.qpos_default, threads, 100 if args.quick else 500)
    c_all = c_all / substeps if c_all else None
    backend = jax.default_backend().upper()
    device = "" if backend == "CPU" else f" ({jax.devices()[0].device_kind})"
    rows = [{"robot": args.robot, "engine": "MuJoCo C, 1 core", "batch": 1, "env_steps_per_s": round(c_one),
             "vs_mujoco_1_core": 1.0, "vs_reference_robot": "", "first_call_s": ""}]
    summary = [summary_row("mjx_env", "mjx_env.mujoco_c_1core", "MuJoCo C mj_step, 1 core", c_one, "env steps/s",
                           notes=f"{args.robot} robot, {substeps} physics substeps per 50 Hz env step")]
    rollout_key = "mjx_env.mujoco_rollout_all_cores"
    if c_all:
        rows.append({"robot": args.robot, "engine": f"MuJoCo C rollout, {threads} threads", "batch": 64,
                     "env_steps_per_s": round(c_all), "vs_mujoco_1_core": round(c_all / c_one, 2), "first_call_s": ""})
        summary.append(summary_row("mjx_env", rollout_key, f"MuJoCo C mujoco.rollout, {threads} threads", c_all,
                                   "env steps/s", "mjx_env.mujoco_c_1core", "64 rollouts"))
    else:
        summary.append(summary_row("mjx_env", rollout_key, "MuJoCo C mujoco.rollout, all cores", None, "env steps/s",
                                   notes=f"skipped: mujoco {mujoco.__version__} has no mujoco.rollout"))
    compare_batch = 128 if args.quick else args.compare_batch
    rates = {}
    for num_envs in sorted(set(batch_sizes) | ({compare_batch} if args.compare else set())):
        rate, first_call = mjx_rate(env, config["env"], num_envs, steps, repeats)
        rates[num_envs] = rate
        rows.append({"robot": args.robot, "engine": f"MJX {backend}{device}", "batch": num_envs,
                     "env_steps_per_s": round(rate), "vs_mujoco_1_core": round(rate / c_one, 2),
                     "vs_reference_robot": 1.0, "first_call_s": round(first_call, 1)})
        vs_all = f", {rate / c_all:.2f}x rollout on {threads} threads" if c_all else ""
        summary.append(summary_row("mjx_env", f"mjx_env.mjx_b{num_envs}",
                                   f"MJX {backend}{device} env step, batch {num_envs}",
                                   rate, "env steps/s", "mjx_env.mujoco_c_1core",
                                   f"first call {first_call:.0f} s (compile){vs_all}"))
        print(rows[-1], flush=True)
    for name in args.compare:
        row, headline = compare_robot(name, args.robot, rates[compare_batch], config, compare_batch, steps, repeats,
                                      f"MJX {backend}{device}")
        rows += [row] if row else []
        summary.append(headline)
    report(f"imitation env ({args.robot}, {substeps} physics substeps per 50 Hz step)", rows, args, summary)


def compare_robot(name: str, reference: str, reference_rate: float, config: dict, num_envs: int, steps: int,
                  repeats: int, engine: str) -> tuple[dict | None, dict]:
    """(detail row or None, summary row) of one robot's env steps/s against the reference robot's."""
    key, measurement = f"mjx_env.robot_{name}_b{num_envs}", f"{engine} env step, {name} robot, batch {num_envs}"
    model = load_yaml(REPO / "config" / "robots" / f"{name}.yaml")["model"]
    folder = Path(os.environ["MENAGERIE_ROOT"]) / model.removeprefix("menagerie:").split("/")[0]
    if model.startswith("menagerie:") and not folder.is_dir():  # rather than downloading it
        reason = f"skipped: {folder} not found (set LOCOMIMIC_SHARED or MENAGERIE_ROOT)"
        return None, summary_row("mjx_env", key, measurement, None, "env steps/s", notes=reason)
    env, _, _ = imitation_env(name)
    rate, first_call = mjx_rate(env, config["env"], num_envs, steps, repeats)
    row = {"robot": name, "engine": engine, "batch": num_envs, "env_steps_per_s": round(rate),
           "vs_mujoco_1_core": "", "vs_reference_robot": round(rate / reference_rate, 2),
           "first_call_s": round(first_call, 1)}
    print(row, flush=True)
    notes = (f"{env.n_substeps} physics substeps per env step ({1000 * env.sim_dt:g} ms, the robot file's mjx "
             f"settings); ratio to the {reference} robot; first call {first_call:.0f} s")
    return row, summary_row("mjx_env", key, measurement, rate, "env steps/s", f"mjx_env.mjx_b{num_envs}", notes)


if __name__ == "__main__":
    main()
