"""``python -m locomimic <stage>``: the thin command line the Snakemake rules call.

Each subcommand reads its inputs, runs one stage's pure functions and writes its outputs atomically.
Input problems end with one ``error:`` line (file, line or field, what was expected) and exit 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from locomimic.errors import LocomimicError

log = logging.getLogger("locomimic")


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def cmd_gait(args) -> None:
    """Generate a parametric gait clip (keypoint .npz)."""
    from locomimic.motion import gait, npz_clip

    clip = gait.generate(**args.params, name=args.name)
    npz_clip.write(args.out, clip)
    log.info("wrote %s: %d frames at %.0f fps (%s)", args.out, clip.num_frames, clip.fps, clip.source)


def cmd_retarget(args) -> None:
    """Retarget one clip onto one robot; write the trajectory .npz and the quality-metrics JSON."""
    from locomimic.config import validate
    from locomimic.io import save_json, save_npz
    from locomimic.motion import load_clip
    from locomimic.retarget import retarget_clip
    from locomimic.robots import load_robot

    # Validate (and complete with defaults) the pieces of config this stage was given.
    spec = {"path": str(args.clip), **args.clip_spec}
    config = validate({"clips": {args.name: spec}, "retarget": args.settings}, "config.schema.yaml",
                      "--clip-spec/--settings", ("clips", "retarget"))
    robot = load_robot(args.robot)
    clip = load_clip(config["clips"][args.name], args.clip, args.name)
    log.info("retargeting %s (%d frames at %.0f fps) onto %s", args.clip, clip.num_frames, clip.fps, robot.name)
    result = retarget_clip(clip, robot, config["retarget"], spec.get("scale", "auto"))
    save_npz(args.out, result.arrays)
    save_json(args.metrics, {"clip": args.name, **result.metrics})
    m = result.metrics
    log.info("foot error mean %.1f mm (max %.1f), penetration max %.1f mm, joint-limit violations %d, "
             "foot slide robot %.1f mm vs source %.1f mm, %.0f frames/s",
             1e3 * m["foot_error_mean"], 1e3 * m["foot_error_max"], 1e3 * m["penetration_max"],
             m["joint_limit_violations"], 1e3 * m["foot_slide_robot_mean"], 1e3 * m["foot_slide_source_mean"],
             m["solver_frames_per_second"])
    if "head_error_mean" in m:
        log.info("hand error mean %.1f mm (max %.1f), head error mean %.1f mm (max %.1f), "
                 "frames in self-collision %.1f%%",
                 1e3 * m["hand_error_mean"], 1e3 * m["hand_error_max"], 1e3 * m["head_error_mean"],
                 1e3 * m["head_error_max"], 100 * m["self_collision_frames"])


def _stage_config(args, sections: tuple[str, ...]) -> dict:
    """Validate the config sections a stage was handed (as JSON) and fill in their defaults."""
    from locomimic.config import validate_config

    return validate_config(dict(args.settings), "--settings", sections)


def _imitation_env(args, config):
    from locomimic.envs import make_env
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.robots import load_robot

    enable_compilation_cache()
    robot = load_robot(args.robot)
    return make_env("imitation", robot, config["env"], args.clips)


def cmd_demos(args) -> None:
    """Roll an expert out in MJX and save (observation, action, reward, done, episode id)."""
    from locomimic.demos import generate_demos
    from locomimic.demos.experts import check_expert, make_expert
    from locomimic.io import save_json

    config = _stage_config(args, ("env", "demos", "policy", "seed"))
    env = _imitation_env(args, config)
    settings = config["demos"]
    expert = make_expert(env, args.expert, config["policy"])
    dataset, summary = generate_demos(env, expert, config["env"], settings, config["seed"])
    check_expert(summary, settings["max_failure_rate"], args.expert or args.clips[0])
    dataset.save(args.out)
    save_json(args.summary, {"expert": settings["expert"], "expert_params": str(args.expert) if args.expert else None,
                             "observation_size": int(env.observation_size),
                             "action_size": int(env.action_size), **summary})
    log.info("demos: %d episodes, %d steps, mean return %.2f, fall rate %.2f, failure rate %.2f, mean length %.1f",
             summary["episodes"], summary["steps"], summary["mean_return"], summary["fall_rate"],
             summary["failure_rate"], summary["mean_episode_length"])


def _locomotion_bc_env(args, config):
    """The locomotion task BC is checked on (every episode from a reference frame, the motion's own
    command), and the command range the task draws from in training (AMP), which BC's normaliser uses."""
    from locomimic.envs import make_env
    from locomimic.envs.locomotion import command_range, with_fixed_command
    from locomimic.envs.reference import load_reference
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.robots import load_robot

    enable_compilation_cache()
    robot = load_robot(args.robot)
    reference = load_reference(args.clips, robot, config["env"]["ctrl_dt"])
    settings = with_fixed_command(config["env"], reference.mean_command)
    settings["locomotion"]["reference_init"] = 1.0
    return (make_env("locomotion", robot, settings, reference=reference), settings,
            command_range(config["env"]["locomotion"], reference))


def cmd_bc(args) -> None:
    """Behaviour cloning on demonstrations, then a closed-loop check of the policy.

    ``--task imitation`` (the BC that PPO starts from) is compared with the expert on the imitation
    task; ``--task locomotion`` (the BC that AMP starts from) learns from the same demonstrations cut to
    the locomotion observation, and is checked on how well it holds the motion's speed.
    """
    import functools

    from locomimic.bc import train_bc
    from locomimic.bc.evaluate import compare_closed_loop
    from locomimic.bc.locomotion import command_normalizer, locomotion_closed_loop, locomotion_demos
    from locomimic.bc.train import fit_normalizer
    from locomimic.demos import load_demos
    from locomimic.demos.experts import make_expert
    from locomimic.errors import LocomimicError
    from locomimic.io import save_csv, save_json
    from locomimic.policy import deterministic_act, save_policy_params

    config = _stage_config(args, ("env", "bc", "policy", "seed"))
    data = load_demos(args.demos)
    if args.task == "locomotion":
        env, eval_settings, commands = _locomotion_bc_env(args, config)
        data = locomotion_demos(data, env.proprioception_terms())
        normalizer_fn = command_normalizer(*commands)
    else:
        env, eval_settings = _imitation_env(args, config), config["env"]
        normalizer_fn = fit_normalizer
    if data.observations.shape[1] != env.observation_size or data.actions.shape[1] != env.action_size:
        raise LocomimicError(args.demos, f"observations/actions have sizes {data.observations.shape[1]}/"
                             f"{data.actions.shape[1]} but the {args.task} environment has {env.observation_size}/"
                             f"{env.action_size}: generate the demonstrations again")
    result = train_bc(data, config["policy"], config["bc"], config["seed"], config["bc"]["initial_std"][args.task],
                      normalizer_fn)
    act = functools.partial(deterministic_act(env.observation_size, env.action_size, config["policy"]),
                            params=result.params)
    episodes, seed = config["bc"]["eval_envs"], config["seed"] + 1
    if args.task == "locomotion":
        evaluation = locomotion_closed_loop(env, act, eval_settings, episodes, seed)
        ratio = evaluation["speed_ratio"]
        log.info("BC closed loop (locomotion, from reference starts): survival %.2f, %.3f m/s for %.3f m/s "
                 "(ratio %s)", evaluation["survival_rate"], evaluation["forward_velocity_mean"],
                 evaluation["command_forward_velocity_mean"], "n/a" if ratio is None else f"{ratio:.2f}")
    else:
        expert = make_expert(env, args.expert, config["policy"])
        evaluation = compare_closed_loop(env, act, expert, eval_settings, episodes, seed)
        log.info("BC closed loop: survival %.2f s vs expert %.2f s (ratio %.2f)",
                 evaluation["policy"]["survival_time_mean"], evaluation["expert"]["survival_time_mean"],
                 evaluation["survival_ratio"])
    save_policy_params(args.out, result.params)
    save_csv(args.history, result.history)
    save_json(args.metrics, {"task": args.task, **result.metrics, "closed_loop": evaluation})


def _initial_params(args, env, config):
    """The parameters a run starts from (``--init``), refused with the file's name when they do not fit ``env``."""
    from locomimic.policy import check_params, load_policy_params

    if not args.init:
        return None
    params = load_policy_params(args.init)
    check_params(params, args.init, env.observation_size, env.action_size, config["policy"])
    return params


def cmd_train(args) -> None:
    """PPO on the imitation task from BC weights (ppo) or from scratch (ppo_scratch), or AMP on locomotion."""
    from locomimic.io import save_csv, save_json
    from locomimic.policy import save_policy_params
    from locomimic.tasks import algo_task

    config = _stage_config(args, ("env", "policy", "train"))
    train = config["train"]
    length = {"num_timesteps": train["num_timesteps"], "checkpoint_every": train["checkpoint_every"],
              "tracking": train["tracking"]}
    start = time.perf_counter()
    if args.algo == "amp":
        from locomimic.envs import make_env
        from locomimic.envs.reference import load_reference
        from locomimic.jaxcache import enable_compilation_cache
        from locomimic.robots import load_robot
        from locomimic.train.amp import train_amp

        enable_compilation_cache()
        robot = load_robot(args.robot)
        history = train["amp"]["history"]
        reference = load_reference(args.clips, robot, config["env"]["ctrl_dt"], min_frames=history + 1)
        env = make_env("locomotion", robot, config["env"], feature_history=history, reference=reference)
        initial = _initial_params(args, env, config)
        result = train_amp(env, reference, config["env"], config["policy"],
                           {**length, "ppo": train["ppo"], "amp": train["amp"]}, args.out.parent, args.seed, initial)
    else:
        from locomimic.train.ppo import train_ppo

        env = _imitation_env(args, config)
        initial = _initial_params(args, env, config)
        ppo = train["ppo"] | (train["ppo_scratch"] if args.algo == "ppo_scratch" else {})
        result = train_ppo(env, config["env"], config["policy"], ppo | length, args.out.parent, args.seed, initial)
    save_policy_params(args.out, result["params"])
    save_csv(args.metrics, result["rows"])
    last = result["rows"][-1] if result["rows"] else {}
    save_json(args.summary, {"algo": args.algo, "task": algo_task(args.algo), "seed": args.seed, "robot": env.robot.name,
                             "steps": result["steps"], "resumed_from": result["resumed_from"],
                             "initialised_from": str(args.init or "scratch"),
                             "observation_size": int(env.observation_size), "action_size": int(env.action_size),
                             "wall_seconds": time.perf_counter() - start,
                             "final_episode_reward": last.get("episode_reward"),
                             "final_episode_length": last.get("episode_length")})


def cmd_evaluate(args) -> None:
    """Seeded, deterministic episodes of one policy or baseline; metrics per episode and their mean and CI."""
    from locomimic.evaluate.episodes import evaluate_policy, per_clip_summary, setup_policy
    from locomimic.evaluate.policies import read_summary
    from locomimic.evaluate.trajectory import episode_trajectory, save_trajectory
    from locomimic.io import save_csv, save_json
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.robots import load_robot

    config = _stage_config(args, ("env", "policy", "evaluate"))
    settings = config["evaluate"]
    enable_compilation_cache()
    setup = setup_policy(args.policy, args.params, read_summary(args.run_summary), load_robot(args.robot), args.clips,
                         config["env"], config["policy"], settings)
    eval_seed = settings["seed"] + args.seed
    log.info("evaluating %s (%s task%s) on %d episodes, seed %d", args.policy, setup.task,
             f", command {setup.command}" if setup.command else "", settings["episodes"], eval_seed)
    per_episode, metrics, record = evaluate_policy(setup, settings["episodes"], eval_seed,
                                                   label=f"evaluate {args.policy}")
    rows = _episode_rows(per_episode, settings["episodes"])
    save_trajectory(args.trajectory, episode_trajectory(record, setup.task, setup.env.robot, setup.env.dt, args.clips))
    save_csv(args.episodes, rows)
    save_json(args.out, {"robot": args.robot.stem, "motion": args.motion, "policy": args.policy, "seed": args.seed,
                         "task": setup.task, "command": setup.command, "episodes": settings["episodes"],
                         "eval_seed": eval_seed, "deterministic": settings["deterministic"],
                         "params": str(args.params) if args.params else None, "metrics": metrics,
                         "per_clip": per_clip_summary(per_episode)})
    _log_metrics(metrics)


def cmd_eval_summary(args) -> None:
    """Aggregate evaluation runs over seeds into summary.csv and metrics.json."""
    from locomimic.evaluate.aggregate import aggregate, load_run
    from locomimic.io import save_csv, save_json

    rows, document = aggregate([load_run(path) for path in args.runs])
    save_csv(args.csv, rows)
    save_json(args.json, document)
    log.info("aggregated %d runs into %d rows", len(args.runs), len(rows))


def cmd_export(args) -> None:
    """A training run's policy as ONNX (normaliser included) and its runtime spec, the graph checked against JAX."""
    import numpy as np

    from locomimic.envs import make_env
    from locomimic.envs.locomotion import command_range
    from locomimic.envs.reference import load_reference
    from locomimic.evaluate.policies import read_summary, task_for
    from locomimic.export.onnx_policy import OnnxPolicy, build_onnx, max_action_difference, save_onnx
    from locomimic.export.runtime_spec import runtime_spec, save_spec
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.policy import check_params, load_policy_params
    from locomimic.robots import load_robot

    config = _stage_config(args, ("env", "policy"))
    enable_compilation_cache()
    params = load_policy_params(args.params)
    task = task_for(args.algo, read_summary(args.run_summary))
    robot = load_robot(args.robot)
    reference = load_reference(args.clips, robot, config["env"]["ctrl_dt"])
    env = make_env(task, robot, config["env"], args.clips, reference=reference if task == "locomotion" else None)
    check_params(params, args.params, env.observation_size, env.action_size, config["policy"])
    model = build_onnx(params, args.params, name=f"{robot.name}_{args.motion}_{args.algo}_seed{args.seed}")
    policy = OnnxPolicy(model.SerializeToString(), args.params)
    mean, std = np.asarray(params[0].mean), np.asarray(params[0].std)  # observations as the policy meets them
    observations = mean + 2.0 * std * np.random.default_rng(args.seed).standard_normal((1000, len(mean)))
    difference = max_action_difference(policy, params, config["policy"], observations.astype(np.float32))
    if not difference <= 1e-4:
        raise LocomimicError(args.params, f"the ONNX graph's actions differ from the JAX policy's by {difference:.3g} "
                             "(more than 1e-4): the network is not the one the export builds")
    command = None
    if task == "locomotion":
        low, high = command_range(config["env"]["locomotion"], reference)
        command = {"trained_low": low, "trained_high": high, "evaluated": reference.mean_command}
    identity = {"robot": robot.name, "motion": args.motion, "algo": args.algo, "seed": args.seed,
                "params": str(args.params), "onnx": args.onnx.name,
                "onnx_check": {"observations": len(observations), "max_abs_difference": difference}}
    save_onnx(args.onnx, model)
    save_spec(args.spec, runtime_spec(env, task, config["env"], identity, command))
    log.info("wrote %s (%d observations -> %d actions, %s task) and %s; ONNX vs JAX max |difference| %.2g on %d "
             "observations", args.onnx, env.observation_size, env.action_size, task, args.spec, difference,
             len(observations))


def cmd_sim2sim(args) -> None:
    """The exported policy on the evaluation's seeded episodes in plain MuJoCo: the same metrics as evaluate."""
    from locomimic.envs import make_env
    from locomimic.evaluate.episodes import evaluation_env_settings, evaluation_record, per_clip_summary, record_metrics
    from locomimic.evaluate.mujoco_sim import MujocoEpisodes, run_episodes
    from locomimic.export.onnx_policy import load_onnx_policy
    from locomimic.export.runtime_spec import check_spec, load_spec
    from locomimic.io import save_csv, save_json
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.robots import load_robot

    config = _stage_config(args, ("env", "evaluate"))
    settings = config["evaluate"]
    enable_compilation_cache()
    spec, policy = load_spec(args.spec), load_onnx_policy(args.onnx)
    robot, task = load_robot(args.robot), spec["policy"]["task"]
    env_settings, command = evaluation_env_settings(config["env"], settings, task, args.clips, robot)
    env = make_env(task, robot, env_settings, args.clips)
    check_spec(spec, args.spec, env, robot.name, task)
    if (policy.observation_size, policy.action_size) != (env.observation_size, env.action_size):
        raise LocomimicError(args.onnx, f"maps {policy.observation_size} observations to {policy.action_size} "
                             f"actions, the environment has {env.observation_size} and {env.action_size}")
    eval_seed = settings["seed"] + args.seed
    log.info("sim-to-sim: %s (%s task%s) in plain MuJoCo on %d episodes, seed %d", args.onnx, task,
             f", command {command}" if command else "", settings["episodes"], eval_seed)
    start = time.perf_counter()
    sim = MujocoEpisodes(env, env_settings, settings["episodes"], eval_seed, spec, evaluation_record(env, task),
                         str(args.spec))
    record = run_episodes(sim, policy, env_settings["episode_length"], label=f"sim2sim {args.policy}")
    per_episode, metrics = record_metrics(env, task, record, str(args.onnx))
    seconds = time.perf_counter() - start
    save_csv(args.episodes, _episode_rows(per_episode, settings["episodes"]))
    save_json(args.out, {"robot": robot.name, "motion": args.motion, "policy": args.policy, "seed": args.seed,
                         "simulator": "mujoco", "task": task, "command": command, "episodes": settings["episodes"],
                         "eval_seed": eval_seed, "deterministic": True, "onnx": str(args.onnx), "spec": str(args.spec),
                         "wall_seconds": seconds, "metrics": metrics, "per_clip": per_clip_summary(per_episode)})
    log.info("%d episodes x %d steps in %.1f s", settings["episodes"], env_settings["episode_length"], seconds)
    _log_metrics(metrics)


def _episode_rows(per_episode: dict, episodes: int) -> list[dict]:
    return [{"episode": i, **{name: values[i].item() for name, values in per_episode.items()}} for i in range(episodes)]


def _log_metrics(metrics: dict) -> None:
    for name, stat in metrics.items():
        log.info("%-20s %s", name, "n/a" if stat["mean"] is None else
                 f"{stat['mean']:.4g}" + (f" +- {stat['ci95']:.2g}" if stat["ci95"] is not None else ""))


def cmd_play(args) -> None:
    """Play a trained policy in plain MuJoCo: a command schedule (locomotion) or a motion frame (imitation),
    a headless mp4, and per segment the commanded against the achieved velocity."""
    _headless_gl()
    from locomimic.config import load_config, robot_config_path
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.play import (SETTLE_SECONDS, ending, env_steps, format_segment, motion_clips, play,
                                play_trajectory, resolve_play_target, segment_report)
    from locomimic.policy import load_policy_params
    from locomimic.robots import load_robot

    params = load_policy_params(args.params)
    target = resolve_play_target(args.params, args.robot, args.motion, args.task, args.commands, args.duration)
    robot_name, task, schedule = target.robot, target.task, target.schedule
    config = load_config(args.config)
    robot = load_robot(robot_config_path(config, robot_name, args.config))
    clips = args.clips or motion_clips(config, args.config, target.motion, robot_name, target.results)
    enable_compilation_cache()
    log.info("playing %s (%s task) on %s for %g s, seed %d", args.params, task, robot_name, args.duration, args.seed)
    env, record = play(params, str(args.params), robot, clips, task, config["env"], config["policy"], args.duration,
                       args.seed, schedule, args.clip, args.frame)
    starts = [segment.start for segment in schedule] if schedule else [0.0]
    settle = SETTLE_SECONDS if args.settle is None else args.settle
    steps = env_steps(args.duration, env.dt)
    print(f"{args.params}: {task} policy on {robot_name}, {record['dones'].shape[1] * env.dt:.2f} s played "
          f"(velocities in the trunk frame, m/s and rad/s; first {settle:g} s of each segment left out)")
    for row in segment_report(record, starts, env.dt, steps, settle):
        print(format_segment(row))
    if ended := ending(record, env.dt, steps):
        print(ended)
    if args.out is not None:
        import warnings

        from locomimic.render.policy_video import render_policy

        settings = dict(config["render"], seconds=args.duration)
        if args.camera:
            settings["camera"] = dict(zip(("distance", "azimuth", "elevation"), args.camera))
        if task == "locomotion":
            settings["ghost_alpha"] = 0.0  # no reference to show
        with warnings.catch_warnings():  # JAX warns of any fork; the ffmpeg writer's is followed by exec at once
            warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
            info = render_policy(args.out, robot, play_trajectory(record, task, env.dt), settings)
        print(f"wrote {args.out}: {info['frames']} frames {info['width']}x{info['height']} at {info['fps']:g} fps")


def _camera_arg(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or values[0] <= 0:
        raise argparse.ArgumentTypeError("expected DISTANCE,AZIMUTH,ELEVATION (m, degrees, degrees), e.g. 1.6,135,-20")
    return values


def _headless_gl() -> None:
    """Render offscreen with EGL unless MUJOCO_GL says otherwise (MuJoCo reads it when first imported)."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")


def cmd_render_policy(args) -> None:
    """mp4 of a policy's first evaluated episode with a translucent ghost of its reference."""
    _headless_gl()
    from locomimic.evaluate.trajectory import load_trajectory
    from locomimic.render.policy_video import render_policy
    from locomimic.robots import load_robot

    config = _stage_config(args, ("render",))
    robot = load_robot(args.robot)
    info = render_policy(args.out, robot, load_trajectory(args.trajectory, robot), config["render"])
    log.info("wrote %s: %d frames %dx%d at %g fps", args.out, info["frames"], info["width"], info["height"], info["fps"])


def cmd_render_retarget(args) -> None:
    """mp4 of a retargeted clip with the scaled source keypoints drawn over the robot."""
    _headless_gl()
    from locomimic.envs.reference import load_clip_arrays
    from locomimic.render.retarget_video import render_retarget
    from locomimic.robots import load_robot

    config = _stage_config(args, ("render",))
    robot = load_robot(args.robot)
    clip = load_clip_arrays(args.clip, robot)
    for field in ("keypoints", "keypoint_names"):
        if field not in clip:
            raise LocomimicError(args.clip, f"missing field {field!r}: retarget the clip again")
    info = render_retarget(args.out, robot, clip, config["render"])
    log.info("wrote %s: %d frames %dx%d at %g fps", args.out, info["frames"], info["width"], info["height"], info["fps"])


def cmd_plot(args) -> None:
    """Report figures: learning curves, evaluation bars or retargeting errors."""
    from locomimic.evaluate.aggregate import load_summary
    from locomimic.report import plots

    if args.kind == "learning":
        plots.learning_curves(args.inputs, args.out, args.title)
    elif args.kind == "evaluation":
        plots.evaluation_bars(load_summary(args.inputs[0]), args.robot_name, args.motion, args.out)
    else:
        plots.retarget_errors(args.inputs, args.out)
    log.info("wrote %s", args.out)


def cmd_report_page(args) -> None:
    """HTML pages for the report: a gallery of videos, or the evaluation metrics table."""
    from locomimic.evaluate.aggregate import load_summary
    from locomimic.report import pages

    if args.kind == "videos":
        labels = args.labels or [path.stem for path in args.inputs]
        if len(labels) != len(args.inputs):
            raise LocomimicError(None, f"{len(labels)} labels for {len(args.inputs)} videos", location="--labels")
        pages.video_gallery(list(zip(labels, args.inputs)), args.title, args.out, args.note)
    else:
        pages.metrics_table(load_summary(args.inputs[0]), args.out)
    log.info("wrote %s", args.out)


def cmd_check_config(args) -> None:
    """Check a workflow config as the workflow does before any job (locomimic.preflight), running nothing."""
    from locomimic.config import load_yaml
    from locomimic.preflight import check_run

    config = check_run([(str(args.config), load_yaml(args.config) or {})])
    print(f"{args.config}: OK ({len(config['robots'])} robots, {len(config['clips'])} clips, "
          f"{len(config['motions'])} motions)")


def _add_stage_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot", type=Path, required=True, help="robot file config/robots/<name>.yaml")
    p.add_argument("--clips", type=Path, nargs="+", required=True, help="retargeted clips of the motion (.npz)")
    p.add_argument("--settings", type=_json_arg, required=True,
                   help="config sections as JSON: {seed, env, policy, demos or bc}")


def _add_expert_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("--expert", type=Path,
                   help="parameters of the expert policy (demos.expert ppo_scratch or policy); none = the reference tracker")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m locomimic", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    stages = parser.add_subparsers(dest="stage", required=True, metavar="stage", title="stages")

    p = stages.add_parser("gait", help="generate a parametric quadruped gait clip (trot, pace, bound)")
    p.add_argument("--name", required=True, help="clip name (recorded in the clip)")
    p.add_argument("--params", type=_json_arg, required=True, help="the clip's 'gait' config section as JSON")
    p.add_argument("--out", type=Path, required=True, help="output keypoint clip (.npz)")
    p.set_defaults(run=cmd_gait)

    p = stages.add_parser("retarget", help="retarget a keypoint clip onto a robot with mink IK")
    p.add_argument("--name", required=True, help="clip name")
    p.add_argument("--clip", type=Path, required=True, help="clip file (keypoint text, BVH or .npz)")
    p.add_argument("--clip-spec", type=_json_arg, required=True, help="the clip's config entry as JSON")
    p.add_argument("--robot", type=Path, required=True, help="robot file config/robots/<name>.yaml")
    p.add_argument("--settings", type=_json_arg, required=True, help="the config's 'retarget' section as JSON")
    p.add_argument("--out", type=Path, required=True, help="output trajectory (.npz)")
    p.add_argument("--metrics", type=Path, required=True, help="output quality metrics (.json)")
    p.set_defaults(run=cmd_retarget)

    p = stages.add_parser("demos", help="roll an expert out in MJX and record a demonstration dataset")
    _add_stage_inputs(p)
    p.add_argument("--out", type=Path, required=True, help="output demonstrations (.npz)")
    p.add_argument("--summary", type=Path, required=True, help="output summary (.json)")
    _add_expert_input(p)
    p.set_defaults(run=cmd_demos)

    p = stages.add_parser("bc", help="behaviour cloning into brax PPO's policy network")
    _add_stage_inputs(p)
    p.add_argument("--demos", type=Path, required=True, help="demonstrations from the demos stage")
    p.add_argument("--task", choices=("imitation", "locomotion"), default="imitation",
                   help="the observation the policy gets: imitation (PPO starts from it) or locomotion (AMP does)")
    p.add_argument("--out", type=Path, required=True, help="output parameters (brax restore_params tuple)")
    p.add_argument("--history", type=Path, required=True, help="output loss curve (.csv)")
    p.add_argument("--metrics", type=Path, required=True, help="output validation and closed-loop metrics (.json)")
    _add_expert_input(p)
    p.set_defaults(run=cmd_bc)

    p = stages.add_parser("train", help="PPO (from BC weights or from scratch) or AMP on MJX with brax, resumable")
    _add_stage_inputs(p)
    p.add_argument("--algo", required=True, choices=["ppo", "ppo_scratch", "amp"])
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--init", type=Path, help="initial parameters (the BC policy); none trains from scratch")
    p.add_argument("--out", type=Path, required=True,
                   help="final parameters; the run's checkpoints go beside it, in checkpoints/")
    p.add_argument("--metrics", type=Path, required=True, help="output metrics per evaluation (.csv)")
    p.add_argument("--summary", type=Path, required=True, help="output run summary (.json)")
    p.set_defaults(run=cmd_train)

    p = stages.add_parser("evaluate", help="seeded evaluation episodes of a policy or baseline, with metrics")
    _add_stage_inputs(p)
    p.add_argument("--policy", required=True, help="reference (PD tracker), bc, or a training algo (ppo, amp ...)")
    p.add_argument("--seed", type=int, required=True, help="training seed; evaluation episodes use evaluate.seed + it")
    p.add_argument("--params", type=Path, help="policy parameters (every policy but reference)")
    p.add_argument("--run-summary", type=Path, help="the training run's summary.json (names its task)")
    p.add_argument("--motion", required=True, help="motion name (recorded in the metrics)")
    p.add_argument("--out", type=Path, required=True, help="output metrics: mean and 95%% CI per metric (.json)")
    p.add_argument("--episodes", type=Path, required=True, help="output metrics per episode (.csv)")
    p.add_argument("--trajectory", type=Path, required=True,
                   help="output poses of the first episode and its reference, for the video (.npz)")
    p.set_defaults(run=cmd_evaluate)

    p = stages.add_parser("eval-summary", help="aggregate evaluation runs over seeds (mean, 95%% CI)")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="metrics.json of each evaluation run")
    p.add_argument("--csv", type=Path, required=True, help="output table, one row per robot, motion, policy")
    p.add_argument("--json", type=Path, required=True, help="output metrics with their definitions")
    p.set_defaults(run=cmd_eval_summary)

    p = stages.add_parser("export", help="a training run's policy as ONNX (normaliser included) and its runtime spec")
    _add_stage_inputs(p)
    p.add_argument("--params", type=Path, required=True, help="the run's policy parameters")
    p.add_argument("--run-summary", type=Path, help="the training run's summary.json (names its task)")
    p.add_argument("--motion", required=True, help="motion name (recorded in the spec)")
    p.add_argument("--algo", required=True, help="training algorithm (recorded in the spec; amp is a locomotion policy)")
    p.add_argument("--seed", type=int, required=True, help="training seed (recorded in the spec)")
    p.add_argument("--onnx", type=Path, required=True, help="output graph (.onnx): raw observation -> action")
    p.add_argument("--spec", type=Path, required=True,
                   help="output runtime spec (.json): observation layout, action scale, joints, PD gains, timing")
    p.set_defaults(run=cmd_export)

    p = stages.add_parser("sim2sim", help="an exported policy on the evaluation's episodes in plain MuJoCo (mj_step)")
    _add_stage_inputs(p)
    p.add_argument("--onnx", type=Path, required=True, help="the exported policy (.onnx)")
    p.add_argument("--spec", type=Path, required=True, help="its runtime spec (policy.json): PD law and timing")
    p.add_argument("--policy", required=True, help="the policy's name in the tables (its training algo)")
    p.add_argument("--seed", type=int, required=True, help="training seed; episodes use evaluate.seed + it")
    p.add_argument("--motion", required=True, help="motion name (recorded in the metrics)")
    p.add_argument("--out", type=Path, required=True, help="output metrics: mean and 95%% CI per metric (.json)")
    p.add_argument("--episodes", type=Path, required=True, help="output metrics per episode (.csv)")
    p.set_defaults(run=cmd_sim2sim)

    p = stages.add_parser("play", help="play a trained policy with a command schedule; mp4 and tracking per segment",
                          description="Play a trained policy (BC, PPO, AMP) in plain MuJoCo: a locomotion policy "
                          "follows --commands, an imitation policy its motion from --clip/--frame. Prints, per "
                          "segment, the commanded and the achieved (forward, lateral, yaw-rate) velocity.")
    p.add_argument("params", type=Path, help="policy.params under results/train/... or results/bc/...")
    p.add_argument("--commands", help="schedule 'TIME:FORWARD,LATERAL,YAW_RATE ...' (s: m/s, m/s, rad/s), "
                   "e.g. '0:0.3,0,0 4:0.8,0,0 8:0.5,0,0.5' (locomotion policies)")
    p.add_argument("--clip", help="imitation: the motion's clip to start on (default: its first)")
    p.add_argument("--frame", type=int, default=0, help="imitation: the clip's frame to start from (control steps)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to play (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start (joint noise, gain draws)")
    p.add_argument("--settle", type=float,
                   help="seconds at the start of each segment left out of its average (default 0.5)")
    p.add_argument("--camera", type=_camera_arg, help="tracking camera DISTANCE,AZIMUTH,ELEVATION (default: render.camera)")
    p.add_argument("--out", type=Path, default=Path("play.mp4"), help="output video (.mp4; default play.mp4)")
    p.add_argument("--no-video", dest="out", action="store_const", const=None, help="print the report only")
    p.add_argument("--config", type=Path, default=Path("config/config.yaml"),
                   help="workflow config: env, policy and render settings, the motion's clips, the robots folder")
    p.add_argument("--robot", help="robot name (default: from the policy's results folder)")
    p.add_argument("--motion", help="motion name (default: from the policy's results folder)")
    p.add_argument("--task", choices=("imitation", "locomotion"), help="the policy's task (default: its run's)")
    p.add_argument("--clips", type=Path, nargs="+",
                   help="retargeted clips of the motion (default: results/retarget/<robot>/<clip>.npz of the config)")
    p.set_defaults(run=cmd_play)

    p = stages.add_parser("render-policy", help="mp4 of a policy with a ghost of its reference (headless)")
    p.add_argument("--robot", type=Path, required=True, help="robot file config/robots/<name>.yaml")
    p.add_argument("--trajectory", type=Path, required=True, help="episode trajectory from the evaluate stage")
    p.add_argument("--settings", type=_json_arg, required=True, help="config sections as JSON: {render}")
    p.add_argument("--out", type=Path, required=True, help="output video (.mp4)")
    p.set_defaults(run=cmd_render_policy)

    p = stages.add_parser("render-retarget", help="mp4 of a retargeted clip with its source keypoints")
    p.add_argument("--robot", type=Path, required=True, help="robot file config/robots/<name>.yaml")
    p.add_argument("--clip", type=Path, required=True, help="retargeted clip (.npz)")
    p.add_argument("--settings", type=_json_arg, required=True, help="config sections as JSON: {render}")
    p.add_argument("--out", type=Path, required=True, help="output video (.mp4)")
    p.set_defaults(run=cmd_render_retarget)

    p = stages.add_parser("plot", help="report figures: learning curves, evaluation bars, retargeting errors")
    p.add_argument("kind", choices=["learning", "evaluation", "retarget"])
    p.add_argument("--inputs", type=Path, nargs="+", required=True,
                   help="learning: train metrics.csv files; evaluation: eval metrics.json; retarget: clip .json files")
    p.add_argument("--out", type=Path, required=True, help="output figure (.png)")
    p.add_argument("--title", default="", help="figure title (learning)")
    p.add_argument("--robot-name", help="robot to plot (evaluation)")
    p.add_argument("--motion", help="motion to plot (evaluation)")
    p.set_defaults(run=cmd_plot)

    p = stages.add_parser("report-page", help="HTML pages for the report: a video gallery or the metrics table")
    p.add_argument("kind", choices=["videos", "metrics"])
    p.add_argument("--inputs", type=Path, nargs="+", required=True,
                   help="videos: the .mp4 files; metrics: the aggregated eval metrics.json")
    p.add_argument("--labels", nargs="+", help="videos: a label per video (default: file names)")
    p.add_argument("--title", default="", help="page title (videos)")
    p.add_argument("--note", default="", help="a line under the title (videos)")
    p.add_argument("--out", type=Path, required=True, help="output page (.html)")
    p.set_defaults(run=cmd_report_page)

    p = stages.add_parser("check-config", help="validate a workflow config and the robots it names")
    p.add_argument("config", type=Path)
    p.set_defaults(run=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The job's log is this package's progress and results; libraries (orbax, brax, PyOpenGL) log
    # their INFO chatter to the root logger and only their warnings belong in it.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("locomimic").setLevel(logging.INFO)
    try:
        args.run(args)
    except LocomimicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system (a file vanished, no permission, a full disk): not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
