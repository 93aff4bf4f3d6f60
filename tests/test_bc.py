"""Demonstrations and behaviour cloning on real MJX rollouts, and the hand-over to brax PPO."""

from __future__ import annotations


import jax
import jax.numpy as jp
import numpy as np
import pytest
from brax.training.agents.ppo import train as ppo
from mujoco_playground import wrapper

from conftest import REPO
from locomimic.bc import train_bc
from locomimic.bc.locomotion import command_normalizer, locomotion_demos
from locomimic.bc.train import discounted_returns, split_episodes
from locomimic.config import load_config
from locomimic.demos import generate_demos, load_demos
from locomimic.demos.experts import reference_tracker
from locomimic.envs.rollout import rollout
from locomimic.envs import make_env
from locomimic.envs.locomotion import command_range
from locomimic.errors import LocomimicError
from locomimic.io import save_npz
from locomimic.jaxcache import enable_compilation_cache
from locomimic.policy import load_policy_params, make_inference_fn, network_factory, save_policy_params
from locomimic.robots import load_robot

CONFIG = load_config(REPO / "config" / "config.yaml")
POLICY = {"policy_hidden_layers": [32, 32], "value_hidden_layers": [32, 32]}
enable_compilation_cache()


@pytest.fixture(scope="module")
def env(trot_clip):
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    return make_env("imitation", robot, {**CONFIG["env"], "episode_length": 100}, [trot_clip])


@pytest.fixture(scope="module")
def demos(env, tmp_path_factory):
    settings = {"num_envs": 16, "steps": 60, "action_noise": 0.1}
    dataset, summary = generate_demos(env, reference_tracker(env), {**CONFIG["env"], "episode_length": 100}, settings, seed=0)
    path = tmp_path_factory.mktemp("demos") / "demos.npz"
    dataset.save(path)
    return path, summary


@pytest.fixture(scope="module")
def bc(demos):
    settings = {**CONFIG["bc"], "batch_size": 128, "max_epochs": 150, "patience": 20}
    return train_bc(load_demos(demos[0]), POLICY, settings, seed=0, initial_std=CONFIG["bc"]["initial_std"]["imitation"])


def test_demos_record_the_expert(env, demos):
    path, summary = demos
    data = load_demos(path)
    assert data.observations.shape == (16 * 60, env.observation_size)
    assert data.actions.shape == (16 * 60, env.action_size)
    assert np.abs(data.actions).max() <= 1.0
    # Episode ids are contiguous and change exactly after each done.
    changes = np.flatnonzero(np.diff(data.episode_ids)) + 1
    assert set(changes) <= set(np.flatnonzero(data.dones) + 1) | set(range(60, 16 * 60, 60))
    assert summary["steps"] == 16 * 60 and summary["episodes"] >= 16
    assert 0.0 <= summary["fall_rate"] <= summary["failure_rate"] <= 1.0
    assert summary["mean_return"] > 0 and 1 <= summary["mean_episode_length"] <= 100


def test_an_expert_that_fails_too_often_is_refused(demos):
    from locomimic.demos.experts import check_expert
    from locomimic.errors import LocomimicError

    _, summary = demos
    check_expert(summary, max_failure_rate=1.0, source="expert.params")  # the gate off
    failing = {**summary, "failure_rate": 0.87}
    with pytest.raises(LocomimicError, match=r"^expert.params: the demonstrations' expert failed in 87% of .* more "
                                             r"than demos.max_failure_rate 50%"):
        check_expert(failing, max_failure_rate=0.5, source="expert.params")
    check_expert({**summary, "failure_rate": 0.5}, max_failure_rate=0.5, source="expert.params")


def test_demos_label_each_sample_with_the_command_its_clip_answers(env, demos):
    command = env.reference.commands[0]
    assert 0.5 < command[0] < 0.7 and abs(command[1]) < 0.05 and abs(command[2]) < 0.1  # the straight 0.6 m/s trot
    data = load_demos(demos[0])
    np.testing.assert_allclose(data.commands, np.broadcast_to(command, data.commands.shape), atol=1e-6)


@pytest.mark.slow
def test_locomotion_bc_learns_the_gait_from_the_same_demos(env, demos):
    locomotion = make_env("locomotion", env.robot, CONFIG["env"], reference=env.reference)
    data = locomotion_demos(load_demos(demos[0]), locomotion.proprioception_terms())
    assert data.observations.shape == (16 * 60, locomotion.observation_size)
    # The cut is what the locomotion task observes: its proprioception of the same state, then the command.
    state = env.reset(jax.random.PRNGKey(0))
    proprioception = locomotion.proprioception(state.data, jp.zeros(env.action_size))
    np.testing.assert_allclose(state.obs[:locomotion.proprioception_size], proprioception, atol=1e-6)
    np.testing.assert_array_equal(data.observations[:, -3:], data.commands)

    commands = command_range(CONFIG["env"]["locomotion"], env.reference)  # the motion's, widened by the margin
    np.testing.assert_allclose(np.subtract(commands[1], commands[0]), [0.4, 0.0, 0.0], atol=1e-9)
    result = train_bc(data, POLICY, {**CONFIG["bc"], "batch_size": 128, "max_epochs": 150, "patience": 20}, seed=0,
                      initial_std=CONFIG["bc"]["initial_std"]["locomotion"], normalizer_fn=command_normalizer(*commands))
    assert result.metrics["validation_r2"] >= 0.8  # the phase it is no longer told is readable from the joints
    # The command inputs are normalised over the task's command range, not the demos' single command
    # (whose std would be brax's floor of 1e-6, turning any other command into a saturating input).
    normalizer = result.params[0]
    np.testing.assert_allclose(normalizer.mean[-3:], env.reference.mean_command, atol=1e-6)
    np.testing.assert_allclose(normalizer.std[-3:], [0.4 / np.sqrt(12), 1.0, 1.0], rtol=1e-5)


@pytest.mark.slow
def test_residual_demos_reach_locomotion_bc_as_default_pose_actions(env, trot_clip):
    """With env.imitation.action_origin: reference the tracker's actions are zero corrections to the clip;
    cut for locomotion BC they must be the same PD targets about the default pose, in the labels and in
    the last action the observation holds: the cut of the same rollout with default-pose actions. (An
    action scale of 1 keeps the trot's targets within the default-pose actions' [-1, 1], where both
    rollouts are the same physics.)"""
    settings = {**CONFIG["env"], "episode_length": 100, "action_scale": 1.0}
    cuts = []
    for origin in ("default_pose", "reference"):
        imitation = {**settings["imitation"], "action_origin": origin}
        task = make_env("imitation", env.robot, {**settings, "imitation": imitation}, [trot_clip])
        dataset, _ = generate_demos(task, reference_tracker(task), settings,
                                    {"num_envs": 4, "steps": 12, "action_noise": 0.05}, seed=3)
        cuts.append((dataset, locomotion_demos(dataset, task.proprioception_terms())))
    (default_pose, default_cut), (corrections, residual_cut) = cuts
    np.testing.assert_array_equal(default_pose.action_origins, 0.0)
    np.testing.assert_array_equal(corrections.actions, 0.0)  # the tracker about the reference
    assert np.abs(corrections.action_origins).max() > 0.3  # the clip's poses, away from the default
    np.testing.assert_allclose(residual_cut.actions, default_cut.actions, atol=1e-5)
    np.testing.assert_allclose(residual_cut.observations, default_cut.observations, atol=1e-4)


def test_bc_imitates_the_expert(bc):
    assert bc.metrics["validation_r2"] >= 0.9
    assert len(bc.history) == bc.metrics["epochs"]
    assert bc.history[-1]["validation_loss"] < bc.history[0]["validation_loss"]


def test_bc_hands_rl_its_task_s_exploration_noise(env, bc):
    """Every observation gets the noise bc.initial_std gives the task (PPO starts from it, then keeps about it)."""
    from locomimic.policy import make_networks

    networks = make_networks(env.observation_size, env.action_size, POLICY)
    normalizer, policy, _ = bc.params
    observations = jax.random.normal(jax.random.PRNGKey(1), (64, env.observation_size))
    logits = networks.policy_network.apply(normalizer, policy, observations)
    scale = networks.parametric_action_distribution.create_dist(logits).scale
    np.testing.assert_allclose(scale, CONFIG["bc"]["initial_std"]["imitation"], rtol=1e-5)


def test_bc_parameters_restore_into_brax_ppo(env, demos, bc, tmp_path):
    save_policy_params(tmp_path / "policy.params", bc.params)
    params = load_policy_params(tmp_path / "policy.params")
    make_policy, restored, _ = ppo.train(
        environment=env, num_timesteps=0, episode_length=100, num_envs=4, batch_size=4, num_minibatches=1,
        normalize_observations=True, network_factory=network_factory(POLICY), restore_params=params,
        wrap_env_fn=wrapper.wrap_for_brax_training, seed=0)
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    obs = load_demos(demos[0]).observations[:64]
    ppo_actions = make_policy(restored, deterministic=True)(obs, jax.random.PRNGKey(0))[0]
    bc_actions = make_inference_fn(env.observation_size, env.action_size, POLICY)(params, deterministic=True)(
        obs, jax.random.PRNGKey(0))[0]
    np.testing.assert_allclose(np.asarray(ppo_actions), np.asarray(bc_actions), atol=1e-6)


@pytest.mark.slow
def test_rollouts_of_one_policy_shape_trace_once(env, bc):
    """Parameter sets of one policy (the style curve's AMP checkpoints) share one traced rollout program."""
    traces = []
    make_policy = make_inference_fn(env.observation_size, env.action_size, POLICY)

    def act(state, params):
        traces.append(params)  # runs only while JAX traces
        return make_policy(params, deterministic=True)(state.obs, jax.random.PRNGKey(0))[0]

    settings = {**CONFIG["env"], "episode_length": 100}
    normalizer, policy, value = bc.params
    still = (normalizer, jax.tree_util.tree_map(jp.zeros_like, policy), value)
    runs = [rollout(env, act, settings, 4, 30, seed=3, act_params=params) for params in (bc.params, still, bc.params)]
    assert len(traces) == 1
    np.testing.assert_array_equal(runs[0]["actions"], runs[2]["actions"])
    assert np.abs(runs[1]["actions"]).max() == 0.0 < np.abs(runs[0]["actions"]).max()


def test_discounted_returns_restart_at_each_episode():
    rewards = np.array([1.0, 1.0, 1.0, 2.0, 2.0], dtype=np.float32)
    ids = np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(discounted_returns(rewards, ids, 0.5), [1.75, 1.5, 1.0, 3.0, 2.0])


def test_validation_split_holds_out_whole_episodes():
    ids = np.repeat(np.arange(20), 5)
    train, val = split_episodes(ids, 0.2, seed=0)
    assert not set(ids[train]) & set(ids[val]) and len(set(ids[val])) == 4


def corrupt(path, tmp_path, **changes):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update({k: f(arrays[k]) for k, f in changes.items()})
    out = tmp_path / "bad.npz"
    save_npz(out, arrays)
    return out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"actions": lambda a: a[:-1]}, "bad.npz: actions: shape (959, 12) does not match 960 samples"),
        ({"rewards": lambda r: np.concatenate([r[:5], [np.nan], r[6:]]).astype(np.float32)},
         "bad.npz: rewards: non-finite value (NaN or inf) at sample 5"),
        ({"observations": lambda o: np.where(np.arange(len(o))[:, None] == 7, np.inf, o).astype(np.float32)},
         "bad.npz: observations: non-finite value (NaN or inf) at sample 7"),
        ({"action_origins": lambda a: a[:, :-1]}, "bad.npz: action_origins: shape (960, 11) does not match the "
                                                  "actions' (960, 12)"),
    ],
    ids=["mismatched-shapes", "nan-reward", "inf-observation", "action-origins-of-other-actions"],
)
def test_bad_demonstration_file(demos, tmp_path, changes, message):
    with pytest.raises(LocomimicError) as error:
        load_demos(corrupt(demos[0], tmp_path, **changes))
    assert message in str(error.value)


def test_missing_or_corrupt_policy_file(tmp_path):
    with pytest.raises(LocomimicError, match="policy parameters not found"):
        load_policy_params(tmp_path / "none.params")
    (tmp_path / "bad.params").write_bytes(b"not a pickle")
    with pytest.raises(LocomimicError, match="bad.params: not a readable policy parameter file"):
        load_policy_params(tmp_path / "bad.params")


@pytest.mark.slow
def test_a_standing_motion_has_no_speed_ratio(env):
    """A clip standing still asks for 0 m/s: the closed-loop check's speed ratio is undefined (null in
    its JSON), not a NaN that fails the bc job when it saves its metrics."""
    import json

    from locomimic.bc.locomotion import locomotion_closed_loop
    from locomimic.envs.locomotion import with_fixed_command

    settings = {**with_fixed_command(CONFIG["env"], [0.0, 0.0, 0.0]), "episode_length": 10}
    locomotion = make_env("locomotion", env.robot, settings)
    stand = lambda state: jp.zeros((state.obs.shape[0], locomotion.action_size))  # noqa: E731
    evaluation = locomotion_closed_loop(locomotion, stand, settings, num_envs=2, seed=0)
    assert evaluation["command_forward_velocity_mean"] == 0.0 and evaluation["speed_ratio"] is None
    json.dumps(evaluation, allow_nan=False)
