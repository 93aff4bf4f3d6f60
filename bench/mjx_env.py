"""MJX environment throughput against MuJoCo C on the same model.

For each batch size, the batched imitation environment (brax wrappers, domain randomisation, PD
law, 50 Hz control) is stepped in a jitted scan; env steps/s are counted after compilation.
MuJoCo C steps the same model (motors, same contacts) on one core, and on all cores through
``mujoco.rollout`` when it is available; its physics steps/s are divided by the substeps per control
step to compare like with like.

    python bench/mjx_env.py [--batch-sizes 128 256 512 1024 2048] [--csv results/bench/mjx_env.csv]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import jax.numpy as jp
import mujoco
import numpy as np

from common import REPO, report

from locomimic.config import load_config
from locomimic.envs import make_env, make_training_env
from locomimic.io import save_npz
from locomimic.jaxcache import enable_compilation_cache
from locomimic.motion import gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot


def mjx_rate(env, settings, num_envs: int, steps: int = 20, repeats: int = 3) -> tuple[float, float]:
    """(env steps per second, compile seconds) of the batched training environment."""
    batched = make_training_env(env, settings, num_envs, seed=0)
    state = jax.jit(batched.reset)(jax.random.split(jax.random.PRNGKey(0), num_envs))
    actions = jp.zeros((num_envs, env.action_size))

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (batched.step(s, actions), None), state, None, length=steps)[0]

    start = time.perf_counter()
    state = jax.block_until_ready(run(state))
    compile_seconds = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        state = jax.block_until_ready(run(state))
        best = min(best, time.perf_counter() - start)
    return num_envs * steps / best, compile_seconds


def mujoco_c_rate(model: mujoco.MjModel, qpos: np.ndarray, seconds: float = 3.0) -> float:
    """Physics steps per second of ``mj_step`` on one core (robot holding still under zero torque)."""
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


def mujoco_rollout_rate(model: mujoco.MjModel, qpos: np.ndarray, threads: int) -> float | None:
    """Physics steps per second of ``mujoco.rollout`` over ``threads`` threads, if available."""
    try:
        from mujoco import rollout
    except ImportError:
        return None
    batch, horizon = 64, 500
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--robot", default="default")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    enable_compilation_cache()
    config = load_config(REPO / "config" / "config.yaml")
    robot = load_robot(REPO / "config" / "robots" / f"{args.robot}.yaml")
    clip = Path(os.environ.get("TMPDIR", "/tmp")) / f"locomimic_bench_{args.robot}_trot.npz"
    save_npz(clip, retarget_clip(gait.generate("trot", cycles=2), robot, config["retarget"]).arrays)
    env = make_env("imitation", robot, config["env"], [clip])

    substeps = env.n_substeps
    c_one = mujoco_c_rate(env.mj_model, robot.qpos_default) / substeps
    threads = os.cpu_count() or 1
    c_all = mujoco_rollout_rate(env.mj_model, robot.qpos_default, threads)
    c_all = c_all / substeps if c_all else None
    rows = [{"engine": "MuJoCo C, 1 core", "batch": 1, "env_steps_per_s": round(c_one), "vs_mujoco_1_core": 1.0,
             "compile_s": ""}]
    if c_all:
        rows.append({"engine": f"MuJoCo C rollout, {threads} threads", "batch": 64, "env_steps_per_s": round(c_all),
                     "vs_mujoco_1_core": round(c_all / c_one, 2), "compile_s": ""})
    for num_envs in args.batch_sizes:
        rate, compile_seconds = mjx_rate(env, config["env"], num_envs)
        rows.append({"engine": f"MJX {jax.default_backend().upper()}", "batch": num_envs, "env_steps_per_s": round(rate),
                     "vs_mujoco_1_core": round(rate / c_one, 2), "compile_s": round(compile_seconds, 1)})
        print(rows[-1], flush=True)
    report(f"imitation env ({args.robot}, {substeps} physics substeps per 50 Hz step)", rows, args.csv)


if __name__ == "__main__":
    main()
