"""Human motion capture (CMU BVH from ../shared) on the Unitree G1: retargeting quality on whole clips,
reproducibility, what the workflow checks before any job, and the G1 through the tiny workflow."""

from __future__ import annotations

import copy
import json
import re

import jax.numpy as jp
import mujoco
import numpy as np
import pytest
import yaml

from conftest import REPO, SHARED, run_snakemake
from conftest import tiny_config as tiny_config_dict
from locomimic.config import load_config, load_yaml
from locomimic.envs import make_env
from locomimic.envs.motion_features import feature_size, motion_features
from locomimic.envs.reference import load_reference
from locomimic.errors import LocomimicError
from locomimic.io import save_npz
from locomimic.motion import gait, load_clip
from locomimic.preflight import check_run
from locomimic.retarget import humanoid, retarget_clip, root
from locomimic.retarget.humanoid import humanoid_body
from locomimic.retarget.humanoid_ik import self_collision_pairs
from locomimic.robots import load_robot
from locomimic.robots.feet import lowest_point, standing_sole_geoms
from test_render import assert_video

CMU = SHARED / "mocap" / "cmu_bvh"
SETTINGS = load_config(REPO / "config" / "config.yaml")["retarget"]
# The clip entries of the humanoid example: its keypoint map for CMU subject 131 is the one tested here.
EXAMPLE_CLIPS = load_yaml(REPO / "config" / "examples" / "humanoid.yaml")["clips"]


def cmu_clip(name: str, frames: list[int] | None = None, path=None):
    """A CMU 131 clip from ../shared, read as the humanoid example reads it (skipped when it is missing)."""
    path = path or CMU / f"{name}.bvh"
    if not path.is_file():
        pytest.skip(f"CMU BVH clip not found at {path} (set LOCOMIMIC_SHARED)")
    spec = dict(EXAMPLE_CLIPS["walk_131_01"], path=str(path), **({"frames": frames} if frames else {}))
    return load_clip(spec, path, name)


@pytest.fixture
def g1(menagerie):
    if not (menagerie / "unitree_g1").is_dir():
        pytest.skip(f"Unitree G1 model not found under {menagerie}")
    return load_robot(REPO / "config" / "robots" / "unitree_g1.yaml")


def test_a_bvh_clip_with_human_keypoints_is_a_human_skeleton_standing_upright():
    clip = cmu_clip("131_01", [0, 30])
    assert clip.skeleton == "human"
    position, rotation = root.root_pose(root.align_heading(clip))
    assert np.allclose(position[0, :2], 0.0, atol=1e-9)
    assert rotation[0, 1, 0] == pytest.approx(0.0, abs=1e-9) and rotation[0, 0, 0] > 0.9, "aligned to face +x"
    assert (rotation[:, 2, 2] > 0.9).all(), "the pelvis stands upright (z up after the BVH's y up)"
    assert 0.8 < position[0, 2] < 1.1, "a standing human's hip height in metres"


def test_g1_hands_and_feet_in_simulation_match_the_reference_and_amp_features(g1, tmp_path):
    """The end effectors the imitation reward and AMP's discriminator compare: the G1's feet and hands in
    the MJX model set to a retargeted frame are where the reference (FK of the same pose) puts them, and
    the simulated motion features equal the clip's."""
    result = retarget_clip(cmu_clip("131_01", [0, 40]), g1, SETTINGS)
    save_npz(tmp_path / "walk.npz", result.arrays)
    reference = load_reference([tmp_path / "walk.npz"], g1, 0.02, min_frames=3)
    settings = load_config(REPO / "config" / "examples" / "humanoid.yaml")["env"]
    env = make_env("locomotion", g1, settings, feature_history=2, reference=reference)
    assert g1.end_effector_names == ("left_foot", "right_foot", "left_hand", "right_hand")
    k = 9
    qpos, qvel = jp.asarray(reference.qpos[0, k]), jp.asarray(reference.qvel[0, k])
    data = env.make_data(qpos, qvel)
    np.testing.assert_allclose(np.asarray(env.end_effector_positions(data)), reference.end_effectors[0, k], atol=1e-4)
    hands_apart = np.linalg.norm(reference.end_effectors[0, k, 2] - reference.end_effectors[0, k, 3])
    assert 0.2 < hands_apart < 0.9, "the hands, not the feet twice"
    from_clip = motion_features(qpos, qvel, jp.asarray(reference.end_effectors[0, k]),
                                np.asarray(g1.joint_qpos_adr), np.asarray(g1.joint_dof_adr))
    assert from_clip.shape == (feature_size(len(g1.joint_qpos_adr), 4),)
    np.testing.assert_allclose(np.asarray(env.motion_features(data)), np.asarray(from_clip), atol=1e-4)


@pytest.mark.parametrize("name", ["131_01", "131_03"])
def test_cmu_clips_retarget_onto_the_g1_within_the_acceptance_bounds(g1, name):
    """Whole clips (walk and hop, with kicks, lunges and turns), the defaults as shipped."""
    result = retarget_clip(cmu_clip(name), g1, SETTINGS)
    m = result.metrics
    assert m["foot_error_mean"] <= 0.03 and m["hand_error_mean"] <= 0.05, "against the scaled source"
    assert m["head_error_mean"] <= 0.10, "the G1's head rigid on its torso, the source's neck bent (docs/humanoids.md)"
    assert m["penetration_max"] <= 0.005 and m["joint_limit_violations"] == 0
    assert m["foot_slide_robot_mean"] <= m["foot_slide_source_mean"] + 0.005, "feet skate no more than the source's"
    assert m["self_collision_frames"] <= 0.01
    assert m["joint_speed_max"] <= 40.0, "no leap between IK solution branches (a walk's joints peak near 15 rad/s)"
    a = result.arrays
    assert a["foot_positions"].shape == (m["frames"], 2, 3) and a["contacts"].shape == (m["frames"], 2)
    # Whenever the source stands, so does the robot: its lowest sole point within 5 mm of the ground. (Both
    # soles flat at once is not always reachable: a lunge wider than the G1's legs tilts one, docs/humanoids.md.)
    data = mujoco.MjData(g1.model)
    soles = [g for sole in standing_sole_geoms(g1) for g in sole]
    for q in a["qpos"][a["contacts"].any(axis=1)]:
        data.qpos[:] = q
        mujoco.mj_kinematics(g1.model, data)
        assert min(lowest_point(g1.model, data, g) for g in soles) <= 0.005


def test_the_head_as_an_ik_target_brings_the_head_to_the_source_s_and_costs_feet_and_hands_nothing(g1):
    """``head_cost`` (off by default) makes the head a target: a neck-less G1 leans its torso to follow it."""
    clip = cmu_clip("131_03", [0, 480])
    head = copy.deepcopy(SETTINGS)
    head["ik"]["humanoid"]["head_cost"] = 5.0
    off, on = retarget_clip(clip, g1, SETTINGS).metrics, retarget_clip(clip, g1, head).metrics
    assert on["head_error_mean"] <= 0.05 < off["head_error_mean"]
    assert on["foot_error_mean"] <= off["foot_error_mean"] + 0.002
    assert on["hand_error_mean"] <= off["hand_error_mean"] + 0.005
    assert on["penetration_max"] <= 0.005 and on["joint_limit_violations"] == 0


def test_a_foot_pointing_down_keeps_the_yaw_it_had_before_and_after():
    """At toe-off the ankle -> toe line is nearly vertical and its horizontal direction is noise: the yaw is
    interpolated there, not read from a few millimetres (which turned the G1's hip yaw by 2.5 rad a frame)."""
    frames = 9
    ankles = np.zeros((frames, 1, 3))
    toes = np.tile([0.15, 0.0, -0.03], (frames, 1, 1))
    toes[3:6] = [[-0.004, 0.003, -0.15]], [[0.0, -0.004, -0.15]], [[0.003, 0.004, -0.15]]  # pointing down
    contact = np.zeros((frames, 1), bool)
    contact[:2] = True
    relative_yaw, pitch = humanoid._foot_angles(ankles, toes, contact, np.zeros(frames))
    assert np.allclose(relative_yaw, 0.0, atol=1e-9)
    assert pitch[4, 0] > 1.2 and abs(pitch[0, 0]) < 1e-9, "pitch still follows the toes down"


def test_human_retargeting_is_reproducible_byte_for_byte(g1):
    clip = cmu_clip("131_03", [0, 60])
    first, second = retarget_clip(clip, g1, SETTINGS), retarget_clip(clip, g1, SETTINGS)
    for key, value in first.arrays.items():
        assert np.array_equal(value, second.arrays[key]), key


def test_g1_proportions_and_the_body_parts_kept_apart(g1):
    body = humanoid_body(g1)
    assert body.leg == pytest.approx(0.62, abs=0.01) and body.arm == pytest.approx(0.45, abs=0.01)
    assert body.hips[0, 1] == pytest.approx(-body.hips[1, 1]) and body.hips[0, 1] > 0.1, "left hip on the left"
    assert body.ankle_height == pytest.approx([0.038, 0.038], abs=0.002)
    assert body.sole_points.shape[:2] == (2, 14), "seven capsules per sole, both ends of each"
    model = g1.model
    names = {frozenset((model.body(int(model.geom_bodyid[a[0]])).name, model.body(int(model.geom_bodyid[b[0]])).name))
             for a, b in self_collision_pairs(g1)}
    assert frozenset(("left_wrist_yaw_link", "left_hip_roll_link")) in names, "a hand swinging past the hip"
    assert frozenset(("left_knee_link", "right_knee_link")) in names
    assert frozenset(("pelvis", "left_hip_roll_link")) not in names, "two joints apart: they meet at the joint"
    assert not any("ankle_roll" in n and "torso" in m for n, m in map(sorted, names)), "soles meet legs only"


def test_the_g1_head_is_a_site_at_its_head_sphere_and_the_physics_is_unchanged(g1):
    """Menagerie's G1 has no head body: the robot file's ``offset`` puts a site on the torso at the centre of
    its head's collision sphere, and adding it changes nothing in the simulation."""
    head = g1.keypoints["head"]
    assert (head.kind, head.name) == ("site", "head_keypoint")
    data = mujoco.MjData(g1.model)
    data.qpos[:] = g1.qpos_default
    data.qpos[7:] += 0.3  # any pose: the site moves with the torso
    mujoco.mj_kinematics(g1.model, data)
    np.testing.assert_allclose(head.position(data), data.geom("head_collision").xpos, atol=1e-12)
    plain = mujoco.MjModel.from_xml_path(str(g1.model_path))
    assert g1.model.nsite == plain.nsite + 1 and g1.model.nbody == plain.nbody and g1.model.ngeom == plain.ngeom
    np.testing.assert_array_equal(g1.model.body_mass, plain.body_mass)


def test_a_bvh_keypoint_map_without_a_head_is_refused_before_any_job(g1):
    """Every keypoint of the human skeleton is needed; an older map without ``head`` is told which line to add."""
    keypoints = {k: v for k, v in EXAMPLE_CLIPS["walk_131_01"]["bvh"]["keypoints"].items() if k != "head"}
    human = {"source": "bvh", "path": "walk.bvh", "bvh": dict(EXAMPLE_CLIPS["walk_131_01"]["bvh"], keypoints=keypoints)}
    with pytest.raises(LocomimicError, match=r"clips\.walk\.bvh\.keypoints: a human clip's keypoint map needs head"):
        check_run([("human.yaml", {"robots": ["unitree_g1"], "clips": {"walk": human}})])


def test_a_keypoint_offset_on_a_body_the_model_lacks_names_the_field(g1, tmp_path):
    robot = tmp_path / "g1.yaml"
    robot.write_text((REPO / "config" / "robots" / "unitree_g1.yaml").read_text()
                     .replace("head: {body: torso_link,", "head: {body: neck_link,"))
    with pytest.raises(LocomimicError, match=r"keypoints\.head\.body: the model has no body 'neck_link'; its bodies"):
        load_robot(robot)


def test_the_workflow_refuses_clips_a_robot_has_no_legs_for_before_any_job(g1):
    human = {"source": "bvh", "path": "walk.bvh", "bvh": EXAMPLE_CLIPS["walk_131_01"]["bvh"]}
    with pytest.raises(LocomimicError, match="feet: a human clip needs the feet left_foot, right_foot"):
        check_run([("mixed.yaml", {"robots": ["default"], "clips": {"walk": human}})])
    with pytest.raises(LocomimicError, match="feet: a quadruped clip needs the feet FL_foot"):
        check_run([("g1.yaml", {"robots": ["unitree_g1"], "clips": {"trot": {"source": "gait",
                                                                            "gait": {"pattern": "trot"}}}})])
    with pytest.raises(LocomimicError, match="a quadruped clip needs the feet"):
        retarget_clip(gait.generate("trot", cycles=1), g1, SETTINGS)


def test_one_config_holds_a_quadruped_and_a_humanoid_each_on_its_own_clips(g1, tmp_path):
    """A lab's config with dog and human clips: the quadruped retargets and trains on the dog clip, the G1 on
    the human clip, and nothing crosses over; a motion mixing the two and a robot without clips are refused."""
    cmu_clip("131_01", [0, 30])  # skips without the clip
    human = dict(EXAMPLE_CLIPS["walk_131_01"], path=str(CMU / "131_01.bvh"))
    trot = {"source": "gait", "gait": {"pattern": "trot"}}
    config = {"robots": ["default", "unitree_g1"], "clips": {"trot": trot, "walk": human},
              "motions": {"trot": {"clips": ["trot"], "algos": ["ppo"]}, "walk": {"clips": ["walk"], "algos": ["ppo"]}}}
    configfile = tmp_path / "lab.yaml"
    configfile.write_text(yaml.safe_dump(config))
    done = run_snakemake(tmp_path, "-n", configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    pairs = lambda stage: set(re.findall(rf"results/{stage}/(\w+)/(\w+)[/.]", done.stdout))  # noqa: E731
    assert pairs("retarget") == pairs("train") == {("default", "trot"), ("unitree_g1", "walk")}
    mixed = dict(config, motions={"both": {"clips": ["trot", "walk"]}})
    with pytest.raises(LocomimicError, match=r"motions\.both\.clips: motion 'both' mixes human and quadruped clips"):
        check_run([("lab.yaml", mixed)])
    with pytest.raises(LocomimicError, match=r"robots\[1\]: unitree_g1 takes none of the config's clips"):
        check_run([("lab.yaml", dict(config, clips={"trot": trot}, motions={}))])


@pytest.mark.slow
def test_a_human_clip_on_the_g1_through_the_workflow(tmp_path, g1):
    """Retargeting (with its video), the reference tracker's demonstrations, BC, PPO from BC and evaluation
    on the real G1, at the tiny run's sizes: the pipeline runs a humanoid unchanged."""
    path = CMU / "131_01.bvh"
    cmu_clip("131_01", [0, 30])  # skips without the clip
    config = tiny_config_dict(("unitree_g1",))
    config["clips"] = {"walk": dict(EXAMPLE_CLIPS["walk_131_01"], path=str(path), frames=[0, 120])}
    config["motions"] = {"walk": {"clips": ["walk"], "algos": ["ppo"]}}
    config["demos"]["max_failure_rate"] = 1.0  # the PD tracker cannot keep a humanoid up (docs/humanoids.md)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    evaluated = "results/eval/unitree_g1/walk/ppo/seed0/metrics.json"
    video = "results/render/retarget/unitree_g1/walk.mp4"
    done = run_snakemake(tmp_path, evaluated, video, configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "results/retarget/unitree_g1/walk.json").read_text())
    assert metrics["foot_error_mean"] < 0.03 and metrics["joint_limit_violations"] == 0
    run = json.loads((tmp_path / evaluated).read_text())
    assert run["task"] == "imitation" and run["episodes"] == config["evaluate"]["episodes"]
    assert run["metrics"]["survival_time"]["mean"] > 0
    bc = json.loads((tmp_path / "results/bc/unitree_g1/walk/metrics.json").read_text())
    assert bc["closed_loop"]["expert"]["survival_time_mean"] > 0
    render = config["render"]  # a 1 s clip (120 frames at 120 fps), at most render.seconds of it
    assert_video(tmp_path / video, round(render["fps"] * min(119 / 120, render["seconds"])),
                 (render["width"], render["height"]), render["fps"])
    data = mujoco.MjData(g1.model)  # the retargeted clip starts standing on the G1's soles
    data.qpos[:] = np.load(tmp_path / "results/retarget/unitree_g1/walk.npz")["qpos"][0]
    mujoco.mj_kinematics(g1.model, data)
    assert data.xpos[g1.trunk.id][2] > 0.6
