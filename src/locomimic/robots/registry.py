"""Robot registry: ``config/robots/<name>.yaml`` -> a :class:`Robot` (model, pose, PD control).

A robot file says where the MJCF comes from (a model shipped with the package, any MJCF path, or
MuJoCo Menagerie through the ``mujoco-menagerie`` package), which bodies or sites stand for the
source keypoints and which of them are the feet (as many as the robot has: nothing here assumes four
legs), the default pose, and the PD gains and torque limits. The YAML is the single source
of truth for control: position servos in the model get these gains written into them at load time;
torque-motor robots (such as Unitree Go2) get the PD law applied by :meth:`Robot.pd_torque`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from locomimic.config import load_yaml, validate
from locomimic.errors import LocomimicError

PACKAGE_MODELS = Path(__file__).resolve().parent / "models"

_OBJ_TYPES = {"body": mujoco.mjtObj.mjOBJ_BODY, "site": mujoco.mjtObj.mjOBJ_SITE}


@dataclass(frozen=True)
class Frame:
    """A body or site of the model that stands for a source keypoint."""

    kind: str  # "body" or "site"
    name: str
    id: int

    def position(self, data: mujoco.MjData) -> np.ndarray:
        return (data.xpos if self.kind == "body" else data.site_xpos)[self.id]


@dataclass
class Robot:
    """A compiled robot: model, named frames, default pose and per-joint PD parameters.

    Per-joint arrays (``kp``, ``kd``, ``torque_limit``, ``default_joints``) follow the order of the
    actuated joints in ``qpos`` (``joint_names``); ``actuator_joint`` maps actuators to that order.
    """

    name: str
    config_path: Path
    model_path: Path
    model: mujoco.MjModel
    trunk: Frame
    keypoints: dict[str, Frame]
    foot_names: tuple[str, ...]
    end_effector_names: tuple[str, ...]
    foot_radius: float
    actuators: str
    mjx_options: dict
    joint_names: tuple[str, ...]
    qpos_default: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    torque_limit: np.ndarray
    actuator_joint: np.ndarray
    joint_qpos_adr: np.ndarray = field(repr=False)
    joint_dof_adr: np.ndarray = field(repr=False)
    joint_range: np.ndarray = field(repr=False)

    @property
    def feet(self) -> tuple[Frame, ...]:
        """The frames that stand on the ground (the robot file's ``feet``), in that order."""
        return tuple(self.keypoints[name] for name in self.foot_names)

    @property
    def end_effectors(self) -> tuple[Frame, ...]:
        """The frames the end-effector reward and AMP's features follow (the robot file's ``end_effectors``)."""
        return tuple(self.keypoints[name] for name in self.end_effector_names)

    def frames(self, names, needed_for: str) -> tuple[Frame, ...]:
        """The frames of keypoints ``names``; a robot file without one of them is an error naming what needs it."""
        missing = [name for name in names if name not in self.keypoints]
        if missing:
            raise LocomimicError(self.config_path, f"{needed_for} needs keypoints {', '.join(missing)}; this robot "
                                 f"file maps {', '.join(self.keypoints)}", location="keypoints")
        return tuple(self.keypoints[name] for name in names)

    @property
    def default_joints(self) -> np.ndarray:
        return self.qpos_default[self.joint_qpos_adr]

    def pd_torque(self, target: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """PD torques on the actuated joints (joint order), clipped to the torque limits."""
        q = qpos[self.joint_qpos_adr]
        dq = qvel[self.joint_dof_adr]
        tau = self.kp * (target - q) - self.kd * dq
        return np.clip(tau, -self.torque_limit, self.torque_limit)

    def control(self, target: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """``data.ctrl`` that drives the joints to ``target`` (joint order) with the robot's own PD law."""
        if self.actuators == "position":
            return target[self.actuator_joint]
        return self.pd_torque(target, qpos, qvel)[self.actuator_joint]


def resolve_model_path(source: str, config_path: Path) -> Path:
    """Turn a robot file's ``model:`` string into the path of an MJCF file."""
    if source.startswith("package:"):
        path = PACKAGE_MODELS / source.removeprefix("package:") / "scene.xml"
    elif source.startswith("menagerie:"):
        import mujoco_menagerie

        name, _, entry = source.removeprefix("menagerie:").partition("/")
        try:
            robot = mujoco_menagerie.get(name)
            path = Path(robot.xml(entry or robot.default_scene))
        except mujoco_menagerie.MenagerieError as exc:
            raise LocomimicError(config_path, f"cannot load {source!r} from MuJoCo Menagerie: {exc}",
                                 location="model") from None
    else:
        path = Path(source)
        path = path if path.is_absolute() else config_path.parent / path
    if not path.is_file():
        raise LocomimicError(config_path, f"model file {path} does not exist", location="model")
    return path


def _frame(model: mujoco.MjModel, keypoint: str, spec: dict, config_path: Path) -> Frame:
    if "offset" in spec:  # the site _add_keypoint_sites put there
        site = _keypoint_site(keypoint)
        return Frame("site", site, mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, site))
    location = f"keypoints.{keypoint}"
    kind = "body" if "body" in spec else "site"
    name = spec[kind]
    obj_id = mujoco.mj_name2id(model, _OBJ_TYPES[kind], name)
    if obj_id < 0:
        count = model.nbody if kind == "body" else model.nsite
        names = [mujoco.mj_id2name(model, _OBJ_TYPES[kind], i) for i in range(count)]
        raise LocomimicError(
            config_path,
            f"the model has no {kind} {name!r}; its {'bodies' if kind == 'body' else 'sites'} are: "
            f"{', '.join(n for n in names if n)}",
            location=f"{location}.{kind}",
        )
    return Frame(kind, name, obj_id)


def _per_joint(value, joint_names: tuple[str, ...], config_path: Path, location: str) -> np.ndarray:
    """A number for every joint, or regex -> number where every joint must match exactly one pattern."""
    if not isinstance(value, dict):
        return np.full(len(joint_names), float(value))
    result = np.empty(len(joint_names))
    for i, joint in enumerate(joint_names):
        matches = [pattern for pattern in value if re.fullmatch(pattern, joint)]
        if len(matches) != 1:
            problem = "no pattern matches" if not matches else f"several patterns match ({', '.join(matches)})"
            raise LocomimicError(config_path, f"{problem} joint {joint!r}; joints: {', '.join(joint_names)}",
                                 location=location)
        result[i] = value[matches[0]]
    return result


def load_robot(config_path: str | Path) -> Robot:
    """Load ``config/robots/<name>.yaml`` and compile its model with the configured PD control."""
    config_path = Path(config_path)
    spec = validate(load_yaml(config_path), "robot.schema.yaml", config_path)
    model_path = resolve_model_path(spec["model"], config_path)
    control = spec["control"]
    model = _compile(model_path, control, spec["keypoints"], config_path)

    trunk_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, spec["trunk"])
    root_joint = model.body_jntadr[trunk_id] if trunk_id >= 0 else -1
    if root_joint < 0 or int(model.jnt_type[root_joint]) != int(mujoco.mjtJoint.mjJNT_FREE) or model.jnt_qposadr[root_joint] != 0:
        raise LocomimicError(config_path, f"{spec['trunk']!r} is not a body whose free joint comes first "
                             f"in qpos in {model_path}", location="trunk")
    trunk = Frame("body", spec["trunk"], trunk_id)
    keypoints = {k: _frame(model, k, frame, config_path) for k, frame in spec["keypoints"].items()}
    end_effectors = spec.get("end_effectors", spec["feet"])
    for key, names in (("feet", spec["feet"]), ("end_effectors", end_effectors)):
        for i, name in enumerate(names):
            if name not in keypoints:
                raise LocomimicError(config_path, f"{name!r} is not one of the keypoints: {', '.join(keypoints)}",
                                     location=f"{key}[{i}]")

    actuated_types = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    hinge = [j for j in range(model.njnt) if int(model.jnt_type[j]) in actuated_types]
    joint_names = tuple(mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in hinge)
    actuator_joint = np.empty(model.nu, dtype=np.int64)
    for a in range(model.nu):
        joint = int(model.actuator_trnid[a, 0])
        if int(model.actuator_trntype[a]) != int(mujoco.mjtTrn.mjTRN_JOINT) or joint not in hinge:
            raise LocomimicError(model_path, f"actuator {a} does not drive a hinge joint")
        actuator_joint[a] = hinge.index(joint)

    kp = _per_joint(control["kp"], joint_names, config_path, "control.kp")
    kd = _per_joint(control["kd"], joint_names, config_path, "control.kd")
    torque_limit = _per_joint(control["torque_limit"], joint_names, config_path, "control.torque_limit")
    if "armature" in control:
        model.dof_armature[model.jnt_dofadr[hinge]] = _per_joint(control["armature"], joint_names, config_path,
                                                                  "control.armature")
    is_position = model.actuator_biastype == int(mujoco.mjtBias.mjBIAS_AFFINE)
    if control["actuators"] == "position":
        if not is_position.all():
            raise LocomimicError(config_path, "control.actuators is 'position' but the model's actuators are "
                                 "not position servos", location="control.actuators")
        model.actuator_gainprm[:, 0] = kp[actuator_joint]
        model.actuator_biasprm[:, 1] = -kp[actuator_joint]
        model.actuator_biasprm[:, 2] = -kd[actuator_joint]
        model.actuator_forcerange[:] = np.stack([-torque_limit, torque_limit], 1)[actuator_joint]
        model.actuator_forcelimited[:] = 1
    elif is_position.any():
        raise LocomimicError(config_path, "control.actuators is 'torque' but the model has position servos",
                             location="control.actuators")

    qpos_default = _default_qpos(model, spec["default_pose"], trunk_id, joint_names, hinge, config_path)
    return Robot(
        name=config_path.stem,
        config_path=config_path,
        model_path=model_path,
        model=model,
        trunk=trunk,
        keypoints=keypoints,
        foot_names=tuple(spec["feet"]),
        end_effector_names=tuple(end_effectors),
        foot_radius=float(spec["foot_radius"]),
        actuators=control["actuators"],
        mjx_options=dict(spec.get("mjx", {})),
        joint_names=joint_names,
        qpos_default=qpos_default,
        kp=kp,
        kd=kd,
        torque_limit=torque_limit,
        actuator_joint=actuator_joint,
        joint_qpos_adr=model.jnt_qposadr[hinge].copy(),
        joint_dof_adr=model.jnt_dofadr[hinge].copy(),
        joint_range=model.jnt_range[hinge].copy(),
    )


def _compile(model_path: Path, control: dict, keypoints: dict, config_path: Path) -> mujoco.MjModel:
    """The robot's model, with what the robot file adds to it: motors (``control.motors``) and keypoint sites.

    Models such as Menagerie's Unitree G1 come without actuators (the robot's maker documents its
    motors elsewhere): the robot file then names the driven joints and the PD law below drives them,
    as it drives any torque-motor robot. The motors are added in joint order, unlimited here: the
    torque limits are the robot file's ``control.torque_limit``, applied by the controller and the
    MJX environments. A keypoint given as a body and an ``offset`` becomes a site on that body
    (:func:`_add_keypoint_sites`). Sites have no mass: the physics is the model's own.
    """
    motors = control.get("motors")
    try:
        spec = mujoco.MjSpec.from_file(str(model_path))
    except ValueError as exc:
        raise LocomimicError(model_path, f"MuJoCo cannot read the model: {exc}") from None
    if motors is None and not spec.actuators:
        raise LocomimicError(config_path, f"{model_path} has no actuators: name the joints to drive with a "
                             "joint-name regex in control.motors (e.g. '.*' for every joint)", location="control")
    if motors is not None:
        _add_motors(spec, motors, control["actuators"], model_path, config_path)
    _add_keypoint_sites(spec, keypoints, config_path)
    try:
        return spec.compile()
    except ValueError as exc:
        raise LocomimicError(model_path, f"MuJoCo cannot compile the model: {exc}") from None


def _add_motors(spec: mujoco.MjSpec, motors: str, control_actuators: str, model_path: Path, config_path: Path) -> None:
    """A torque motor on every hinge or slide joint that the regex ``motors`` matches, in joint order."""
    if control_actuators != "torque":
        raise LocomimicError(config_path, "control.motors adds torque motors: it needs control.actuators 'torque'",
                             location="control.motors")
    if spec.actuators:
        raise LocomimicError(config_path, f"control.motors adds motors to a model without actuators, but "
                             f"{model_path} has {len(spec.actuators)}: leave control.motors out",
                             location="control.motors")
    driven = [j.name for j in spec.joints
              if j.type in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE) and re.fullmatch(motors, j.name)]
    if not driven:
        joints = [j.name for j in spec.joints if j.type != mujoco.mjtJoint.mjJNT_FREE]
        raise LocomimicError(config_path, f"{motors!r} matches none of the model's joints: {', '.join(joints)}",
                             location="control.motors")
    for joint in driven:
        spec.add_actuator(name=f"{joint}_motor", target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)


def _keypoint_site(keypoint: str) -> str:
    """The name of the site a keypoint given as a body and an offset becomes."""
    return f"{keypoint}_keypoint"


def _add_keypoint_sites(spec: mujoco.MjSpec, keypoints: dict, config_path: Path) -> None:
    """A site at ``offset`` on its body for each keypoint given so (robot file ``keypoints.<name>.offset``).

    A humanoid's head is often a geom of its torso, not a body of its own (Menagerie's G1): the site is
    the point the IK, the metrics and the simulation follow, like any other keypoint's frame."""
    for name, frame in keypoints.items():
        if "offset" not in frame:
            continue
        body = spec.body(frame["body"])
        if body is None:
            bodies = [b.name for b in spec.bodies if b.name]
            raise LocomimicError(config_path, f"the model has no body {frame['body']!r}; its bodies are: "
                                 f"{', '.join(bodies)}", location=f"keypoints.{name}.body")
        if spec.site(_keypoint_site(name)) is not None:
            raise LocomimicError(config_path, f"the model already has a site {_keypoint_site(name)!r}: map the "
                                 f"keypoint to it ({{site: {_keypoint_site(name)}}}) instead of an offset",
                                 location=f"keypoints.{name}.offset")
        body.add_site(name=_keypoint_site(name), pos=[float(x) for x in frame["offset"]], size=[0.01, 0.01, 0.01],
                      group=4)


def _default_qpos(model, pose: dict, trunk_id: int, joint_names, hinge, config_path: Path) -> np.ndarray:
    if "keyframe" in pose:
        key = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_KEY, pose["keyframe"])
        if key < 0:
            names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_KEY, i) for i in range(model.nkey)]
            raise LocomimicError(config_path, f"the model has no keyframe {pose['keyframe']!r}; keyframes: "
                                 f"{', '.join(n for n in names if n) or 'none'}", location="default_pose.keyframe")
        return model.key_qpos[key].copy()
    qpos = model.qpos0.copy()
    root = model.jnt_qposadr[model.body_jntadr[trunk_id]]
    qpos[root + 2] = pose["base_height"]
    angles = _per_joint(pose["joints"], joint_names, config_path, "default_pose.joints")
    qpos[model.jnt_qposadr[hinge]] = angles
    return qpos
