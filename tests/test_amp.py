"""AMP pieces on real data: motion features agree between simulation and clips, the discriminator
learns to tell reference from policy histories, and AMP trains, logs, saves and resumes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import jax
import jax.numpy as jp
import numpy as np
import optax
import pytest
from brax.training.acme import running_statistics, specs

from conftest import REPO
from locomimic.config import load_config
from locomimic.envs import make_env, make_training_env
from locomimic.envs.locomotion import command_range, command_statistics
from locomimic.envs.motion_features import ReferenceHistories, feature_size, motion_features
from locomimic.envs.reference import load_reference
from locomimic.jaxcache import enable_compilation_cache
from locomimic.policy import load_policy_params, make_inference_fn, make_networks, save_policy_params
from locomimic.robots import load_robot
from locomimic.train import checkpoints
from locomimic.train import discriminator as disc_lib

CONFIG = load_config(REPO / "config" / "config.yaml")

# A locomotion env without a motion needs its command range set (null, the default, is the motion's own).
STANDALONE_ENV = CONFIG["env"] | {"locomotion": CONFIG["env"]["locomotion"] | {"command_low": [0.4, 0.0, 0.0],
                                                                            "command_high": [0.8, 0.0, 0.0]}}
ROBOT = REPO / "config" / "robots" / "default.yaml"
enable_compilation_cache()


@pytest.mark.slow
def test_simulated_and_reference_features_agree(trot_clip):
    """A simulated state set to a reference frame has that frame's features (feet from FK match the clip)."""
    robot = load_robot(ROBOT)
    env = make_env("locomotion", robot, STANDALONE_ENV, feature_history=2)
    reference = load_reference([trot_clip], robot, 0.02, min_frames=3)
    k = 7
    qpos, qvel = reference.qpos[0, k], reference.qvel[0, k]
    from_sim = env.motion_features(env.make_data(jp.asarray(qpos), jp.asarray(qvel)))
    from_clip = motion_features(jp.asarray(qpos), jp.asarray(qvel), jp.asarray(reference.end_effectors[0, k]),
                                np.asarray(robot.joint_qpos_adr), np.asarray(robot.joint_dof_adr))
    assert from_sim.shape == (feature_size(12, 4),)
    np.testing.assert_allclose(np.asarray(from_sim), np.asarray(from_clip), atol=2e-3)

    histories = ReferenceHistories(reference, np.asarray(robot.joint_qpos_adr), np.asarray(robot.joint_dof_adr), 3)
    sample = np.asarray(histories.sample(jax.random.PRNGKey(0), 16))
    assert sample.shape == (16, 3, feature_size(12, 4)) and np.isfinite(sample).all()
    assert not np.allclose(sample[:, 0], sample[:, 1])  # consecutive frames, not copies


@pytest.mark.slow
def test_reference_state_initialisation_starts_mid_stride_and_evaluation_starts_standing(trot_clip):
    """With reference_init = 1 every episode starts on a reference frame (over the origin, at its
    velocity); the evaluation copy and an env without a reference start from the standing pose."""
    robot = load_robot(ROBOT)
    reference = load_reference([trot_clip], robot, 0.02, min_frames=3)
    settings = CONFIG["env"] | {"locomotion": CONFIG["env"]["locomotion"] | {"reference_init": 1.0}}
    env = make_env("locomotion", robot, settings, feature_history=2, reference=reference)
    states = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 8))
    qpos, qvel = np.asarray(states.data.qpos), np.asarray(states.data.qvel)
    frames = reference.qpos[0, :reference.lengths[0]]
    for q in qpos:  # each start is some frame of the clip, moved over the origin
        nearest = np.abs(frames[:, 2:] - q[2:]).max(axis=1).min()
        assert nearest < 1e-5 and np.allclose(q[:2], 0.0)
    assert len({round(float(q[7]), 6) for q in qpos}) > 1  # different frames
    assert np.abs(qvel[:, 0]).mean() > 0.2  # moving at the trot's speed, not standing
    for standing in (env.without_reference_init(), make_env("locomotion", robot, STANDALONE_ENV | {
            "locomotion": STANDALONE_ENV["locomotion"] | {"reference_init": 1.0}}, feature_history=2)):
        start = jax.jit(jax.vmap(standing.reset))(jax.random.split(jax.random.PRNGKey(0), 8))
        np.testing.assert_allclose(np.asarray(start.data.qvel), 0.0)
        np.testing.assert_allclose(np.asarray(start.data.qpos)[:, 2], robot.qpos_default[2], atol=1e-6)


@pytest.mark.slow
def test_history_follows_steps_and_restarts_after_auto_reset(trot_clip):
    robot = load_robot(ROBOT)
    settings = STANDALONE_ENV | {"episode_length": 3}
    env = make_env("locomotion", robot, settings, feature_history=2)
    batched = make_training_env(env, settings, 2, seed=0)
    state = jax.jit(batched.reset)(jax.random.split(jax.random.PRNGKey(0), 2))
    step = jax.jit(batched.step)
    for t in range(4):
        previous = np.asarray(jax.vmap(env.motion_features)(state.data))
        state = step(state, jp.zeros((2, 12)))
        history = np.asarray(state.info["motion_history"])
        if t == 3:  # the step after the time limit starts from the reset state: no frame of the old episode
            first = np.asarray(jax.vmap(env.motion_features)(state.info["AutoResetWrapper_first_data"]))
            np.testing.assert_allclose(history[:, 0], first, atol=1e-6)
        else:
            np.testing.assert_allclose(history[:, 0], previous, atol=1e-6)


def test_discriminator_separates_reference_from_policy_and_rewards_reference_like_motion():
    """Real flax training on two feature distributions; the gradient penalty and logit terms are finite."""
    module = disc_lib.Discriminator((32, 32))
    settings = {"loss": "lsq", "gradient_penalty": 5.0, "logit_regularization": 0.01, "weight_decay": 1e-4}
    key = jax.random.PRNGKey(0)
    reference = 0.5 + 0.1 * jax.random.normal(key, (512, 2, 5))
    policy = -0.5 + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (512, 2, 5))
    state = disc_lib.init_state(module, key, 10)
    from brax.training.acme import running_statistics
    normalizer = running_statistics.update(state.normalizer, jp.concatenate([reference, policy]).reshape(1024, 10))
    optimizer = optax.adam(1e-3)
    params, opt_state = state.params, optimizer.init(state.params)
    grad_fn = jax.jit(jax.value_and_grad(lambda p: disc_lib.loss_fn(p, module, normalizer, reference, policy, settings),
                                         has_aux=True))
    for _ in range(200):
        (loss, metrics), grads = grad_fn(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        params = optax.apply_updates(params, updates)
    assert np.isfinite(float(loss)) and all(np.isfinite(float(v)) for v in metrics.values())
    assert float(metrics["disc_reference_accuracy"]) > 0.95 and float(metrics["disc_policy_accuracy"]) > 0.95
    for loss_kind in ("lsq", "bce"):
        ref_reward = disc_lib.style_reward(disc_lib.logits(module, params, normalizer, reference), loss_kind)
        pol_reward = disc_lib.style_reward(disc_lib.logits(module, params, normalizer, policy), loss_kind)
        assert float(jp.mean(ref_reward)) > float(jp.mean(pol_reward)) + 0.3


def test_replay_buffer_wraps_around():
    buffer = disc_lib.ReplayBuffer.create(5, 1, 1)
    buffer = buffer.insert(jp.arange(3.0).reshape(3, 1, 1))
    buffer = buffer.insert(jp.arange(3.0, 7.0).reshape(4, 1, 1))
    assert int(buffer.size) == 5 and int(buffer.position) == 2
    assert sorted(np.asarray(buffer.data).ravel().tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert set(np.asarray(buffer.sample(jax.random.PRNGKey(0), 64)).ravel().tolist()) <= {2.0, 3.0, 4.0, 5.0, 6.0}


TINY = {"env": {"episode_length": 60}, "policy": {"policy_hidden_layers": [32, 32], "value_hidden_layers": [32, 32]},
        "train": {"num_timesteps": 1280, "checkpoint_every": 640,
                  "ppo": {"num_envs": 8, "batch_size": 8, "num_minibatches": 2, "unroll_length": 5,
                          "num_updates_per_batch": 1, "num_eval_envs": 4},
                  "amp": {"hidden_layers": [32, 32], "batch_size": 64, "disc_updates": 2, "replay_size": 1000}}}


def amp_command(clip, run_dir, settings):
    return [sys.executable, "-m", "locomimic", "train", "--robot", str(ROBOT), "--clips", str(clip), "--algo", "amp",
            "--seed", "0", "--settings", json.dumps(settings), "--out", str(run_dir / "policy.params"),
            "--metrics", str(run_dir / "metrics.csv"), "--summary", str(run_dir / "summary.json")]


def start_params(observation_size: int, seed: int = 7):
    """A policy file in the layout locomotion BC saves: fitted normaliser, policy and value networks.

    The seed differs from the run's (0): JAX's partitionable threefry makes ``split(key, n)[i]`` the
    same for every ``n``, so seed 0 would draw the very value network AMP initialises afresh.
    """
    networks = make_networks(observation_size, 12, TINY["policy"])
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    normalizer = running_statistics.init_state(specs.Array((observation_size,), jp.dtype("float32")))
    normalizer = running_statistics.update(normalizer, jax.random.normal(keys[0], (256, observation_size)) + 0.5)
    return normalizer, networks.policy_network.init(keys[1]), networks.value_network.init(keys[2])


@pytest.mark.slow
def test_amp_starts_from_bc_trains_logs_the_discriminator_and_continues_a_finished_run(trot_clip, tmp_path):
    size = make_env("locomotion", load_robot(ROBOT), STANDALONE_ENV).observation_size
    init = tmp_path / "bc" / "policy.params"
    save_policy_params(init, start_params(size + 1))
    done = subprocess.run(amp_command(trot_clip, tmp_path, TINY) + ["--init", str(init)], capture_output=True, text=True)
    assert done.returncode != 0 and f"{init}: made for observations of size {size + 1}" in done.stderr

    start = start_params(size)
    save_policy_params(init, start)
    done = subprocess.run(amp_command(trot_clip, tmp_path, TINY) + ["--init", str(init)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "discriminator accuracy" in done.stderr and "ETA" in done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["task"] == "locomotion" and summary["steps"] == 1280 and summary["initialised_from"] == str(init)
    # Step 0 is the BC start: its normaliser and policy, with a fresh value network. The normaliser's
    # command inputs are the task's command range's, at the start and after training (a running estimate
    # would shrink the std of the lateral and yaw commands, which the task holds fixed, to 1e-6).
    normalizer, policy, value, _ = checkpoints.load(tmp_path / "checkpoints" / f"{0:012d}")
    np.testing.assert_allclose(np.asarray(normalizer.mean)[:-3], np.asarray(start[0].mean)[:-3], rtol=1e-6)
    command_mean, command_std = command_statistics(*command_range(CONFIG["env"]["locomotion"],
                                                                  load_reference([trot_clip], load_robot(ROBOT), CONFIG["env"]["ctrl_dt"])))
    np.testing.assert_allclose(command_std, [0.4 / np.sqrt(12), 1.0, 1.0], rtol=1e-5)
    for pinned in (normalizer, load_policy_params(tmp_path / "policy.params")[0]):
        np.testing.assert_allclose(np.asarray(pinned.mean)[-3:], command_mean, atol=1e-6)
        np.testing.assert_allclose(np.asarray(pinned.std)[-3:], command_std, rtol=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(policy), jax.tree_util.tree_leaves(start[1])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(value),
                                                      jax.tree_util.tree_leaves(start[2])))
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [0, 640, 1280]
    for column in ("style_reward", "task_reward", "disc_loss", "disc_gradient_penalty", "disc_reference_accuracy",
                   "disc_policy_accuracy", "policy_loss", "episode_reward", "episode_length"):
        assert np.isfinite(float(rows[-1][column])), column

    params = load_policy_params(tmp_path / "policy.params")
    size = summary["observation_size"]
    action = np.asarray(make_inference_fn(size, 12, TINY["policy"])(params, deterministic=True)(jp.zeros(size), None)[0])
    assert action.shape == (12,) and np.isfinite(action).all()

    # Raising num_timesteps continues the finished run from its last checkpoint, discriminator included.
    longer = {**TINY, "train": {**TINY["train"], "num_timesteps": 1920}}
    done = subprocess.run(amp_command(trot_clip, tmp_path, longer) + ["--init", str(init)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming from checkpoint" in done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["resumed_from"] == 1280 and summary["steps"] == 1920
