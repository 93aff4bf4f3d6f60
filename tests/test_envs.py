"""The MJX environments: reset/step both tasks for both robots in real MJX physics."""

from __future__ import annotations

import jax
import jax.numpy as jp
import mujoco
import numpy as np
import pytest

from conftest import REPO
from locomimic.config import load_config
from locomimic.envs import make_env, make_training_env
from locomimic.envs.base import to_motor_model
from locomimic.envs.reference import load_reference
from locomimic.envs.rotations import quat_to_mat, wrap_angle, yaw
from locomimic.errors import LocomimicError
from locomimic.io import save_npz
from locomimic.jaxcache import enable_compilation_cache
from locomimic.motion import gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot

CONFIG = load_config(REPO / "config" / "config.yaml")

# A locomotion env without a motion needs its command range set (null, the default, is the motion's own).
STANDALONE_ENV = CONFIG["env"] | {"locomotion": CONFIG["env"]["locomotion"] | {"command_low": [0.4, 0.0, 0.0],
                                                                            "command_high": [0.8, 0.0, 0.0]}}
QUADRUPEDS = ["default", "unitree_go2", "google_barkour_vb"]  # robot files; the last two need ../shared
enable_compilation_cache()


@pytest.fixture(scope="module")
def retargeted(tmp_path_factory):
    """A generated trot retargeted onto each robot (what the retarget rule writes)."""

    def make(robot, cycles=1):
        path = tmp_path_factory.mktemp(robot.name) / f"trot{cycles}.npz"
        result = retarget_clip(gait.generate("trot", cycles=cycles), robot, CONFIG["retarget"])
        save_npz(path, result.arrays)
        return path

    return make


def robot_named(request, name):
    if name != "default":  # the others come from ../shared/menagerie
        request.getfixturevalue("menagerie")
    return load_robot(REPO / "config" / "robots" / f"{name}.yaml")


def assert_finite_state(state, observation_size):
    assert state.obs.shape == (observation_size,)
    assert np.isfinite(np.asarray(state.obs)).all()
    assert np.isfinite(float(state.reward))
    for name, value in state.metrics.items():
        assert np.isfinite(np.asarray(value)).all(), name


@pytest.mark.slow
@pytest.mark.parametrize("robot_name", QUADRUPEDS)
def test_imitation_env_resets_and_steps(request, retargeted, robot_name):
    robot = robot_named(request, robot_name)
    env = make_env("imitation", robot, CONFIG["env"], [retargeted(robot)])
    assert env.dt == pytest.approx(0.02) and env.n_substeps == round(0.02 / env.mj_model.opt.timestep)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    state = reset(jax.random.PRNGKey(0))
    # Reference-state initialisation: the robot starts exactly on the reference.
    ref = env.reference_frame(state.info)
    np.testing.assert_allclose(state.data.qpos, ref["qpos"], atol=1e-6)
    size = env.observation_size
    assert size == 3 * 12 + 6 + 2 + 18 * len(CONFIG["env"]["imitation"]["reference_horizon"])
    for _ in range(5):  # the reference tracker: PD targets are the reference's next frame
        state = step(state, env.tracker_action(state.info))
        assert_finite_state(state, size)
    terms = {k: float(v) for k, v in state.metrics.items() if k.startswith("reward/")}
    assert set(terms) == {f"reward/{k}" for k in CONFIG["env"]["imitation"]["reward_weights"]}
    assert all(0.0 <= v <= 1.0 for v in terms.values())
    assert terms["reward/pose"] > 0.3 and float(state.done) == 0.0  # following the reference


@pytest.mark.slow
def test_residual_actions_are_about_the_reference(retargeted):
    """With ``action_origin: reference`` a zero action targets the reference's next frame: the reference
    tracker is the zero action and moves the robot as the tracker about the default pose does, and an
    action moves the targets by action x action_scale about the reference."""
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    residual = CONFIG["env"] | {"imitation": CONFIG["env"]["imitation"] | {"action_origin": "reference"}}
    envs = [make_env("imitation", robot, settings, [retargeted(robot)]) for settings in (CONFIG["env"], residual)]
    assert [env.action_origin for env in envs] == ["default_pose", "reference"]
    steps = [jax.jit(env.step) for env in envs]
    states = [jax.jit(env.reset)(jax.random.PRNGKey(1)) for env in envs]
    for _ in range(5):
        actions = [env.tracker_action(state.info) for env, state in zip(envs, states)]
        assert np.abs(np.asarray(actions[0])).max() < 1.0  # unclipped, so both trackers target the same angles
        np.testing.assert_array_equal(actions[1], 0.0)
        states = [step(state, action) for step, state, action in zip(steps, states, actions)]
    np.testing.assert_allclose(states[1].data.qpos, states[0].data.qpos, atol=1e-5)
    env, info = envs[1], states[1].info
    ahead = env.reference_frame(info, ahead=1)["qpos"][robot.joint_qpos_adr]
    np.testing.assert_allclose(env.joint_targets(jp.full(env.action_size, 0.4), info),
                               ahead + 0.4 * residual["action_scale"], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("robot_name", ["default", "unitree_go2"])
def test_locomotion_env_stands_under_its_pd_law(request, robot_name):
    robot = robot_named(request, robot_name)
    env = make_env("locomotion", robot, STANDALONE_ENV)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    state = reset(jax.random.PRNGKey(1))
    assert_finite_state(state, 3 * 12 + 6 + 3)
    zero = jp.zeros(env.action_size)
    for _ in range(50):  # one second holding the default pose
        state = step(state, zero)
        assert_finite_state(state, 3 * 12 + 6 + 3)
    assert float(state.done) == 0.0
    assert float(state.data.qpos[2]) > 0.8 * float(robot.qpos_default[2])
    assert set(k for k in state.metrics if k.startswith("reward/")) == {
        f"reward/{k}" for k in CONFIG["env"]["locomotion"]["reward_scales"]}


def test_robot_file_mjx_options_reach_the_motor_model(request):
    """Go2's mjx section: 4 ms steps (5 substeps per control step), one solver iteration without
    Euler's implicit damping, Menagerie's elliptic cone kept, feet-only contacts."""
    robot = robot_named(request, "unitree_go2")
    env = make_env("locomotion", robot, STANDALONE_ENV)
    model = env.mj_model
    assert robot.model.opt.timestep == 0.002 and model.opt.timestep == 0.004 and env.n_substeps == 5
    assert model.opt.iterations == 1 and model.opt.ls_iterations == 5
    assert model.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_EULERDAMP
    assert model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and model.opt.impratio == 100
    colliding = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0 and model.geom_contype[g]]
    assert len(colliding) == 4 and (model.geom_type[colliding] == mujoco.mjtGeom.mjGEOM_SPHERE).all()  # the feet


def test_robot_file_foot_solimp_stiffens_only_the_feet(tmp_path):
    """``mjx.foot_solimp`` replaces the contact impedance of the feet's sole geoms (the Barkour vB's soft
    feet sink 7 mm standing), and nothing else's."""
    text = (REPO / "config" / "robots" / "default.yaml").read_text()
    (tmp_path / "stiff.yaml").write_text(text + "mjx: {foot_solimp: [0.8, 0.9, 0.002]}\n")
    soft, stiff = (make_env("locomotion", load_robot(path), STANDALONE_ENV).mj_model
                   for path in (REPO / "config" / "robots" / "default.yaml", tmp_path / "stiff.yaml"))
    feet = [g for g in range(stiff.ngeom) if stiff.geom_contype[g] and stiff.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE]
    assert len(feet) == 4
    np.testing.assert_array_equal(stiff.geom_solimp[feet, :3], np.tile([0.8, 0.9, 0.002], (4, 1)))
    others = np.setdiff1d(np.arange(stiff.ngeom), feet)
    np.testing.assert_array_equal(stiff.geom_solimp[others], soft.geom_solimp[others])
    assert not np.array_equal(soft.geom_solimp[feet, :3], stiff.geom_solimp[feet, :3])


def standing_starts(robot, nv: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(qpos, qvel) of ``count`` starts: the default pose at rest, then perturbed ones (every joint off
    by up to 0.2 rad, the trunk sliding at 0.5 m/s in a random direction)."""
    rng = np.random.default_rng(0)
    qpos, qvel = np.tile(robot.qpos_default, (count, 1)), np.zeros((count, nv))
    qpos[1:, robot.joint_qpos_adr] += rng.uniform(-0.2, 0.2, (count - 1, len(robot.joint_qpos_adr)))
    heading = rng.uniform(0, 2 * np.pi, count - 1)
    qvel[1:, 0], qvel[1:, 1] = 0.5 * np.cos(heading), 0.5 * np.sin(heading)
    return qpos, qvel


def assert_stood(robot, qpos, qvel, up):
    """After a few seconds under the PD law: finite, upright, near standing height, at rest."""
    assert np.isfinite(qpos).all() and np.isfinite(qvel).all()
    assert (up > 0.98).all(), f"tilted: trunk z-axis z {up}"
    height = qpos[:, 2] / robot.qpos_default[2]
    assert ((height > 0.85) & (height < 1.05)).all(), f"trunk at {height} of the default pose's height"
    assert np.abs(qvel).max() < 0.05, f"still moving: max |qvel| {np.abs(qvel).max(axis=1)}"


@pytest.mark.slow
@pytest.mark.parametrize("robot_name", QUADRUPEDS)
def test_robot_stands_in_mjx_with_its_robot_file_settings(request, robot_name):
    """The robot file's mjx settings (timestep, solver, contacts) keep the robot standing under its PD
    law for 3 s, also from perturbed starts: one solver iteration is only safe with the right options."""
    robot = robot_named(request, robot_name)
    env = make_env("locomotion", robot, STANDALONE_ENV)
    qpos, qvel = standing_starts(robot, env.mj_model.nv, 4)
    data = jax.jit(jax.vmap(env.make_data))(jp.asarray(qpos), jp.asarray(qvel))  # eager, it takes ~40 s
    gains, targets = {"kp_scale": jp.ones(()), "kd_scale": jp.ones(())}, jp.asarray(robot.default_joints)
    three_seconds = jax.jit(jax.vmap(lambda d: jax.lax.scan(
        lambda d, _: (env.physics_step(d, targets, gains), None), d, None, length=150)[0]))
    data = three_seconds(data)
    up = np.asarray(data.xmat[:, robot.trunk.id, 2, 2])
    assert_stood(robot, np.asarray(data.qpos), np.asarray(data.qvel), up)


@pytest.mark.parametrize("robot_name", QUADRUPEDS)
def test_motor_model_stands_in_mujoco_c(request, robot_name):
    """Plain MuJoCo C on the MJX motor model (same options, same PD law each physics step), which
    sim-to-sim evaluation relies on, stands for 4 s too."""
    robot = robot_named(request, robot_name)
    model = to_motor_model(robot)
    data = mujoco.MjData(model)
    starts = standing_starts(robot, model.nv, 3)
    finals = []
    for qpos, qvel in zip(*starts):
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = qpos, qvel
        for _ in range(int(round(4.0 / model.opt.timestep))):
            data.ctrl[:] = robot.pd_torque(robot.default_joints, data.qpos, data.qvel)[robot.actuator_joint]
            mujoco.mj_step(model, data)
        finals.append((data.qpos.copy(), data.qvel.copy(), data.xmat[robot.trunk.id][8]))
    qpos, qvel, up = map(np.array, zip(*finals))
    assert_stood(robot, qpos, qvel, up)


@pytest.mark.slow
def test_domain_randomisation_gives_each_environment_its_own_model(retargeted):
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    env = make_env("imitation", robot, CONFIG["env"], [retargeted(robot)])
    batched = make_training_env(env, CONFIG["env"], num_envs=4, seed=0)
    friction = np.asarray(batched._mjx_model_v.geom_friction[:, 0, 0])
    masses = np.asarray(batched._mjx_model_v.body_mass[:, 1])
    assert len(set(friction.round(6))) == 4 and len(set(masses.round(6))) == 4
    low, high = CONFIG["env"]["randomization"]["friction_scale"]
    base = robot.model.geom_friction[0, 0]
    assert (friction >= low * base - 1e-6).all() and (friction <= high * base + 1e-6).all()
    state = jax.jit(batched.reset)(jax.random.split(jax.random.PRNGKey(0), 4))
    assert len(set(np.asarray(state.info["kp_scale"]).round(6))) == 4  # per-episode PD gains


@pytest.mark.slow
def test_reference_origin_syncs_to_the_robot_and_auto_reset_restarts_the_reference(retargeted):
    """Every sync_interval the reference moves onto the robot's root and heading; after brax's auto-reset (which
    keeps info) the reference starts over with the cached first state instead of running on."""
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    settings = CONFIG["env"] | {"episode_length": 7, "imitation": CONFIG["env"]["imitation"] | {"sync_interval": 0.1}}
    env = make_env("imitation", robot, settings, [retargeted(robot)])
    batched = make_training_env(env, settings, num_envs=2, seed=0)
    state = jax.jit(batched.reset)(jax.random.split(jax.random.PRNGKey(3), 2))
    start = np.asarray(state.info["start_frame"])
    step = jax.jit(lambda s: batched.step(s, jax.vmap(env.tracker_action)(s.info)))
    synced = 0
    for t in range(1, 9):
        state = step(state)
        frame = np.asarray(state.info["frame"])
        assert (frame == (start + t if t <= 7 else start + 1)).all(), t  # the time limit is 7 steps
        if t < 7:
            where = {k: state.info[k] for k in ("clip", "frame", "origin", "heading")}
            ref = jax.vmap(env.reference_frame)(where)["qpos"]
            on_sync = frame % 5 == 0
            np.testing.assert_allclose(np.asarray(ref)[on_sync, :2], np.asarray(state.data.qpos)[on_sync, :2], atol=1e-5)
            # ... facing the robot's heading (the trunk's forward axis, projected on the ground)
            ref_yaw = jax.vmap(lambda q: yaw(quat_to_mat(q)))(ref[:, 3:7])
            robot_yaw = jax.vmap(lambda q: yaw(quat_to_mat(q)))(state.data.qpos[:, 3:7])
            np.testing.assert_allclose(np.asarray(wrap_angle(ref_yaw - robot_yaw))[on_sync], 0.0, atol=1e-5)
            synced += int(on_sync.sum())
    assert synced >= 2 and np.isfinite(np.asarray(state.obs)).all()


def test_cyclic_reference_loops_with_accumulated_displacement(retargeted):
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    reference = load_reference([retargeted(robot, cycles=2)], robot, 0.02)
    from locomimic.envs.reference import frame

    ref = reference.to_jax()
    length = int(reference.lengths[0])
    one_loop_later = frame(ref, 0, length + 3)["qpos"]
    now = frame(ref, 0, 3)["qpos"]
    np.testing.assert_allclose(one_loop_later[7:], now[7:], atol=1e-6)  # same pose
    travelled = float(one_loop_later[0] - now[0])
    assert travelled == pytest.approx(0.6 * length * 0.02, rel=0.05)  # 0.6 m/s for one loop


def test_clip_shorter_than_the_observation_horizon(retargeted, tmp_path):
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    with np.load(retargeted(robot)) as data:
        arrays = {k: data[k] for k in data.files}
    for key in ("qpos", "qvel", "foot_positions", "foot_targets", "contacts", "keypoints"):
        arrays[key] = arrays[key][:4]
    short = tmp_path / "short.npz"
    save_npz(short, arrays)
    with pytest.raises(LocomimicError, match=r"short.npz: the clip has 3 frames at 50 Hz; the observation horizon needs at least 7"):
        make_env("imitation", robot, CONFIG["env"], [short])


def test_clip_retargeted_for_another_robot(request, retargeted):
    go2 = robot_named(request, "unitree_go2")
    default = load_robot(REPO / "config" / "robots" / "default.yaml")
    arrays_path = retargeted(default)
    with np.load(arrays_path) as data:
        renamed = {k: data[k] for k in data.files}
    renamed["joint_names"] = np.array([n.replace("joint", "j") for n in renamed["joint_names"]])
    save_npz(arrays_path.with_name("other.npz"), renamed)
    with pytest.raises(LocomimicError, match="made for other joints"):
        make_env("imitation", go2, CONFIG["env"], [arrays_path.with_name("other.npz")])


def test_a_quadrupeds_end_effectors_are_its_feet_bit_for_bit(request, trot_clip):
    """Without ``end_effectors`` in the robot file the end-effector reward and AMP's features follow the
    feet, computed from the reference's poses exactly as the clip's foot_positions were (the quadrupeds'
    rewards did not change when hands became end effectors)."""
    robot = robot_named(request, "default")
    assert robot.end_effector_names == robot.foot_names
    reference = load_reference([trot_clip], robot, 0.02)
    assert np.array_equal(reference.end_effectors, reference.feet)


def test_locomotion_commands_default_to_the_motions_own(request, trot_clip):
    """Null command_low/high (the default) is the box around the motion's clips' commands, widened by
    command_margin: AMP on a 1.4 m/s dog walk trains at 1.2-1.6 m/s, not at the generated trot's speeds.
    Set ranges win; a locomotion env without a motion must be given them."""
    from locomimic.envs.locomotion import command_range

    reference = load_reference([trot_clip], robot_named(request, "default"), 0.02)
    task = CONFIG["env"]["locomotion"]
    low, high = command_range(task, reference)
    mean = reference.mean_command
    np.testing.assert_allclose(low, np.subtract(mean, task["command_margin"]), atol=1e-9)
    np.testing.assert_allclose(high, np.add(mean, task["command_margin"]), atol=1e-9)
    assert command_range(STANDALONE_ENV["locomotion"], reference) == ([0.4, 0.0, 0.0], [0.8, 0.0, 0.0])
    with pytest.raises(LocomimicError, match="command_low/command_high are null"):
        command_range(task, None)
