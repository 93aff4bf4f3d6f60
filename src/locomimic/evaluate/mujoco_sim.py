"""Sim-to-sim: the evaluation's episodes in plain MuJoCo (C ``mj_step`` on ``MjData``) instead of MJX.

What changes, and only that: the physics. Each control step the PD law of the exported runtime spec
(``policy.json``: gains, torque limits, action scale and origin, default pose, control period) runs in
every physics step of C MuJoCo, one ``MjData`` per episode, on that episode's randomised model (the
friction and masses the MJX evaluation's environment of the same index gets,
:func:`locomimic.envs.factory.batch_randomization`) with its randomised gain scales. Everything else is
the environment's own JAX code run on the MuJoCo state: observation, reward, termination, reference
bookkeeping, brax's episode and auto-reset wrappers and the evaluation record. The environment is copied
with its physics step replaced by "take the state MuJoCo computed" (:func:`task_without_physics`), so no
observation or reward has a second implementation that could drift from the first, and the starts are the
MJX evaluation's (:func:`locomimic.envs.rollout.reset_keys`).

Each step copies the public fields of MuJoCo's state that ``mjx.Data`` shares (positions, velocities,
kinematics, actuator forces...) into the batched state, and, where an episode ended, puts the auto-reset
wrapper's new start back into that episode's ``MjData``. A policy acts on the whole batch at once (one
onnxruntime call per control step for every episode).
"""

from __future__ import annotations

import copy
import dataclasses

import jax
import jax.numpy as jp
import mujoco
import numpy as np

from locomimic.envs.factory import batch_randomization, make_training_env
from locomimic.envs.rollout import reset_keys, step_record
from locomimic.errors import LocomimicError
from locomimic.export.runtime_spec import PDController
from locomimic.progress import Progress


def _given_physics(data, targets, info):
    """The physics step of :func:`task_without_physics`: the state is already the one C MuJoCo reached."""
    return data


def task_without_physics(env):
    """A shallow copy of ``env`` whose ``step`` takes ``state.data`` as the state after the physics.

    The tasks read the state before the physics step only to step it (and, with an AMP feature history,
    for an auto-reset's first features, which evaluation does not keep), so handing the step a state
    whose data MuJoCo already advanced gives the task's observation, reward and termination of that state.
    """
    task = copy.copy(env)
    task.physics_step = _given_physics
    return task


def randomized_models(env, env_settings: dict, num_envs: int, seed: int) -> list[mujoco.MjModel]:
    """One ``MjModel`` per environment with the fields the MJX evaluation randomises for it set alike."""
    models = [copy.copy(env.mj_model) for _ in range(num_envs)]
    randomize = batch_randomization(env_settings, num_envs, seed)
    if randomize is None:
        return models
    batched, in_axes = randomize(env.mjx_model)
    for path, _ in jax.tree_util.tree_flatten_with_path(in_axes)[0]:  # the randomised (batched) fields
        name = path[-1].name
        values = np.asarray(getattr(batched, name))
        for i, model in enumerate(models):
            getattr(model, name)[...] = values[i]
    return models


class MujocoEpisodes:
    """``num_envs`` episodes of ``env``'s task in C MuJoCo, stepped together under a spec's PD law."""

    def __init__(self, env, env_settings: dict, num_envs: int, seed: int, spec: dict, record_fn=None,
                 spec_source: str | None = None):
        self.env, self.num_envs, self.seed = env, num_envs, seed
        self.pd = PDController(spec)
        if self.pd.substeps != env.n_substeps:
            raise LocomimicError(spec_source, f"control period / physics timestep gives {self.pd.substeps} physics "
                                 f"steps per control step, the environment takes {env.n_substeps}", location="control")
        model = env.mj_model
        names = list(spec["joints"]["names"])
        try:
            joints = [model.joint(name) for name in names]
        except KeyError as exc:
            raise LocomimicError(spec_source, f"joint {exc} is not in the robot's model", location="joints.names") from None
        self.qpos_adr = np.array([j.qposadr[0] for j in joints])
        self.dof_adr = np.array([j.dofadr[0] for j in joints])
        joint_index = {j.id: i for i, j in enumerate(joints)}
        self.actuator_joint = np.array([joint_index[model.actuator_trnid[a, 0]] for a in range(model.nu)])
        self.models = randomized_models(env, env_settings, num_envs, seed)
        self.datas = [mujoco.MjData(m) for m in self.models]
        batched = make_training_env(task_without_physics(env), env_settings, num_envs, seed, full_reset=True)
        self._reset = jax.jit(batched.reset)

        def advance(state, arrays, action):
            moved = state.replace(data=state.data.replace(**arrays))
            next_state = batched.step(moved, action)
            return next_state, step_record(state, action, next_state, record_fn)

        self._jit_advance = jax.jit(advance)
        # the reference a step ahead, for policies whose actions are about the reference
        self._zero_action_targets = jax.jit(jax.vmap(env.zero_action_targets))
        self._advance = None  # compiled by the first reset, for the batch's shapes
        self._fields: dict[str, np.dtype] = {}

    def reset(self):
        """The batched first states (the MJX evaluation's, for the same seed), put into every ``MjData``."""
        state = self._reset(reset_keys(self.seed, self.num_envs))
        if self._advance is None:
            template = state.data
            for field in dataclasses.fields(template):  # mjx.Data's public fields that MjData holds alike
                value, mine = getattr(template, field.name), getattr(self.datas[0], field.name, None)
                if not field.name.startswith("_") and mine is not None and np.shape(mine) == np.shape(value)[1:]:
                    self._fields[field.name] = value.dtype
            actions = jp.zeros((self.num_envs, self.env.action_size))
            self._advance = self._jit_advance.lower(state, self._state_arrays(), actions).compile()
        self.sync(state)
        return state

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The fields of every ``MjData`` that the batched state holds, stacked, in its dtypes."""
        return {name: np.stack([np.asarray(getattr(d, name)) for d in self.datas]).astype(dtype)
                for name, dtype in self._fields.items()}

    def sync(self, state, envs=None) -> None:
        """Put the state of ``envs`` (all by default) into their ``MjData``: a new start, as after a reset."""
        qpos, qvel = np.asarray(state.data.qpos), np.asarray(state.data.qvel)
        for i in range(self.num_envs) if envs is None else envs:
            model, data = self.models[i], self.datas[i]
            mujoco.mj_resetData(model, data)
            data.qpos[:], data.qvel[:] = qpos[i], qvel[i]
            mujoco.mj_forward(model, data)

    def step(self, state, actions: np.ndarray):
        """One control step of every episode: the PD law through C MuJoCo's physics steps, then the task."""
        actions = np.clip(np.asarray(actions, np.float32), -1.0, 1.0)
        reference = np.asarray(self._zero_action_targets(state.info)) if self.pd.origin == "reference" else None
        targets = self.pd.targets(actions, reference)
        kp_scale, kd_scale = np.asarray(state.info["kp_scale"]), np.asarray(state.info["kd_scale"])
        for _ in range(self.pd.substeps):
            q = np.stack([d.qpos[self.qpos_adr] for d in self.datas])
            dq = np.stack([d.qvel[self.dof_adr] for d in self.datas])
            torques = self.pd.torques(targets, q, dq, kp_scale, kd_scale)[:, self.actuator_joint]
            for model, data, tau in zip(self.models, self.datas, torques):
                data.ctrl[:] = tau
                mujoco.mj_step(model, data)
        next_state, record = self._advance(state, self._state_arrays(), jp.asarray(actions))
        ended = np.flatnonzero(np.asarray(next_state.done) > 0)
        if len(ended):  # the auto-reset wrapper started these episodes afresh
            self.sync(next_state, ended)
        return next_state, record


def run_episodes(sim: MujocoEpisodes, act, steps: int, label: str = "sim2sim", state=None, control=None,
                 stop_when_done: bool = False) -> dict[str, np.ndarray]:
    """Roll ``act`` (observations ``[env, obs]`` -> actions ``[env, act]``, numpy) out for ``steps`` control
    steps; arrays ``[env, step, ...]`` as :func:`locomimic.envs.rollout.rollout` returns them.

    ``state`` is the first state (default: :meth:`MujocoEpisodes.reset`); ``control(step, state) -> state``
    may change the task's inputs between steps (play's command schedule); ``stop_when_done`` ends the
    rollout when every episode has ended once.
    """
    state = sim.reset() if state is None else state
    progress = Progress(label, steps * sim.num_envs, "env steps")
    records, ended = [], np.zeros(sim.num_envs, bool)
    for step in range(steps):
        if control is not None:
            state = control(step, state)
        state, record = sim.step(state, act(np.asarray(state.obs)))
        records.append(jax.device_get(record))
        progress.update(sim.num_envs)
        ended |= np.asarray(record["dones"]) > 0
        if stop_when_done and ended.all():
            break
    return {name: np.stack([r[name] for r in records], axis=1) for name in records[0]}
