"""Extra geoms drawn into a renderer's scene: a translucent ghost of the reference, source keypoints.

Both go through the scene's geom buffer (``mjv_addGeoms`` / ``mjv_initGeom``) after
``update_scene``, so they need no change to the model and cost nothing in simulation.
"""

from __future__ import annotations

import mujoco
import numpy as np

GHOST_RGB = (0.25, 0.8, 1.0)
KEYPOINT_RGBA = (0.95, 0.1, 0.6, 1.0)
BONE_RGBA = (0.95, 0.85, 0.2, 0.9)
# Source skeleton drawn over the robot (bones whose two keypoints the clip has). A quadruped: pelvis-neck
# spine, and each hip (shoulder) to its foot. A human: spine, hips, legs to the toes, shoulders and arms.
BONES = (("pelvis", "neck"), ("FL_hip", "FL_foot"), ("FR_hip", "FR_foot"), ("RL_hip", "RL_foot"),
         ("RR_hip", "RR_foot"), ("FL_hip", "FR_hip"), ("RL_hip", "RR_hip"),
         ("pelvis", "chest"), ("chest", "head"), ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder"),
         *((f"{side}_{a}", f"{side}_{b}") for side in ("left", "right")
           for a, b in (("hip", "knee"), ("knee", "foot"), ("foot", "toe"), ("shoulder", "elbow"), ("elbow", "hand"))))


def _next_geom(scene: mujoco.MjvScene) -> mujoco.MjvGeom | None:
    if scene.ngeom >= scene.maxgeom:
        return None
    scene.ngeom += 1
    return scene.geoms[scene.ngeom - 1]


def add_ghost(scene: mujoco.MjvScene, model: mujoco.MjModel, data: mujoco.MjData, option: mujoco.MjvOption,
              alpha: float) -> None:
    """Draw the robot's moving bodies at ``data``'s pose, translucent and in one colour."""
    start = scene.ngeom
    mujoco.mjv_addGeoms(model, data, option, mujoco.MjvPerturb(), mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
    for i in range(start, scene.ngeom):
        scene.geoms[i].rgba[:] = (*GHOST_RGB, alpha)


def add_keypoints(scene: mujoco.MjvScene, positions: np.ndarray, names: list[str], radius: float) -> None:
    """Spheres at the source keypoints and capsules along the bones of :data:`BONES` present in ``names``."""
    identity = np.eye(3).flatten()
    for position in positions:
        geom = _next_geom(scene)
        if geom is None:
            return
        mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([radius, 0.0, 0.0]), position, identity,
                            np.array(KEYPOINT_RGBA, dtype=np.float32))
    index = {name: i for i, name in enumerate(names)}
    for a, b in BONES:
        if a in index and b in index:
            geom = _next_geom(scene)
            if geom is None:
                return
            mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), identity,
                                np.array(BONE_RGBA, dtype=np.float32))
            mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, radius * 0.4, positions[index[a]],
                                 positions[index[b]])
