"""The ONNX export computes the JAX policy's deterministic action (normaliser included), and policy.json
describes the observation the environments really build; the export stage writes both or one error line.

AMP's policy is the same brax PPO network as PPO's (``locomimic.train.amp`` builds it with
``locomimic.policy.make_networks`` and saves ``(normalizer, policy, value)`` like PPO), so the AMP case
uses parameters shaped and saved as AMP saves them: its normaliser state updated by
``running_statistics.update`` over locomotion observations, freshly initialised networks.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jp
import numpy as np
import pytest
from brax.training.acme import running_statistics, specs

from conftest import REPO, run_locomimic
from locomimic.config import validate_config
from locomimic.errors import LocomimicError
from locomimic.export.onnx_policy import INPUT, OPSET, OUTPUT, OnnxPolicy, build_onnx, max_action_difference
from locomimic.export.runtime_spec import (FORMAT, PDController, check_spec, load_spec, observation_terms,
                                           runtime_spec)
from locomimic.policy import load_policy_params, make_networks, save_policy_params
from locomimic.robots import load_robot

SETTINGS = validate_config({}, "test", ("env", "policy"))
IMITATION_OBS, LOCOMOTION_OBS, ACTIONS = 98, 45, 12  # the default robot's sizes


def saved_params(path, observation_size, seed):
    """Parameters as BC/PPO/AMP save them: a normaliser fitted to non-trivial observations (mean and std
    far from 0 and 1), freshly initialised networks of the configured sizes, written and read back."""
    networks = make_networks(observation_size, ACTIONS, SETTINGS["policy"])
    key = jax.random.PRNGKey(seed)
    normalizer = running_statistics.init_state(specs.Array((observation_size,), jp.dtype("float32")))
    data = 3.0 * jax.random.normal(key, (4096, observation_size)) + jp.linspace(-2.0, 2.0, observation_size)
    normalizer = running_statistics.update(normalizer, data * jp.linspace(0.01, 5.0, observation_size))
    params = (normalizer, networks.policy_network.init(key), networks.value_network.init(key))
    save_policy_params(path, params)
    return load_policy_params(path)


@pytest.mark.parametrize("algo,observations", [("ppo", IMITATION_OBS), ("amp", LOCOMOTION_OBS)])
def test_onnx_action_equals_the_jax_deterministic_action(tmp_path, algo, observations):
    params = saved_params(tmp_path / "policy.params", observations, seed=len(algo))
    model = build_onnx(params)
    assert model.opset_import[0].version == OPSET
    assert [i.name for i in model.graph.input] == [INPUT] and [o.name for o in model.graph.output] == [OUTPUT]
    assert {node.op_type for node in model.graph.node} == {"Sub", "Div", "Gemm", "Sigmoid", "Mul", "Slice", "Tanh"}
    policy = OnnxPolicy(model.SerializeToString())
    assert (policy.observation_size, policy.action_size) == (observations, ACTIONS)
    mean, std = np.asarray(params[0].mean), np.asarray(params[0].std)
    random = np.random.default_rng(0).standard_normal((1000, observations))
    batch = (mean + 3.0 * std * random).astype(np.float32)  # well into tanh's saturation for some actions
    difference = max_action_difference(policy, params, SETTINGS["policy"], batch)
    print(f"{algo}: max |ONNX - JAX| = {difference:.3g} over 1000 observations")
    assert difference < 1e-5
    assert policy(batch[:1]).shape == (1, ACTIONS)  # the batch is dynamic


def test_a_corrupt_onnx_file_is_one_error_naming_it(tmp_path):
    from locomimic.export.onnx_policy import load_onnx_policy

    bad = tmp_path / "policy.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(LocomimicError, match="not a loadable ONNX model") as error:
        load_onnx_policy(bad)
    assert str(bad) in str(error.value)
    with pytest.raises(LocomimicError, match="ONNX policy not found"):
        load_onnx_policy(tmp_path / "missing.onnx")


@pytest.fixture(scope="module")
def envs(trot_clip):
    from locomimic.envs import make_env
    from locomimic.envs.reference import load_reference

    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    reference = load_reference([trot_clip], robot, SETTINGS["env"]["ctrl_dt"])
    return {"imitation": make_env("imitation", robot, SETTINGS["env"], [trot_clip]),
            "locomotion": make_env("locomotion", robot, SETTINGS["env"], reference=reference)}


@pytest.mark.slow
def test_the_observation_layout_is_the_one_the_environments_build(envs):
    """Each term of policy.json's layout, sliced from a real observation, holds what its name says."""
    from locomimic.envs.rotations import quat_to_mat

    for task, env in envs.items():
        terms = {t["name"]: t for t in observation_terms(env, task, SETTINGS["env"])}
        assert sum(t["size"] for t in terms.values()) == env.observation_size
        state = jax.jit(env.reset)(jax.random.PRNGKey(3))
        obs, data = np.asarray(state.obs), state.data
        part = {name: obs[t["start"]:t["start"] + t["size"]] for name, t in terms.items()}
        robot = env.robot
        np.testing.assert_allclose(part["joint_position"], data.qpos[robot.joint_qpos_adr] - robot.default_joints,
                                   atol=1e-6)
        np.testing.assert_allclose(part["joint_velocity"], data.qvel[robot.joint_dof_adr], atol=1e-6)
        np.testing.assert_allclose(part["gravity"], np.asarray(data.xmat[robot.trunk.id]).T @ [0, 0, -1], atol=1e-6)
        np.testing.assert_allclose(part["angular_velocity"], data.qvel[3:6], atol=1e-6)
        np.testing.assert_array_equal(part["last_action"], 0.0)
        if task == "locomotion":
            np.testing.assert_allclose(part["command"], state.info["command"], atol=1e-6)
            continue
        for h in SETTINGS["env"]["imitation"]["reference_horizon"]:
            ref = env.reference_frame(state.info, ahead=h)
            np.testing.assert_allclose(part[f"reference_joint_position_{h}"],
                                       ref["qpos"][robot.joint_qpos_adr] - robot.default_joints, atol=1e-6)
            np.testing.assert_allclose(part[f"reference_gravity_{h}"],
                                       np.asarray(quat_to_mat(ref["qpos"][3:7])).T @ [0, 0, -1], atol=1e-6)
        phase = 2 * np.pi * float(env.reference_frame(state.info)["phase"])
        np.testing.assert_allclose(part["reference_phase"], [np.sin(phase), np.cos(phase)], atol=1e-6)


@pytest.mark.slow
def test_the_runtime_spec_holds_what_a_robot_runtime_needs(envs, tmp_path):
    env = envs["locomotion"]
    robot = env.robot
    spec = runtime_spec(env, "locomotion", SETTINGS["env"], {"robot": robot.name, "algo": "amp"},
                        {"trained_low": [0.4, 0, 0], "trained_high": [0.8, 0, 0]})
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(spec))
    spec = load_spec(path)
    assert spec["format"] == FORMAT and spec["policy"]["task"] == "locomotion"
    assert spec["joints"]["names"] == list(robot.joint_names) and spec["action"]["size"] == env.action_size
    np.testing.assert_allclose(spec["joints"]["default_pose"], robot.default_joints)
    np.testing.assert_allclose(spec["joints"]["kp"], robot.kp)
    np.testing.assert_allclose(spec["joints"]["torque_limit"], robot.torque_limit)
    assert spec["control"]["period"] == env.dt and spec["command"]["axes"] == ["forward", "lateral", "yaw_rate"]
    # The PD law the spec describes is the environments' (QuadrupedEnv.physics_step).
    pd = PDController(spec)
    assert pd.substeps == env.n_substeps
    q, dq = robot.default_joints + 0.3, np.full(len(robot.kp), 2.0)
    expected = np.clip(robot.kp * 1.1 * (robot.default_joints + 0.25 - q) - robot.kd * 0.9 * dq,
                       -robot.torque_limit, robot.torque_limit)
    np.testing.assert_allclose(pd.torques(pd.targets(np.full(len(q), 0.5)), q, dq, 1.1, 0.9), expected)
    assert spec["action"]["origin"] == "default_pose"
    check_spec(spec, path, env, robot.name, "locomotion")
    # Residual actions (env.imitation.action_origin: reference): targets about the reference a step ahead.
    residual = {**spec, "action": {**spec["action"], "origin": "reference"}}
    pd = PDController(residual)
    reference = robot.default_joints - 0.2
    np.testing.assert_allclose(pd.targets(np.full(len(q), 0.5), reference), reference + 0.5 * spec["action"]["scale"])
    with pytest.raises(ValueError, match="about the reference"):
        pd.targets(np.zeros(len(q)))
    with pytest.raises(LocomimicError, match="action.origin: actions about the reference, but the environment's are "
                                             "about the default_pose"):
        check_spec(residual, path, env, robot.name, "locomotion")
    with pytest.raises(LocomimicError, match="exported for robot 'default', not 'unitree_go2'"):
        check_spec(spec, path, env, "unitree_go2", "locomotion")
    with pytest.raises(LocomimicError, match="exported for the locomotion task"):
        check_spec(spec, path, env, robot.name, "imitation")
    path.write_text(json.dumps({"format": FORMAT, "policy": {"robot": "default"}}))
    with pytest.raises(LocomimicError, match="policy: missing field"):
        load_spec(path)


@pytest.mark.slow
def test_the_export_stage_writes_the_graph_and_spec_or_one_error_line(tmp_path, trot_clip):
    run = tmp_path / "train" / "default" / "trot" / "ppo" / "seed0"
    saved_params(run / "policy.params", IMITATION_OBS, seed=3)
    (run / "summary.json").write_text(json.dumps({"task": "imitation", "robot": "default"}))
    out = tmp_path / "export"
    args = ["export", "--robot", str(REPO / "config/robots/default.yaml"), "--clips", str(trot_clip),
            "--settings", json.dumps({"env": {}, "policy": {}}), "--motion", "trot", "--algo", "ppo", "--seed", "0",
            "--run-summary", str(run / "summary.json"), "--onnx", str(out / "policy.onnx"),
            "--spec", str(out / "policy.json")]
    done = run_locomimic(*args, "--params", str(run / "policy.params"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ONNX vs JAX max |difference|" in done.stderr
    spec = load_spec(out / "policy.json")
    assert spec["policy"]["onnx_check"]["max_abs_difference"] < 1e-5 and spec["policy"]["onnx"] == "policy.onnx"
    assert spec["reference"]["clips"] == ["trot"] and spec["observation"]["size"] == IMITATION_OBS
    assert OnnxPolicy(out / "policy.onnx").observation_size == IMITATION_OBS
    # A locomotion policy's parameters under an imitation run: refused with one line naming the file.
    wrong = tmp_path / "wrong.params"
    saved_params(wrong, LOCOMOTION_OBS, seed=1)
    missing = tmp_path / "missing.params"
    for params, message in ((wrong, "changed since training"), (missing, "policy parameters not found")):
        done = run_locomimic(*args, "--onnx", str(tmp_path / "x.onnx"), "--spec", str(tmp_path / "x.json"),
                             "--params", str(params))
        assert done.returncode == 2
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {params}") and message in last, last
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "x.json").exists()
