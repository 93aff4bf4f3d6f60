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
    from locomimic.demos.experts import make_expert
    from locomimic.io import save_json

    config = _stage_config(args, ("env", "demos", "policy", "seed"))
    env = _imitation_env(args, config)
    settings = config["demos"]
    expert = make_expert(env, args.expert, config["policy"])
    dataset, summary = generate_demos(env, expert, config["env"], settings, config["seed"])
    dataset.save(args.out)
    save_json(args.summary, {"expert": settings["expert"], "expert_params": str(args.expert) if args.expert else None,
                             "observation_size": int(env.observation_size),
                             "action_size": int(env.action_size), **summary})
    log.info("demos: %d episodes, %d steps, mean return %.2f, fall rate %.2f, failure rate %.2f, mean length %.1f",
             summary["episodes"], summary["steps"], summary["mean_return"], summary["fall_rate"],
             summary["failure_rate"], summary["mean_episode_length"])


def _locomotion_bc_env(args, config):
    """The locomotion task BC is checked on: every episode from a reference frame, the motion's own command."""
    import numpy as np

    from locomimic.envs import make_env
    from locomimic.envs.reference import load_reference
    from locomimic.envs.locomotion import with_fixed_command
    from locomimic.jaxcache import enable_compilation_cache
    from locomimic.robots import load_robot

    enable_compilation_cache()
    robot = load_robot(args.robot)
    reference = load_reference(args.clips, robot, config["env"]["ctrl_dt"])
    command = np.average(reference.commands, axis=0, weights=reference.lengths)
    settings = with_fixed_command(config["env"], [float(c) for c in command])
    settings["locomotion"]["reference_init"] = 1.0
    return make_env("locomotion", robot, settings, reference=reference), settings


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
        env, eval_settings = _locomotion_bc_env(args, config)
        data = locomotion_demos(data, env.proprioception_size)
        task = config["env"]["locomotion"]
        normalizer_fn = command_normalizer(task["command_low"], task["command_high"])
    else:
        env, eval_settings = _imitation_env(args, config), config["env"]
        normalizer_fn = fit_normalizer
    if data.observations.shape[1] != env.observation_size or data.actions.shape[1] != env.action_size:
        raise LocomimicError(args.demos, f"observations/actions have sizes {data.observations.shape[1]}/"
                             f"{data.actions.shape[1]} but the {args.task} environment has {env.observation_size}/"
                             f"{env.action_size}: generate the demonstrations again")
    result = train_bc(data, config["policy"], config["bc"], config["seed"], normalizer_fn)
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
        result = train_ppo(env, config["env"], config["policy"], train["ppo"] | length, args.out.parent, args.seed,
                           initial)
    save_policy_params(args.out, result["params"])
    save_csv(args.metrics, result["rows"])
    last = result["rows"][-1] if result["rows"] else {}
    save_json(args.summary, {"algo": args.algo, "task": algo_task(args.algo), "seed": args.seed,
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
    rows = [{"episode": i, **{name: values[i].item() for name, values in per_episode.items()}}
            for i in range(settings["episodes"])]
    save_trajectory(args.trajectory, episode_trajectory(record, setup.task, setup.env.robot, setup.env.dt, args.clips))
    save_csv(args.episodes, rows)
    save_json(args.out, {"robot": args.robot.stem, "motion": args.motion, "policy": args.policy, "seed": args.seed,
                         "task": setup.task, "command": setup.command, "episodes": settings["episodes"],
                         "eval_seed": eval_seed, "deterministic": settings["deterministic"],
                         "params": str(args.params) if args.params else None, "metrics": metrics,
                         "per_clip": per_clip_summary(per_episode)})
    for name, stat in metrics.items():
        log.info("%-20s %s", name, "n/a" if stat["mean"] is None else
                 f"{stat['mean']:.4g}" + (f" +- {stat['ci95']:.2g}" if stat["ci95"] is not None else ""))


def cmd_eval_summary(args) -> None:
    """Aggregate evaluation runs over seeds into summary.csv and metrics.json."""
    from locomimic.evaluate.aggregate import aggregate, load_run
    from locomimic.io import save_csv, save_json

    rows, document = aggregate([load_run(path) for path in args.runs])
    save_csv(args.csv, rows)
    save_json(args.json, document)
    log.info("aggregated %d runs into %d rows", len(args.runs), len(rows))


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
