"""Evaluation metrics, intervals and aggregation on known inputs; bad policy files name themselves.

The metrics of real policies and baselines on the real workflow are checked in test_workflow.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import REPO, run_locomimic
from locomimic.errors import LocomimicError
from locomimic.evaluate.aggregate import aggregate
from locomimic.evaluate.metrics import GRAVITY, METRICS, episode_metrics, mean_ci
from locomimic.envs.reference import load_reference
from locomimic.evaluate.policies import locomotion_command, task_for
from locomimic.policy import check_params
from locomimic.robots import load_robot

DT = 0.02


def walking_record(episodes=2, steps=6, speed=0.5, fall_at=None):
    """A trunk moving forward at ``speed`` with planted feet, a constant power and a known joint offset."""
    t = np.arange(steps) * DT
    qpos = np.zeros((episodes, steps, 7))
    qpos[..., 0] = speed * t
    feet = np.zeros((episodes, steps, 4, 3))
    feet[..., 2] = 0.02  # on the ground (foot radius 0.02)
    dones = np.zeros((episodes, steps))
    failures = np.zeros((episodes, steps))
    if fall_at is not None:
        dones[0, fall_at] = failures[0, fall_at] = 1.0
    actions = np.zeros((episodes, steps, 3))
    actions[:, 1::2] = 0.1  # alternating 0, 0.1: every change is 0.1
    return {
        "dones": dones, "failures": failures, "falls": failures.copy(), "rewards": np.ones((episodes, steps)),
        "qpos": qpos, "joint_qpos": np.full((episodes, steps, 3), 0.2), "ref_joint_qpos": np.zeros((episodes, steps, 3)),
        "ref_qpos": qpos.copy(), "feet": feet, "ref_feet": feet + qpos[:, :, None, :3] * [1, 0, 0], "actions": actions,
        "power": np.full((episodes, steps), 10.0), "velocity": np.tile([speed, 0.0], (episodes, steps, 1)),
        "target_velocity": np.tile([speed - 0.1, 0.0], (episodes, steps, 1)),
    }


def test_metrics_measure_what_they_say():
    mass = 12.0
    m = episode_metrics(walking_record(fall_at=2), "imitation", DT, mass, foot_radius=0.02)
    assert set(m) == set(METRICS)
    assert m["survival_rate"].tolist() == [0.0, 1.0] and m["fall_rate"].tolist() == [1.0, 0.0]
    assert m["survival_time"] == pytest.approx([3 * DT, 6 * DT])
    assert m["return"].tolist() == [3.0, 6.0]
    assert m["joint_rmse"] == pytest.approx([0.2, 0.2])
    # The reference's feet walk with its root, the robot's stay put: 0.5 m/s x t apart, mean over t = 0..5 DT.
    assert m["foot_error"][1] == pytest.approx(0.5 * 2.5 * DT)
    assert m["root_position_error"] == pytest.approx([0.0, 0.0])
    assert m["root_velocity_error"] == pytest.approx([0.1, 0.1])
    assert m["speed"] == pytest.approx([0.5, 0.5])
    assert m["target_speed"] == pytest.approx([0.4, 0.4])
    # Energy 10 W x 6 steps x DT over m g times 0.5 m/s x 5 DT.
    assert m["cost_of_transport"][1] == pytest.approx(10 * 6 * DT / (mass * GRAVITY * 0.5 * 5 * DT))
    assert m["action_smoothness"] == pytest.approx([0.1, 0.1])
    assert m["foot_slip"] == pytest.approx([0.0, 0.0])


def test_bc_closed_loop_check_uses_the_evaluations_definitions():
    """BC's check against its expert and the evaluate stage give one policy the same survival and joint
    RMSE (one definition: RMS over the episode of the per-step RMS over joints, first episodes only)."""
    from locomimic.bc.evaluate import first_episode_stats

    record = walking_record(fall_at=2)
    rng = np.random.default_rng(0)
    record["joint_qpos"] = record["ref_joint_qpos"] + rng.normal(0.0, 0.2, record["ref_joint_qpos"].shape)
    record["joint_error"] = np.sqrt(((record["joint_qpos"] - record["ref_joint_qpos"]) ** 2).mean(axis=-1))
    record["root_error"] = np.zeros_like(record["rewards"])
    m = episode_metrics(record, "imitation", DT, 12.0, foot_radius=0.02)
    stats = first_episode_stats(record, DT)
    assert stats["joint_rmse_mean"] == pytest.approx(m["joint_rmse"].mean(), rel=1e-12)
    assert stats["survival_rate"] == m["survival_rate"].mean()
    assert stats["survival_time_mean"] == pytest.approx(m["survival_time"].mean())


def test_undefined_metrics_are_nan_not_errors():
    record = walking_record(speed=0.0)
    record["feet"][..., 2] = 0.3  # feet in the air: no contact, no slip to measure
    m = episode_metrics(record, "locomotion", DT, 12.0, foot_radius=0.02)
    assert "joint_rmse" not in m and "foot_error" not in m  # no time-aligned reference
    assert np.isnan(m["cost_of_transport"]).all() and np.isnan(m["foot_slip"]).all()
    assert mean_ci(m["foot_slip"]) == {"mean": None, "ci95": None, "n": 0}


def test_mean_and_95_percent_interval():
    stat = mean_ci([1.0, 2.0, 3.0])
    assert stat["mean"] == 2.0 and stat["n"] == 3
    assert stat["ci95"] == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)  # t(0.975, 2) * s / sqrt(n)
    assert mean_ci([5.0, float("nan")]) == {"mean": 5.0, "ci95": None, "n": 1}


def run(policy, seed, value, ci=0.1, task="imitation"):
    metrics = {name: {"mean": value, "ci95": ci, "n": 4} for name in METRICS}
    return {"robot": "default", "motion": "trot", "policy": policy, "seed": seed, "task": task, "episodes": 4,
            "metrics": metrics}


def test_aggregate_over_seeds_or_over_episodes():
    rows, document = aggregate([run("ppo", 0, 1.0), run("ppo", 1, 3.0), run("bc", 0, 2.0, ci=0.5)])
    ppo = document["results"]["default"]["trot"]["ppo"]
    assert ppo["ci_over"] == "seeds" and ppo["seeds"] == [0, 1]
    assert ppo["metrics"]["return"]["mean"] == 2.0
    assert ppo["metrics"]["return"]["ci95"] == pytest.approx(12.7062, rel=1e-4)  # t(0.975, 1) * sqrt(2) / sqrt(2)
    bc = document["results"]["default"]["trot"]["bc"]
    assert bc["ci_over"] == "episodes" and bc["metrics"]["return"] == {"mean": 2.0, "ci95": 0.5, "n": 4,
                                                                        "low": 1.5, "high": 2.5}
    assert [row["policy"] for row in rows] == ["ppo", "bc"]
    assert rows[1]["return"] == "2" and rows[1]["return_ci95"] == "0.5" and rows[1]["seeds"] == 1
    assert {row["simulator"] for row in rows} == {"mjx"}  # the evaluate stage's runs (sim-to-sim: test_sim2sim.py)
    assert set(document["definitions"]) == set(METRICS)


def test_task_of_each_policy():
    assert task_for("amp") == "locomotion"
    assert task_for("ppo") == task_for("ppo_scratch") == task_for("bc") == task_for("reference") == "imitation"
    assert task_for("ppo", {"task": "locomotion"}) == "locomotion"  # a run's summary names its task


def test_locomotion_command_follows_the_motion(trot_clip):
    """One notion of the motion's command: what locomotion BC is checked on, AMP evaluated on, and the
    centre of the range AMP trains on (``command_range``)."""
    reference = load_reference([trot_clip], load_robot(REPO / "config" / "robots" / "default.yaml"), 0.02)
    command = locomotion_command(reference, {"command": None})
    assert command == reference.mean_command
    assert 0.55 < command[0] < 0.65 and abs(command[1]) < 0.05 and abs(command[2]) < 0.1  # the 0.6 m/s trot
    assert locomotion_command(reference, {"command": [0.3, 0.0, 0.1]}) == [0.3, 0.0, 0.1]


@pytest.fixture(scope="module")
def small_policy(tmp_path_factory):
    """Freshly initialised brax PPO parameters for 10 observations and 4 actions, saved as the stages do."""
    import jax
    from brax.training.acme import running_statistics, specs

    from locomimic.policy import make_networks, save_policy_params

    settings = {"policy_hidden_layers": [8, 8], "value_hidden_layers": [8]}
    networks = make_networks(10, 4, settings)
    key = jax.random.PRNGKey(0)
    params = (running_statistics.init_state(specs.Array((10,), np.float32)),
              networks.policy_network.init(key), networks.value_network.init(key))
    path = tmp_path_factory.mktemp("policy") / "policy.params"
    save_policy_params(path, params)
    return path, params, settings


def test_a_policy_for_another_robot_is_refused_naming_its_file(small_policy):
    path, params, settings = small_policy
    check_params(params, path, 10, 4, settings)  # fits
    for observations, actions in ((12, 4), (10, 6)):
        with pytest.raises(LocomimicError, match="changed since training") as error:
            check_params(params, path, observations, actions, settings)
        assert str(path) in str(error.value)
    with pytest.raises(LocomimicError, match="hidden layers"):
        check_params(params, path, 10, 4, {**settings, "policy_hidden_layers": [16, 16]})


@pytest.mark.slow
def test_evaluating_a_corrupt_or_mismatched_checkpoint_fails_with_one_line(small_policy, trot_clip, tmp_path):
    corrupt = tmp_path / "corrupt.params"
    corrupt.write_bytes(b"not a pickle")
    settings = json.dumps({"env": {"episode_length": 10}, "evaluate": {"episodes": 2}})
    common = ["evaluate", "--robot", str(REPO / "config/robots/default.yaml"), "--clips", str(trot_clip),
              "--motion", "trot", "--policy", "ppo", "--seed", "0", "--settings", settings,
              "--out", str(tmp_path / "m.json"), "--episodes", str(tmp_path / "e.csv"),
              "--trajectory", str(tmp_path / "t.npz")]
    for params, message in ((corrupt, "not a readable policy parameter file"),
                            (small_policy[0], "changed since training"),
                            (tmp_path / "missing.params", "policy parameters not found")):
        done = run_locomimic(*common, "--params", str(params))
        assert done.returncode == 2, done.stderr[-2000:]
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {params}") and message in last, last
    assert not (tmp_path / "m.json").exists()


def test_policy_actions_are_deterministic_or_sampled_from_per_environment_keys(small_policy):
    import jax

    from locomimic.evaluate.policies import policy_act

    path, params, settings = small_policy

    class State:  # what the act function reads from the batched, auto-reset-wrapped state
        obs = jax.random.normal(jax.random.PRNGKey(1), (3, 10))
        info = {"AutoResetWrapper_rng": jax.random.split(jax.random.PRNGKey(2), 3)}

    mean = policy_act(params, path, 10, 4, settings)(State, params)
    assert mean.shape == (3, 4) and np.array_equal(mean, policy_act(params, path, 10, 4, settings)(State, params))
    sampled = policy_act(params, path, 10, 4, settings, deterministic=False)(State, params)
    assert sampled.shape == (3, 4) and np.abs(sampled).max() <= 1.0 and not np.allclose(sampled, mean)
    State.info = {"AutoResetWrapper_rng": jax.random.split(jax.random.PRNGKey(3), 3)}  # the wrapper's next keys
    again = policy_act(params, path, 10, 4, settings, deterministic=False)(State, params)
    assert not np.allclose(again, sampled)
