"""The robot registry and the default robot's model, simulated in real MuJoCo."""

from __future__ import annotations

import re

import mujoco
import numpy as np
import pytest

from conftest import REPO
from locomimic.config import load_config
from locomimic.errors import LocomimicError
from locomimic.preflight import check_run
from locomimic.motion import gait
from locomimic.retarget import retarget_clip
from locomimic.robots import load_robot

ROBOTS = REPO / "config" / "robots"


def stand(robot, seconds: float) -> np.ndarray:
    """Hold the default pose with the robot's own PD law; return the root qpos per step."""
    model, data = robot.model, mujoco.MjData(robot.model)
    data.qpos[:] = robot.qpos_default
    target = robot.default_joints
    trajectory = []
    for _ in range(int(round(seconds / model.opt.timestep))):
        data.ctrl[:] = robot.control(target, data.qpos, data.qvel)
        mujoco.mj_step(model, data)
        trajectory.append(data.qpos[:7].copy())
    return np.array(trajectory)


def assert_stands_still(robot, seconds: float = 10.0) -> None:
    root = stand(robot, seconds)
    settled = root[int(round(1.0 / robot.model.opt.timestep)):]  # after one second of settling
    drift = np.linalg.norm(settled[-1, :3] - settled[0, :3])
    assert drift < 0.005, f"trunk drifted {drift:.4f} m while standing"
    assert settled[:, 2].min() > 0.2, "trunk sagged below 0.2 m"
    up = np.array([1 - 2 * (q[1] ** 2 + q[2] ** 2) for q in settled[:, 3:7]])  # world z of body z
    assert up.min() > 0.99, "trunk tilted while standing"


def test_default_robot_matches_its_spec():
    robot = load_robot(ROBOTS / "default.yaml")
    model = robot.model
    assert len(robot.joint_names) == 12 and model.nu == 12
    assert 11.5 < model.body_subtreemass[robot.trunk.id] < 13.5  # Go1 scale, about 12 kg
    thigh = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "FL_calf")
    assert model.body_pos[thigh][2] == pytest.approx(-0.213)  # thigh length
    assert model.site_pos[robot.feet[0].id][2] == pytest.approx(-0.213)  # calf length
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "imu") >= 0
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, "home") >= 0
    assert model.opt.iterations <= 2 and model.opt.ls_iterations <= 6  # tuned for MJX
    # Control parameters come from the YAML.
    assert np.allclose(model.actuator_gainprm[:, 0], 60.0)
    assert np.allclose(model.actuator_forcerange[robot.actuator_joint == 2], [-35.55, 35.55])


def test_default_robot_collides_only_feet_and_trunk_with_the_floor():
    robot = load_robot(ROBOTS / "default.yaml")
    model = robot.model
    colliding = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in range(model.ngeom)
                 if model.geom_contype[g] or model.geom_conaffinity[g]}
    assert colliding == {"floor", "trunk_collision", "FL_foot_collision", "FR_foot_collision",
                         "RL_foot_collision", "RR_foot_collision"}
    for g in range(model.ngeom):  # robot geoms never collide with each other
        if model.geom_bodyid[g] != 0:
            assert model.geom_conaffinity[g] == 0
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if name.endswith("_foot_collision"):
            assert model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE


def test_default_robot_stands_still_for_ten_seconds():
    assert_stands_still(load_robot(ROBOTS / "default.yaml"))


def test_go2_loads_from_menagerie_and_stands_with_its_pd_law(menagerie):
    robot = load_robot(ROBOTS / "unitree_go2.yaml")
    assert robot.actuators == "torque" and robot.model.nu == 12
    assert robot.model_path.is_relative_to(menagerie)
    # Actuators are ordered FR, FL, RR, RL in the model: the map to joint order must follow the names.
    for actuator, joint in enumerate(robot.actuator_joint):
        name = mujoco.mj_id2name(robot.model, mujoco.mjtObj.mjOBJ_ACTUATOR, actuator)
        assert robot.joint_names[joint].startswith(name)
    assert_stands_still(robot)


def go2_without_actuators(menagerie, tmp_path, motors: str | None = ".*"):
    """A robot file for the Menagerie Go2 with its <actuator> section taken out, as models like the G1 come."""
    source = menagerie / "unitree_go2"
    xml = (source / "go2.xml").read_text()
    xml = xml[:xml.index("<actuator>")] + xml[xml.index("</actuator>") + len("</actuator>"):]
    xml = re.sub(r'\s+ctrl="[^"]*"', "", xml)  # the keyframe's controls went with the actuators
    (tmp_path / "go2.xml").write_text(xml.replace('meshdir="assets"', f'meshdir="{source / "assets"}"'))
    (tmp_path / "scene.xml").write_text((source / "scene.xml").read_text())
    text = (ROBOTS / "unitree_go2.yaml").read_text().replace("model: menagerie:unitree_go2/scene", "model: scene.xml")
    if motors is not None:
        text = text.replace("  actuators: torque", f"  actuators: torque\n  motors: {motors!r}")
    (tmp_path / "go2_bare.yaml").write_text(text)
    return tmp_path / "go2_bare.yaml"


def test_a_model_without_actuators_gets_motors_from_its_robot_file(menagerie, tmp_path):
    from locomimic.envs.base import to_motor_model

    robot = load_robot(go2_without_actuators(menagerie, tmp_path))
    assert robot.model.nu == 12 and (robot.actuator_joint == np.arange(12)).all()
    names = [mujoco.mj_id2name(robot.model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) for a in range(12)]
    assert names == [f"{joint}_motor" for joint in robot.joint_names]
    # The MJX model limits each motor to its joint's torque limit from the robot file.
    assert np.allclose(to_motor_model(robot).actuator_ctrlrange[:, 1], robot.torque_limit)
    assert_stands_still(robot)
    # Only the joints the regex names are driven; the others stay passive.
    robot = load_robot(go2_without_actuators(menagerie, tmp_path, motors="F._.*"))
    assert [robot.joint_names[j][:2] for j in robot.actuator_joint] == ["FL"] * 3 + ["FR"] * 3


@pytest.mark.parametrize(
    ("motors", "replace", "by", "expected"),
    [
        (None, "", "", "has no actuators: name the joints to drive with a joint-name regex in control.motors"),
        ("knee.*", "", "", "control.motors: 'knee.*' matches none of the model's joints: FL_hip_joint"),
        (".*", "actuators: torque", "actuators: position", "control.motors: control.motors adds torque motors"),
    ],
)
def test_bad_motors_name_file_and_field(menagerie, tmp_path, motors, replace, by, expected):
    path = go2_without_actuators(menagerie, tmp_path, motors)
    path.write_text(path.read_text().replace(replace, by))
    with pytest.raises(LocomimicError) as error:
        load_robot(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_motors_on_a_model_that_has_actuators_is_refused(menagerie, tmp_path):
    path = tmp_path / "go2.yaml"
    path.write_text((ROBOTS / "unitree_go2.yaml").read_text().replace("  actuators: torque", "  actuators: torque\n  motors: '.*'"))
    with pytest.raises(LocomimicError, match="control.motors: control.motors adds motors to a model without actuators"):
        load_robot(path)


def test_g1_humanoid_loads_with_motors_gains_and_standing_pose_from_its_robot_file(menagerie):
    """The G1 comes without actuators and keyframe; its robot file adds both, and two multi-geom feet."""
    from locomimic.envs.base import to_motor_model

    if not (menagerie / "unitree_g1").is_dir():
        pytest.skip(f"Unitree G1 model not found under {menagerie}")
    robot = load_robot(ROBOTS / "unitree_g1.yaml")
    assert robot.model.nu == len(robot.joint_names) == 29 and (robot.actuator_joint == np.arange(29)).all()
    gains = dict(zip(robot.joint_names, zip(robot.kp, robot.kd, robot.torque_limit)))
    assert gains["left_knee_joint"] == (99.10, 6.309, 139.0) and gains["right_wrist_yaw_joint"] == (16.78, 1.068, 5.0)
    assert gains["waist_pitch_joint"] == (28.50, 1.814, 50.0) and gains["left_hip_pitch_joint"][2] == 88.0
    pose = dict(zip(robot.joint_names, robot.default_joints))
    assert robot.qpos_default[2] == 0.7837 and pose["left_elbow_joint"] == 1.28 and pose["right_shoulder_roll_joint"] == -0.2
    assert robot.foot_names == ("left_foot", "right_foot") and {"left_hand", "pelvis"} <= set(robot.keypoints)
    assert robot.end_effector_names == ("left_foot", "right_foot", "left_hand", "right_hand"), "hands are tracked too"
    # Each motor's reflected rotor inertia is in the model (what lets the PD gains run at a 4 ms step).
    armature = dict(zip(robot.joint_names, robot.model.dof_armature[robot.joint_dof_adr]))
    assert armature["left_knee_joint"] == 0.025101925 and armature["right_wrist_yaw_joint"] == 0.00425
    # In MJX each foot touches the floor with its whole sole (seven capsules); feet-only contacts.
    model = to_motor_model(robot)
    touching = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in np.flatnonzero(model.geom_contype)
                if model.geom_bodyid[g] != 0]
    assert sorted(touching) == sorted(f"{side}_foot{i}_collision" for side in ("left", "right") for i in range(1, 8))
    assert np.allclose(model.actuator_ctrlrange[:, 1], robot.torque_limit) and model.opt.timestep == 0.004
    # A quadruped clip cannot go onto two feet: the error names the robot file and what it would need,
    # before any job starts and in the retarget job alike.
    needs = "feet: a quadruped clip needs the feet FL_foot, FR_foot, RL_foot, RR_foot"
    config = {"robots": ["unitree_g1"], "clips": {"trot": {"source": "gait", "gait": {"pattern": "trot"}}}}
    with pytest.raises(LocomimicError, match=needs):
        check_run([("g1.yaml", config)])
    with pytest.raises(LocomimicError, match=needs):
        retarget_clip(gait.generate("trot", cycles=1), robot, load_config(REPO / "config" / "config.yaml")["retarget"])


def test_barkour_loads_from_menagerie_with_its_own_joint_order(menagerie):
    robot = load_robot(ROBOTS / "google_barkour_vb.yaml")
    assert robot.model_path.is_relative_to(menagerie)
    assert robot.actuators == "position" and robot.model.nu == 12
    legs = ("front_left", "hind_left", "front_right", "hind_right")  # the model's order: FL, HL, FR, HR
    assert robot.joint_names == tuple(f"{j}_{leg}" for leg in legs for j in ("abduction", "hip", "knee"))
    assert (robot.actuator_joint == np.arange(12)).all()
    # The robot file's gains replace the model's servo gains (kp 50).
    assert np.allclose(robot.model.actuator_gainprm[:, 0], robot.kp)
    assert np.allclose(robot.model.actuator_forcerange, [-18, 18])
    # No foot bodies: the feet are sites on the lower legs, in the project's leg order FL, FR, RL, RR.
    legs = ("front_left", "front_right", "hind_left", "hind_right")
    assert [(f.kind, f.name) for f in robot.feet] == [("site", f"foot_{leg}") for leg in legs]


def test_barkour_stands_still_for_ten_seconds(menagerie):
    assert_stands_still(load_robot(ROBOTS / "google_barkour_vb.yaml"))


@pytest.mark.parametrize("robot_name", ["default", "unitree_go2", "google_barkour_vb"])
def test_leg_order_comes_from_the_keypoint_map(request, robot_name):
    """FL, FR, RL, RR (the keypoint names) are the project's leg order whatever the model's joint order:
    at the default pose each foot and hip frame lies at its own corner of the trunk (x > 0 front, y > 0 left)."""
    if robot_name != "default":
        request.getfixturevalue("menagerie")
    robot = load_robot(ROBOTS / f"{robot_name}.yaml")
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.qpos_default
    mujoco.mj_kinematics(robot.model, data)
    trunk_pos, trunk_rot = data.xpos[robot.trunk.id], data.xmat[robot.trunk.id].reshape(3, 3)
    assert robot.foot_names == ("FL_foot", "FR_foot", "RL_foot", "RR_foot")  # the schema's default
    hips = robot.frames(("FL_hip", "FR_hip", "RL_hip", "RR_hip"), "this test")
    for leg, foot, hip in zip(("FL", "FR", "RL", "RR"), robot.feet, hips):
        for frame in (foot, hip):
            x, y, _ = (frame.position(data) - trunk_pos) @ trunk_rot
            where = f"{leg} -> {frame.name} at x {x:.3f}, y {y:.3f} in the trunk frame"
            assert (x > 0) == leg.startswith("F") and (y > 0) == leg.endswith("L"), where


def test_trot_retargets_onto_barkour(menagerie):
    robot = load_robot(ROBOTS / "google_barkour_vb.yaml")
    settings = load_config(REPO / "config" / "config.yaml")["retarget"]
    metrics = retarget_clip(gait.generate("trot", cycles=1), robot, settings).metrics
    assert metrics["foot_error_mean"] < 0.02
    assert metrics["joint_limit_violations"] == 0
    assert metrics["penetration_max"] < 0.005


def test_model_path_relative_to_the_robot_file(tmp_path):
    text = (ROBOTS / "default.yaml").read_text()
    model = REPO / "src/locomimic/robots/models/default/scene.xml"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "scene.xml").write_text(model.read_text().replace('file="robot.xml"', f'file="{model.parent}/robot.xml"'))
    (tmp_path / "mine.yaml").write_text(text.replace("model: package:default", "model: models/scene.xml"))
    robot = load_robot(tmp_path / "mine.yaml")
    assert robot.name == "mine" and robot.model.nu == 12


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("{site: FL_foot}", "{site: FL_toe}", "keypoints.FL_foot.site: the model has no site 'FL_toe'"),
        ("{body: FR_hip}", "{body: FR_shoulder}", "keypoints.FR_hip.body: the model has no body 'FR_shoulder'"),
        ("trunk: trunk", "trunk: torso", "trunk: 'torso' is not a body"),
        ("{keyframe: home}", "{keyframe: crouch}", "default_pose.keyframe: the model has no keyframe 'crouch'"),
        ("kp: 60.0", "kp: -1", "control.kp: -1 is less than the minimum of 0"),
        ("foot_radius:", "feet: [FL_foot, FR_toe]\nfoot_radius:", "feet[1]: 'FR_toe' is not one of the keypoints: FL_foot"),
        ("foot_radius:", "end_effectors: [FL_foot, nose]\nfoot_radius:", "end_effectors[1]: 'nose' is not one of the keypoints"),
        ("kp: 60.0", "kp: fast", "control.kp: 'fast' is not of type"),
        ("foot_radius:", "mjx: {foot_solimp: [0.9, 1.5, 0.001]}\nfoot_radius:", "mjx.foot_solimp[1]: 1.5 is greater than"),
        ('".*_calf_joint": 35.55', '"nothing": 35.55', "control.torque_limit: no pattern matches joint 'FL_calf_joint'"),
        ("model: package:default", "model: package:nosuch", "model: model file"),
    ],
)
def test_bad_robot_file_names_file_and_field(tmp_path, replace, by, expected):
    text = (ROBOTS / "default.yaml").read_text()
    assert replace in text
    path = tmp_path / "broken.yaml"
    path.write_text(text.replace(replace, by))
    with pytest.raises(LocomimicError) as error:
        load_robot(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)
