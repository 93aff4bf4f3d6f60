"""Where a robot's feet touch the ground: the collision geoms of each sole and how low they reach.

The environments let only these geoms collide with the floor, and retargeting measures penetration with
them, so both stages agree on what a foot is for sphere feet and for a humanoid's multi-geom flat soles.
"""

from __future__ import annotations

import mujoco
import numpy as np


def colliding_robot_geoms(model: mujoco.MjModel) -> list[int]:
    """The geoms that take part in collisions and are not part of the world body."""
    colliding = np.flatnonzero((model.geom_contype != 0) | (model.geom_conaffinity != 0))
    return [int(g) for g in colliding if model.geom_bodyid[g] != 0]


def standing_sole_geoms(robot) -> list[list[int]]:
    """The sole geoms of each of a robot's feet (robot file order), found at its default pose."""
    data = mujoco.MjData(robot.model)
    data.qpos[:] = robot.qpos_default
    mujoco.mj_kinematics(robot.model, data)
    geoms = colliding_robot_geoms(robot.model)
    return [sole_geoms(robot.model, data, geoms, foot.position(data)) for foot in robot.feet]


def sole_geoms(model: mujoco.MjModel, data: mujoco.MjData, geoms: list[int], position: np.ndarray) -> list[int]:
    """A foot's sole at the default pose: the collision geom nearest the foot frame and the geoms of its
    body whose lowest point is as low (within 2 mm).

    A sphere foot is one geom; a humanoid's flat foot is several (the G1's sole is seven capsules), and
    a shin on the same body as a foot sphere stays out: its lowest point is well above the sole's.
    """
    nearest = min(geoms, key=lambda g: np.linalg.norm(data.geom_xpos[g] - position))
    same_body = [g for g in geoms if model.geom_bodyid[g] == model.geom_bodyid[nearest]]
    bottom = {g: lowest_point(model, data, g) for g in same_body}
    return [g for g in same_body if bottom[g] <= bottom[nearest] + 0.002]


def lowest_point(model: mujoco.MjModel, data: mujoco.MjData, geom: int) -> float:
    """Height of a geom's lowest point (spheres, capsules and boxes exactly; other shapes by bounding sphere)."""
    z_axis = data.geom_xmat[geom].reshape(3, 3)[2]  # world z in the geom's frame
    size, kind = model.geom_size[geom], int(model.geom_type[geom])
    if kind == int(mujoco.mjtGeom.mjGEOM_SPHERE):
        reach = size[0]
    elif kind == int(mujoco.mjtGeom.mjGEOM_CAPSULE):
        reach = size[0] + size[1] * abs(z_axis[2])
    elif kind == int(mujoco.mjtGeom.mjGEOM_BOX):
        reach = float(np.abs(z_axis) @ size)
    else:
        reach = float(model.geom_rbound[geom])
    return float(data.geom_xpos[geom][2] - reach)
