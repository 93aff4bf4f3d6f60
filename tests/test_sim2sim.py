"""Sim-to-sim: plain MuJoCo (C mj_step) under the exported spec's PD law follows MJX for a short horizon
on the same actions, and the sim2sim stage writes the evaluate stage's metrics for an exported policy,
beside the MJX ones in the aggregated table."""

from __future__ import annotations

import csv
import json

import jax
import jax.numpy as jp
import numpy as np
import pytest

from conftest import REPO, run_locomimic
from locomimic.config import validate_config
from locomimic.evaluate.metrics import METRICS
from locomimic.robots import load_robot
from test_export import IMITATION_OBS, saved_params

SETTINGS = validate_config({}, "test", ("env", "evaluate"))


@pytest.mark.slow
def test_plain_mujoco_steps_like_mjx_on_the_same_actions():
    """The same open-loop actions (no policy, no reference tracker) from the same seeded, randomised starts
    (friction, masses, PD gain scales): the trunk and joints stay within a few mm / mrad of MJX for 0.24 s,
    so the PD law, its gains and limits, the control rate and the randomised models match."""
    from locomimic.envs import make_env
    from locomimic.envs.locomotion import with_fixed_command
    from locomimic.envs.rollout import rollout
    from locomimic.evaluate.episodes import evaluation_record
    from locomimic.evaluate.mujoco_sim import MujocoEpisodes
    from locomimic.export.runtime_spec import runtime_spec

    settings = with_fixed_command(SETTINGS["env"], [0.5, 0.0, 0.0])
    assert settings["randomization"]["enabled"]
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    env = make_env("locomotion", robot, settings)
    episodes, steps, seed = 4, 12, 3
    phase = np.arange(env.action_size) * 0.7

    def actions(step):  # joints swinging at 2 Hz, 0.15 rad of PD target
        return 0.3 * np.sin(2 * np.pi * 2.0 * step * env.dt + phase)

    def act(state):  # the same actions for MJX, from the task's own step counter
        return 0.3 * jp.sin(2 * jp.pi * 2.0 * state.info["step"][:, None] * env.dt + jp.asarray(phase))

    record_fn = evaluation_record(env, "locomotion")
    mjx = rollout(env, act, settings, episodes, steps, seed, record_fn=record_fn)
    sim = MujocoEpisodes(env, settings, episodes, seed, runtime_spec(env, "locomotion", settings, {"robot": "default"}),
                         record_fn)
    state, records = sim.reset(), []
    for step in range(steps):
        state, record = sim.step(state, np.tile(actions(step), (episodes, 1)).astype(np.float32))
        records.append(jax.device_get(record))
    mujoco = {name: np.stack([r[name] for r in records], axis=1) for name in records[0]}
    np.testing.assert_allclose(mujoco["actions"], mjx["actions"], atol=1e-6)
    np.testing.assert_allclose(mujoco["observations"][:, 0], mjx["observations"][:, 0], atol=1e-6)  # same starts
    qpos_gap = np.abs(mujoco["qpos"] - mjx["qpos"]).max()
    print(f"max |qpos MuJoCo - MJX| over {steps} steps: {qpos_gap:.2g}")
    assert qpos_gap < 5e-3
    assert np.abs(mujoco["rewards"] - mjx["rewards"]).max() < 1e-2
    assert not mujoco["dones"].any() and not mjx["dones"].any()


@pytest.mark.slow
def test_residual_actions_follow_the_reference_in_plain_mujoco_as_in_mjx(trot_clip):
    """Actions about the reference (env.imitation.action_origin: reference): zero actions in plain MuJoCo,
    under the spec's PD law with the reference a step ahead, track the clip as the MJX episodes do."""
    from locomimic.envs import make_env
    from locomimic.envs.rollout import rollout
    from locomimic.evaluate.episodes import evaluation_record
    from locomimic.evaluate.mujoco_sim import MujocoEpisodes
    from locomimic.export.runtime_spec import runtime_spec

    settings = SETTINGS["env"] | {"imitation": SETTINGS["env"]["imitation"] | {"action_origin": "reference"}}
    env = make_env("imitation", load_robot(REPO / "config" / "robots" / "default.yaml"), settings, [trot_clip])
    episodes, steps, seed = 3, 12, 4
    spec = runtime_spec(env, "imitation", settings, {"robot": "default"})
    assert spec["action"]["origin"] == "reference"
    record_fn = evaluation_record(env, "imitation")
    mjx = rollout(env, lambda state: jp.zeros((episodes, env.action_size)), settings, episodes, steps, seed,
                  record_fn=record_fn)
    sim = MujocoEpisodes(env, settings, episodes, seed, spec, record_fn)
    state, qpos = sim.reset(), []
    for _ in range(steps):
        state, record = sim.step(state, np.zeros((episodes, env.action_size), np.float32))
        qpos.append(np.asarray(record["qpos"]))
    gap = np.abs(np.stack(qpos, axis=1) - mjx["qpos"]).max()
    print(f"max |qpos MuJoCo - MJX| over {steps} steps: {gap:.2g}")
    assert gap < 5e-3 and not mjx["dones"].any()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trot_clip):
    """An imitation policy (fresh weights) exported by the export stage."""
    root = tmp_path_factory.mktemp("sim2sim")
    run = root / "train" / "default" / "trot" / "ppo" / "seed0"
    saved_params(run / "policy.params", IMITATION_OBS, seed=5)
    (run / "summary.json").write_text(json.dumps({"task": "imitation", "robot": "default"}))
    out = root / "export"
    done = run_locomimic("export", "--robot", str(REPO / "config/robots/default.yaml"), "--clips", str(trot_clip),
                         "--settings", json.dumps({"env": {}, "policy": {}}), "--motion", "trot", "--algo", "ppo",
                         "--seed", "0", "--params", str(run / "policy.params"), "--run-summary",
                         str(run / "summary.json"), "--onnx", str(out / "policy.onnx"), "--spec", str(out / "policy.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    return root, out / "policy.onnx", out / "policy.json"


def sim2sim_args(trot_clip, onnx, spec, out):
    return ["sim2sim", "--robot", str(REPO / "config/robots/default.yaml"), "--clips", str(trot_clip),
            "--settings", json.dumps({"env": {"episode_length": 20}, "evaluate": {"episodes": 3}}), "--onnx", str(onnx),
            "--spec", str(spec), "--policy", "ppo", "--seed", "0", "--motion", "trot", "--out", str(out / "metrics.json"),
            "--episodes", str(out / "episodes.csv")]


@pytest.mark.slow
def test_sim2sim_writes_the_evaluation_metrics_beside_mjx(exported, trot_clip):
    from locomimic.evaluate.aggregate import aggregate, load_run

    root, onnx, spec = exported
    out = root / "sim2sim"
    done = run_locomimic(*sim2sim_args(trot_clip, onnx, spec, out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sim2sim ppo: 60/60 env steps" in done.stderr  # progress lines like the other stages
    run = load_run(out / "metrics.json")
    assert run["simulator"] == "mujoco" and run["task"] == "imitation" and run["episodes"] == 3
    assert run["eval_seed"] == SETTINGS["evaluate"]["seed"]  # the MJX evaluation's starts for training seed 0
    assert set(run["metrics"]) == set(METRICS)  # an imitation evaluation's columns, as the evaluate stage writes
    with open(out / "episodes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and list(rows[0]) == ["episode", *METRICS, "clip"]
    mjx = {key: value for key, value in run.items() if key != "simulator"}  # evaluate's runs name no simulator
    mjx["metrics"] = {name: {"mean": 1.0, "ci95": 0.1, "n": 3} for name in METRICS}
    rows, document = aggregate([mjx, run])
    assert [(row["policy"], row["simulator"]) for row in rows] == [("ppo", "mjx"), ("ppo", "mujoco")]
    assert set(document["results"]["default"]["trot"]) == {"ppo", "ppo (mujoco)"}


@pytest.mark.slow
def test_a_spec_for_another_robot_is_one_error_line(exported, trot_clip, tmp_path):
    _, onnx, spec = exported
    other = tmp_path / "policy.json"
    document = json.loads(spec.read_text())
    document["policy"]["robot"] = "unitree_go2"
    other.write_text(json.dumps(document))
    done = run_locomimic(*sim2sim_args(trot_clip, onnx, other, tmp_path))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"error: {other}: policy.robot: exported for robot 'unitree_go2', not 'default'", last
    assert not (tmp_path / "metrics.json").exists()
