"""PPO training on real MJX: from BC and from scratch, checkpoints, resume after a kill, NaN guard, devices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import jax.numpy as jp
import numpy as np
import pytest

from conftest import REPO
from locomimic.config import load_config
from locomimic.envs import make_env
from locomimic.jaxcache import enable_compilation_cache
from locomimic.policy import all_finite, load_policy_params, make_inference_fn
from locomimic.robots import load_robot
from locomimic.train import checkpoints
from locomimic.train.ppo import train_ppo
from locomimic.train.run import TrainingDiverged

pytestmark = pytest.mark.slow  # every test trains
CONFIG = load_config(REPO / "config" / "config.yaml")
TINY_PPO = {"num_envs": 8, "batch_size": 8, "num_minibatches": 2, "unroll_length": 5, "num_updates_per_batch": 1,
            "num_eval_envs": 4}
SETTINGS = {"env": {"episode_length": 60}, "policy": {"policy_hidden_layers": [32, 32], "value_hidden_layers": [32, 32]},
            "train": {"num_timesteps": 1280, "checkpoint_every": 640, "ppo": TINY_PPO}}
enable_compilation_cache()


@pytest.fixture
def clip(trot_clip):
    return trot_clip


def train_command(clip, run_dir, settings=SETTINGS, extra=()):
    return [sys.executable, "-m", "locomimic", "train", "--robot", str(REPO / "config/robots/default.yaml"),
            "--clips", str(clip), "--algo", "ppo_scratch", "--seed", "0", "--settings", json.dumps(settings),
            "--out", str(run_dir / "policy.params"), "--metrics", str(run_dir / "metrics.csv"),
            "--summary", str(run_dir / "summary.json"), *extra]


def test_killed_run_resumes_from_its_last_checkpoint(clip, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(train_command(clip, run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = run / "checkpoints" / f"{640:012d}"
    deadline = time.time() + 600
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.exists(), "no checkpoint after the first evaluation"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "policy.params").exists()

    done = subprocess.run(train_command(clip, run), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from checkpoint" in done.stderr
    assert "train: 1280/1280 env steps (100%)" in done.stderr  # progress counts to what brax runs
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from"] >= 640 and summary["steps"] == 1280
    steps = [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == 1280 and 640 in steps
    # The saved policy loads and acts.
    params = load_policy_params(run / "policy.params")
    policy = make_inference_fn(54 + 44, 12, SETTINGS["policy"])(params, deterministic=True)
    action = np.asarray(policy(jp.zeros(98), None)[0])
    assert action.shape == (12,) and np.isfinite(action).all() and np.abs(action).max() <= 1.0


def test_training_on_two_devices(clip, tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    settings = {**SETTINGS, "train": {**SETTINGS["train"], "num_timesteps": 640}}
    done = subprocess.run(train_command(clip, tmp_path, settings), capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "training on 2 cpu device(s)" in done.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 640


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(clip, tmp_path):
    """Rewards scaled by 1e30 overflow the value loss: the first update turns losses and weights to inf/NaN."""
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    env_settings = CONFIG["env"] | {"episode_length": 60}
    env = make_env("imitation", robot, env_settings, [clip])
    settings = {**CONFIG["train"]["ppo"], **TINY_PPO, "reward_scaling": 1e30, "num_timesteps": 1280,
                "checkpoint_every": 640}
    with pytest.raises(TrainingDiverged, match=r"NaN or inf in .* at step 640; stopped, the last good checkpoint is kept"):
        train_ppo(env, env_settings, SETTINGS["policy"], settings, tmp_path, seed=0)
    step, path = checkpoints.latest(tmp_path / "checkpoints")  # the newest checkpoint is a good one
    assert step <= 640 and all_finite(checkpoints.load(path))


def test_ppo_from_scratch_with_initial_std_starts_near_zero_actions_with_that_noise(clip, tmp_path):
    """train.ppo.initial_std: the run's first checkpoint acts close to the zero action with the given noise."""
    from locomimic.policy import make_networks

    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    env_settings = CONFIG["env"] | {"episode_length": 60}
    env = make_env("imitation", robot, env_settings, [clip])
    settings = {**CONFIG["train"]["ppo"], **TINY_PPO, "initial_std": 0.2, "num_timesteps": 640, "checkpoint_every": 640}
    train_ppo(env, env_settings, SETTINGS["policy"], settings, tmp_path, seed=0)
    step, path = checkpoints.steps(tmp_path / "checkpoints")[0]
    assert step == 0
    normalizer, policy, _ = checkpoints.load(path)
    networks = make_networks(env.observation_size, env.action_size, SETTINGS["policy"])
    observations = np.random.default_rng(0).normal(size=(64, env.observation_size)).astype(np.float32)
    distribution = networks.parametric_action_distribution.create_dist(
        networks.policy_network.apply(normalizer, policy, observations))
    np.testing.assert_allclose(distribution.scale, 0.2, rtol=1e-5)
    assert np.abs(distribution.loc).max() < 0.05  # brax's initialisation: about 0.5
