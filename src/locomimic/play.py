"""``python -m locomimic play``: drive a trained policy with a command schedule, or from a frame of its
motion, render it headless and report, per segment, the commanded velocity against the achieved one.

Why play runs in plain MuJoCo (:mod:`locomimic.evaluate.mujoco_sim`) with the policy's ONNX graph built
in memory from its parameters (:mod:`locomimic.export.onnx_policy`): that is what a robot-side runtime
runs, so what you watch is what you would deploy; and it starts in seconds, with no MJX compilation.
The task (observation, command, reference, termination) is the environment's own code, as in evaluation.

A schedule is ``"0:0.3,0,0 4:0.8,0,0 8:0.5,0,0.5"``: from each time (s), the locomotion task's command
(:data:`locomimic.envs.locomotion.COMMAND_AXES`: forward m/s, lateral m/s, yaw rate rad/s).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np

from locomimic.envs.locomotion import COMMAND_AXES
from locomimic.errors import LocomimicError

log = logging.getLogger("locomimic")

SCHEDULE_OPTION = "--commands"
# Seconds at the start of each segment left out of its average: the policy's response to the new command.
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Segment:
    """From ``start`` (s) on, until the next segment, the policy is commanded ``command``."""

    start: float
    command: tuple[float, float, float]


def parse_schedule(text: str, duration: float) -> list[Segment]:
    """Segments of ``"t:forward,lateral,yaw_rate ..."``, starting at 0, in increasing time, within ``duration``."""
    segments = []
    for item in text.replace(";", " ").split():
        time, _, values = item.partition(":")
        try:
            start, command = float(time), tuple(float(v) for v in values.split(","))
        except ValueError:
            start, command = None, ()
        if start is None or len(command) != len(COMMAND_AXES) or not np.isfinite([start, *command]).all():
            raise LocomimicError(None, f"{item!r} is not 'time:{','.join(COMMAND_AXES)}' (seconds, then m/s, m/s, "
                                 "rad/s), e.g. '0:0.3,0,0 4:0.8,0,0.5'", location=SCHEDULE_OPTION)
        segments.append(Segment(start, command))
    if not segments:
        raise LocomimicError(None, "no segment: expected e.g. '0:0.3,0,0 4:0.8,0,0.5'", location=SCHEDULE_OPTION)
    if segments[0].start != 0:
        raise LocomimicError(None, f"the first segment starts at {segments[0].start:g} s; expected 0",
                             location=SCHEDULE_OPTION)
    for before, after in zip(segments, segments[1:]):
        if after.start <= before.start:
            raise LocomimicError(None, f"segment times must increase: {after.start:g} s after {before.start:g} s",
                                 location=SCHEDULE_OPTION)
    if segments[-1].start >= duration:
        raise LocomimicError(None, f"a segment starts at {segments[-1].start:g} s, at or after the end of the "
                             f"{duration:g} s run (--duration)", location=SCHEDULE_OPTION)
    return segments


@dataclass(frozen=True)
class PolicyOrigin:
    """What a policy file's place under ``results/`` says about it (None where it says nothing)."""

    robot: str | None
    motion: str | None
    algo: str | None
    task: str | None
    results: Path | None


_TRAIN_RUN = re.compile(r"^(?P<results>.*)/train/(?P<robot>[^/]+)/(?P<motion>[^/]+)/(?P<algo>[^/]+)/seed\d+/"
                        r"policy\.params$")
_BC_RUN = re.compile(r"^(?P<results>.*)/bc/(?P<robot>[^/]+)/(?P<motion>[^/]+)/(?P<locomotion>locomotion/)?"
                     r"policy\.params$")


def policy_origin(params: Path) -> PolicyOrigin:
    """Robot, motion and algorithm from the stage's folder layout; the task from the training run's
    ``summary.json`` (BC: its folder, ``locomotion/`` for the locomotion task)."""
    from locomimic.evaluate.policies import read_summary, task_for

    path = Path(params).resolve().as_posix()
    if match := _TRAIN_RUN.match(path):
        summary_path = Path(params).parent / "summary.json"
        summary = read_summary(summary_path) if summary_path.is_file() else {}
        return PolicyOrigin(summary.get("robot", match["robot"]), match["motion"], match["algo"],
                            task_for(match["algo"], summary), Path(match["results"]))
    if match := _BC_RUN.match(path):
        return PolicyOrigin(match["robot"], match["motion"], "bc", "locomotion" if match["locomotion"] else "imitation",
                            Path(match["results"]))
    return PolicyOrigin(None, None, None, None, None)


@dataclass(frozen=True)
class PlayTarget:
    """What is played: the policy's robot, motion and task (from its folder, or given where it has none),
    and the command schedule (locomotion only)."""

    robot: str
    motion: str
    task: str
    schedule: list[Segment] | None
    results: Path | None


def resolve_play_target(params: Path, robot: str | None, motion: str | None, task: str | None,
                        commands: str | None, duration: float) -> PlayTarget:
    """Check the options against what the policy's folder says (a policy trained for another robot, motion
    or task is refused, not played) and against its task (a schedule for locomotion, none for imitation)."""
    origin = policy_origin(params)
    for option, given, found in (("--robot", robot, origin.robot), ("--motion", motion, origin.motion),
                                 ("--task", task, origin.task)):
        if given and found and given != found:
            raise LocomimicError(params, f"a policy for {option[2:]} {found!r} (its results folder and run "
                                 f"summary say so), not {given!r}", location=option)
        if not (given or found):
            raise LocomimicError(params, f"outside results/train or results/bc, so its {option[2:]} is unknown: "
                                 f"give {option}", location=option)
    task = task or origin.task
    if task == "locomotion" and not commands:
        raise LocomimicError(params, "a locomotion policy: give a command schedule, e.g. --commands "
                             "'0:0.3,0,0 4:0.8,0,0'", location=SCHEDULE_OPTION)
    if task == "imitation" and commands:
        raise LocomimicError(params, "an imitation policy follows its motion, not commands: leave out "
                             "--commands (start it with --clip/--frame), or play a locomotion policy (amp)",
                             location=SCHEDULE_OPTION)
    schedule = parse_schedule(commands, duration) if commands else None
    return PlayTarget(robot or origin.robot, motion or origin.motion, task, schedule, origin.results)


def motion_clips(config: dict, config_path: Path, motion: str, robot: str, results: Path | None) -> list[Path]:
    """The retargeted clips of ``motion`` for ``robot`` beside the policy's results folder."""
    if motion not in config["motions"]:
        raise LocomimicError(config_path, f"no motion {motion!r} (the policy's); motions: "
                             f"{', '.join(config['motions']) or 'none'}: give --config or --clips", location="motions")
    root = results or Path("results")
    return [root / "retarget" / robot / f"{clip}.npz" for clip in config["motions"][motion]["clips"]]


def env_steps(duration: float, dt: float) -> int:
    """Control steps of a ``duration``-second run."""
    return max(1, round(duration / dt))


def play_env_settings(env_settings: dict, task: str, steps: int, schedule: list[Segment] | None) -> dict:
    """The task's settings for one played episode: the nominal robot (no randomisation), ``steps`` long,
    and (locomotion) the schedule's first command with no resampling of its own."""
    from locomimic.envs.locomotion import with_fixed_command

    settings = {**env_settings, "episode_length": steps,
                "randomization": {**env_settings["randomization"], "enabled": False}}
    if task == "locomotion":
        settings = with_fixed_command(settings, list(schedule[0].command))
        settings["locomotion"]["command_interval"] = (steps + 1) * settings["ctrl_dt"]
    return settings


def _observe(env, data, info):
    """The task's observation of ``data`` under ``info`` (the environment's own ``_observation``)."""
    return env._observation(data, info)  # noqa: SLF001 - one definition of the observation, the env's


def command_control(env, schedule: list[Segment]):
    """``control(step, state)`` for :func:`~locomimic.evaluate.mujoco_sim.run_episodes`: at each segment's
    first step, the command in the state (``info["command"]``) and in its observation becomes the segment's."""

    @jax.jit
    def set_command(state, command):
        info = {**state.info, "command": jp.broadcast_to(command, state.info["command"].shape)}
        return state.replace(info=info, obs=jax.vmap(lambda d, i: _observe(env, d, i))(state.data, info))

    changes = {round(segment.start / env.dt): jp.asarray(segment.command, jp.float32) for segment in schedule}

    def control(step, state):
        return set_command(state, changes[step]) if step in changes else state

    return control


def imitation_start(env, state, clip: int, frame: int):
    """The batched state moved to ``frame`` of reference clip ``clip`` (the task's reset draws its start at
    random): pose and velocity of that frame, the reference anchored at the origin, no last action."""

    @jax.jit
    def start(state):
        n = state.obs.shape[0]
        info = {**state.info, "clip": jp.full((n,), clip, state.info["clip"].dtype),
                "frame": jp.full((n,), frame, state.info["frame"].dtype),
                "origin": jp.zeros_like(state.info["origin"]), "heading": jp.zeros_like(state.info["heading"]),
                "last_action": jp.zeros_like(state.info["last_action"])}
        info["start_clip"], info["start_frame"] = info["clip"], info["frame"]
        ref = jax.vmap(env.reference_frame)(info)
        data = jax.vmap(env.make_data)(ref["qpos"], ref["qvel"])
        return state.replace(data=data, obs=jax.vmap(lambda d, i: _observe(env, d, i))(data, info), info=info)

    return start(state)


def play_record(env, task: str):
    """The evaluation record plus what the report compares: the trunk's velocity (forward, lateral, yaw
    rate, trunk frame) and the command (locomotion) or the velocity the followed clip answers (imitation)."""
    from locomimic.evaluate.episodes import evaluation_record

    evaluation = evaluation_record(env, task)

    def record(state, action, next_state):
        out = evaluation(state, action, next_state)
        linear = jax.vmap(env.linear_velocity_in_body)(state.data)
        angular = jax.vmap(env.angular_velocity_in_body)(state.data)
        out["achieved"] = jp.concatenate([linear[:, :2], angular[:, 2:3]], axis=1)
        out["commanded"] = state.info["command"] if task == "locomotion" else env.clip_command(state.info)
        return out

    return record


def segment_report(record: dict[str, np.ndarray], starts: list[float], dt: float, steps: int,
                   settle: float = SETTLE_SECONDS) -> list[dict]:
    """Per segment of a ``steps``-step run: the mean commanded and achieved (forward, lateral, yaw rate) of
    environment 0, leaving out the first ``settle`` seconds of each segment (the policy's response; at most
    half the segment). A segment the episode left before its settling time was over has no values."""
    recorded = record["commanded"].shape[1]
    bounds = [round(s / dt) for s in starts] + [steps]
    rows = []
    for i, start in enumerate(bounds[:-1]):
        end = bounds[i + 1]
        first = start + min(round(settle / dt), (end - start) // 2)
        last = min(end, recorded)
        row = {"segment": i + 1, "from": start * dt, "to": end * dt, "steps": max(0, last - first),
               "commanded": None, "achieved": None}
        if last > first:
            row["commanded"] = record["commanded"][0, first:last].mean(axis=0).tolist()
            row["achieved"] = record["achieved"][0, first:last].mean(axis=0).tolist()
        rows.append(row)
    return rows


def format_segment(row: dict) -> str:
    """``segment 1  0.00-4.00 s  commanded forward 0.300 lateral 0.000 yaw_rate 0.000  achieved ...``."""
    head = f"segment {row['segment']}  {row['from']:.2f}-{row['to']:.2f} s"
    if row["achieved"] is None:
        return f"{head}  no measurement (the episode ended before the segment had settled)"

    def triple(values):
        return " ".join(f"{axis} {value:.3f}" for axis, value in zip(COMMAND_AXES, values))

    return f"{head}  commanded {triple(row['commanded'])}  achieved {triple(row['achieved'])}"


def play(params, params_source: str, robot, clips: list[Path], task: str, env_settings: dict,
         policy_settings: dict, duration: float, seed: int, schedule: list[Segment] | None = None,
         clip: str | None = None, frame: int = 0) -> tuple[object, dict[str, np.ndarray]]:
    """One episode of the policy in plain MuJoCo: the environment and the record (arrays ``[1, step, ...]``).

    It stops early when the episode ends (a fall; imitation: straying from the reference, or the end of a
    clip that does not loop).
    """
    from locomimic.envs import make_env
    from locomimic.evaluate.mujoco_sim import MujocoEpisodes, run_episodes
    from locomimic.export.onnx_policy import OnnxPolicy, build_onnx
    from locomimic.export.runtime_spec import runtime_spec
    from locomimic.policy import check_params

    steps = env_steps(duration, env_settings["ctrl_dt"])
    settings = play_env_settings(env_settings, task, steps, schedule)
    env = make_env(task, robot, settings, clips)
    check_params(params, params_source, env.observation_size, env.action_size, policy_settings)
    index = _start_clip(env, clip, frame) if task == "imitation" else None
    policy = OnnxPolicy(build_onnx(params, params_source).SerializeToString(), params_source)
    sim = MujocoEpisodes(env, settings, 1, seed, runtime_spec(env, task, settings, {"robot": robot.name}),
                         play_record(env, task))
    state = sim.reset()
    if index is not None:
        state = imitation_start(env, state, index, frame)
        sim.sync(state)
    control = command_control(env, schedule) if task == "locomotion" else None
    record = run_episodes(sim, policy, steps, label="play", state=state, control=control, stop_when_done=True)
    return env, record


def _start_clip(env, clip: str | None, frame: int) -> int:
    """The index of the clip an imitation episode starts on (default: the motion's first), its frame checked."""
    names = list(env.reference.names)
    if clip is not None and clip not in names:
        raise LocomimicError(None, f"clip {clip!r} is not in the motion ({', '.join(names)})", location="--clip")
    index = names.index(clip) if clip is not None else 0
    length = int(env.reference.lengths[index])
    if not 0 <= frame < length:
        raise LocomimicError(None, f"frame {frame} is outside clip {names[index]!r} (0..{length - 1} at the "
                             f"control period, {env.dt:g} s)", location="--frame")
    return index


def play_trajectory(record: dict[str, np.ndarray], task: str, dt: float) -> dict[str, np.ndarray]:
    """What :func:`locomimic.render.policy_video.render_policy` draws: the played poses, and the reference
    followed as the ghost (imitation; a locomotion policy's ghost is its own pose, drawn invisible)."""
    qpos = record["qpos"][0]
    ghost = record["ref_qpos"][0] if task == "imitation" else qpos
    failed = record["dones"][0].astype(bool) & record["failures"][0].astype(bool)  # not the time limit
    return {"qpos": qpos.astype(np.float32), "ghost_qpos": ghost.astype(np.float32), "dones": failed,
            "dt": np.float64(dt)}


def ending(record: dict[str, np.ndarray], dt: float, steps: int) -> str | None:
    """How environment 0's episode of ``steps`` control steps ended early (a fall, straying from the
    reference, the end of a clip that does not loop), or None when it lasted."""
    dones = record["dones"][0].astype(bool)
    step = int(dones.argmax())
    if not dones.any():
        return None
    if record["falls"][0, step]:
        cause = "a fall"
    elif record["failures"][0, step]:
        cause = "straying from the reference"
    elif step + 1 < steps:
        cause = "the end of the clip"
    else:
        return None  # the time limit
    return f"the episode ended at {(step + 1) * dt:.2f} s ({cause})"
