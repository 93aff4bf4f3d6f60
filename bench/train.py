"""Training: PPO and AMP throughput against raw MJX stepping, and the default run's learning outcomes.

Throughput (measured here, default config settings, default robot): a short PPO run on the
imitation task and a short AMP run on the locomotion task, each a few training iterations after
compilation. The rate is environment steps per second of training time only (brax's ``training/sps``
for PPO, AMP's own ``sps`` column, both without evaluation time), against raw batched MJX stepping of
*the same environment* at the same batch size (``bench/mjx_env.py``'s ``mjx_rate``: the training
wrappers and randomised models, zero actions): the ratio is what the learner (policy inference, GAE,
SGD, and for AMP the discriminator and replay) costs on top of physics. Raw stepping is timed in this
process in windows as long as a training iteration (median of ``RAW_REPEATS``), just before and just
after each training run, and the two are averaged: a shared 2-core machine's speed drifts by tens of
percent within minutes, so figures from another process or a short burst do not compare. The
locomotion env (AMP's) is cheaper per step than the imitation env (no reference to track), so each
algorithm is divided by its own env's rate.

Outcomes, read from the default workflow's own results (``make run``; skipped with the reason when
they are not there), because they need full-length training runs that do not fit this bench's budget:

- PPO from BC: survival of the final deterministic evaluation (``num_eval_envs`` episodes of
  ``env.episode_length`` steps = 10 s; survival = no fall and no loss of the reference);
- steps to threshold: the first evaluation at which survival >= ``SURVIVAL`` and mean joint tracking
  error <= ``JOINT_ERROR`` rad, for ``ppo`` (from BC) against ``ppo_scratch``;
- AMP: the style reward logged while training (first and last evaluation); the style reward of
  every checkpoint judged by the run's final discriminator (``locomimic.train.style_curve``: one fixed
  judge, so the checkpoints compare); the final evaluation's forward speed against the command; and
  its command following under ``play`` (plain MuJoCo, a three-segment schedule of forward commands):
  the largest relative speed error of a segment, goal ``PLAY_TOLERANCE``.

    python bench/train.py [--quick] [--results results] [--csv ...] [--summary ...]
"""

from __future__ import annotations

import csv
import statistics
import tempfile
from pathlib import Path

from common import REPO, imitation_env, parse_args, report, summary_row
from mjx_env import mjx_rate

from locomimic.envs import make_env
from locomimic.envs.reference import load_reference
from locomimic.jaxcache import enable_compilation_cache
from locomimic.tasks import motion_algos
from locomimic.train.amp import train_amp
from locomimic.train.ppo import train_ppo
from locomimic.train.style_curve import checkpoint_style_rewards

SURVIVAL = 0.9
JOINT_ERROR = 0.08  # rad: better than the PD reference tracker (the expert BC clones, ~0.085 on the trot)
ITERATIONS = 5  # training iterations per algorithm (each batch_size * num_minibatches * unroll steps)
RAW_REPEATS = 3  # timed windows of raw stepping, each as many env steps as one training iteration
# AMP under play: three forward commands across its prior's speeds, each within PLAY_TOLERANCE.
PLAY_SCHEDULE, PLAY_SECONDS, PLAY_TOLERANCE = "0:0.3,0,0 4:0.8,0,0 8:0.5,0,0", 12.0, 0.15


def iteration_steps(ppo: dict) -> int:
    """Env steps of one training iteration (brax PPO's, and AMP's: batch_size * num_minibatches * unroll)."""
    return ppo["batch_size"] * ppo["num_minibatches"] * ppo["unroll_length"]


def _settings(config: dict, quick: bool) -> tuple[dict, dict]:
    train = config["train"]
    ppo = dict(train["ppo"])
    if quick:
        ppo.update(num_envs=32, batch_size=32, num_minibatches=2, unroll_length=5, num_updates_per_batch=1,
                   num_eval_envs=4)
    per_iteration = iteration_steps(ppo)
    iterations = 2 if quick else ITERATIONS
    # An evaluation after every iteration: each row's rate then covers one iteration, and the first
    # one (which includes compilation) can be left out.
    length = {"num_timesteps": per_iteration * iterations, "checkpoint_every": per_iteration}
    return ppo, length


def steady_rate(rows: list[dict]) -> float:
    """Median training rate over the iterations after the first (compiling) one."""
    rates = [float(row["sps"]) for row in rows if row.get("sps")]
    return float(statistics.median(rates[1:] or rates))


def ppo_throughput(env, config: dict, ppo: dict, length: dict) -> float:
    with tempfile.TemporaryDirectory(prefix="locomimic_bench_ppo_") as run_dir:
        result = train_ppo(env, config["env"], config["policy"], ppo | length, Path(run_dir), seed=0)
    return steady_rate(result["rows"])


def amp_settings(config: dict, quick: bool) -> dict:
    amp = dict(config["train"]["amp"])
    if quick:
        amp.update(batch_size=64, disc_updates=2, replay_size=1000)
    return amp


def amp_env(robot, clips: list[Path], config: dict, amp: dict):
    """AMP's locomotion env (motion histories, reference starts from ``clips``) and its reference."""
    reference = load_reference(clips, robot, config["env"]["ctrl_dt"], min_frames=amp["history"] + 1)
    env = make_env("locomotion", robot, config["env"], feature_history=amp["history"], reference=reference)
    return env, reference


def amp_throughput(env, reference, config: dict, amp: dict, ppo: dict, length: dict) -> float:
    with tempfile.TemporaryDirectory(prefix="locomimic_bench_amp_") as run_dir:
        result = train_amp(env, reference, config["env"], config["policy"], {**length, "ppo": ppo, "amp": amp},
                           Path(run_dir), seed=0)
    return steady_rate(result["rows"])


def _rows(path: Path) -> list[dict] | None:
    if not path.exists():
        return None
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _survival(row: dict) -> float:
    return 1.0 - row.get("episode_failure", 1.0)


def _joint_error(row: dict) -> float:
    return row.get("episode_joint_error", float("inf")) / max(row.get("episode_length", 1.0), 1.0)


def steps_to_threshold(rows: list[dict]) -> float | None:
    for row in rows:
        if _survival(row) >= SURVIVAL and _joint_error(row) <= JOINT_ERROR:
            return row["step"]
    return None


def judged_style_rows(run_dir: Path, robot, config: dict, clips: list[Path]) -> list[dict]:
    """Style reward of every AMP checkpoint under the run's final discriminator (see locomimic.train.style_curve);
    ``clips`` are the motion's retargeted clips (they set the commands, as in training)."""
    amp = config["train"]["amp"]
    env, _ = amp_env(robot, clips, config, amp)
    curve = checkpoint_style_rewards(run_dir, env, config["env"], config["policy"], amp,
                                     config["train"]["ppo"]["num_eval_envs"], seed=1)
    first, last = curve[0], curve[-1]
    points = ", ".join(f"{row['step'] / 1e6:.2f}M: {row['style_reward']:.2f}" for row in curve)
    return [summary_row("train", "train.amp_judged_style_reward", "AMP: style reward of the final policy, judged "
                        "by the final discriminator", last["style_reward"], "reward", "the BC start (step 0)",
                        ratio=last["style_reward"] / first["style_reward"] if first["style_reward"] else None,
                        notes=f"every checkpoint, same judge, from standing: {points}; speed "
                        f"{first['forward_velocity']:.2f} -> {last['forward_velocity']:.2f} m/s, survival "
                        f"{first['survival']:.2f} -> {last['survival']:.2f}")]


def trained_motion(config: dict, algo: str) -> str | None:
    """The first motion of the default run that ``algo`` trains on (the default run has one per algo)."""
    return next((motion for motion in sorted(config["motions"]) if algo in motion_algos(config, motion)), None)


def outcome_rows(results: Path, robot, config: dict) -> list[dict]:
    """Learning outcomes from the default workflow's training metrics (results/train/default/<motion>/...)."""
    runs = {algo: results / "train" / "default" / str(trained_motion(config, algo)) / algo / "seed0"
            for algo in ("ppo", "ppo_scratch", "amp")}
    ppo, scratch, amp = (_rows(run / "metrics.csv") for run in runs.values())
    missing = f"not found under {results / 'train'}: run `make run` first"
    out = []
    if ppo:
        final = ppo[-1]
        out.append(summary_row("train", "train.ppo_survival", "PPO from BC: survival of 10 s eval episodes",
                               _survival(final), "fraction", notes=f"final evaluation at step {final['step']:,.0f}, "
                               f"mean joint error {_joint_error(final):.3f} rad"))
    else:
        out.append(summary_row("train", "train.ppo_survival", "PPO from BC: survival of 10 s eval episodes", None,
                               "fraction", notes=f"ppo metrics {missing}"))
    threshold = f"survival >= {SURVIVAL:.0%} and joint error <= {JOINT_ERROR} rad"
    if ppo and scratch:
        from_bc, from_scratch = steps_to_threshold(ppo), steps_to_threshold(scratch)
        budget = scratch[-1]["step"]
        out.append(summary_row("train", "train.ppo_steps_to_threshold", f"PPO from BC: env steps to {threshold}",
                               from_bc, "env steps", notes="never reached" if from_bc is None else
                               "0 = the BC initialisation itself meets it" if from_bc == 0 else ""))
        out.append(summary_row("train", "train.scratch_steps_to_threshold",
                               f"PPO from scratch: env steps to {threshold}", from_scratch, "env steps",
                               "train.ppo_steps_to_threshold" if from_scratch and from_bc else "",
                               notes=f"not reached within {budget:,.0f} steps" if from_scratch is None else ""))
    if amp:
        first, last = amp[1] if len(amp) > 1 else amp[0], amp[-1]
        out.append(summary_row("train", "train.amp_online_style_reward", "AMP: style reward while training, last "
                               "evaluation", last.get("style_reward"), "reward", notes=f"first training evaluation: "
                               f"{first.get('style_reward', float('nan')):.3f}; each iteration's policy scored by "
                               f"that iteration's discriminator; disc accuracy reference "
                               f"{last.get('disc_reference_accuracy', float('nan')):.2f} / policy "
                               f"{last.get('disc_policy_accuracy', float('nan')):.2f}"))
        motion = config["motions"][trained_motion(config, "amp")]
        clips = [results / "retarget" / "default" / f"{clip}.npz" for clip in motion["clips"]]
        out += judged_style_rows(runs["amp"], robot, config, clips)
        out.append(play_tracking_row(runs["amp"] / "policy.params", robot, config, clips))
        speed = last.get("episode_forward_velocity_per_step")
        command = last.get("episode_command_forward_velocity_per_step")
        out.append(summary_row("train", "train.amp_speed", "AMP: forward speed / commanded speed", speed, "m/s",
                               f"commanded {command:.2f} m/s" if command else "commanded speed",
                               ratio=speed / command if speed is not None and command else None,
                               notes="final deterministic evaluation, from standing"))
    else:
        out.append(summary_row("train", "train.amp_style_reward", "AMP: style reward", None, "reward",
                               notes=f"amp metrics {missing}"))
    return out


def play_tracking_row(params: Path, robot, config: dict, clips: list[Path]) -> dict:
    """AMP's command following as ``python -m locomimic play`` measures it (plain MuJoCo, the ONNX graph,
    from standing): the largest relative forward-speed error over the segments of ``PLAY_SCHEDULE``."""
    from locomimic.play import env_steps, parse_schedule, play, segment_report
    from locomimic.policy import load_policy_params

    schedule = parse_schedule(PLAY_SCHEDULE, PLAY_SECONDS)
    env, record = play(load_policy_params(params), str(params), robot, clips, "locomotion", config["env"],
                       config["policy"], PLAY_SECONDS, seed=0, schedule=schedule)
    segments = segment_report(record, [s.start for s in schedule], env.dt, env_steps(PLAY_SECONDS, env.dt))
    if any(row["achieved"] is None for row in segments):
        return summary_row("train", "train.amp_play_tracking", "AMP under play: worst segment's forward speed "
                           "error", None, "fraction", notes=f"the episode ended early (schedule {PLAY_SCHEDULE})")
    errors = [abs(row["achieved"][0] / row["commanded"][0] - 1) for row in segments]
    pairs = ", ".join(f"{row['achieved'][0]:.2f} for {row['commanded'][0]:.2f}" for row in segments)
    return summary_row("train", "train.amp_play_tracking", "AMP under play: worst segment's forward speed error",
                       max(errors), "fraction", notes=f"goal <= {PLAY_TOLERANCE}; plain MuJoCo, schedule "
                       f"'{PLAY_SCHEDULE}', m/s achieved: {pairs}")


def raw_rate(env, config: dict, ppo: dict, quick: bool) -> float:
    """Raw batched stepping of ``env`` in windows as long as one training iteration's env steps (median)."""
    if quick:
        return mjx_rate(env, config["env"], ppo["num_envs"], steps=5, repeats=1)[0]
    return mjx_rate(env, config["env"], ppo["num_envs"], steps=iteration_steps(ppo) // ppo["num_envs"],
                    repeats=RAW_REPEATS, statistic=statistics.median)[0]


def against_raw(train, raw) -> tuple[float, tuple[float, float]]:
    """(training rate, (raw rate before, raw rate after)): the machine's speed drifts, so raw brackets it."""
    before = raw()
    rate = train()
    return rate, (before, raw())


def main() -> None:
    args = parse_args(__doc__, lambda p: p.add_argument("--results", type=Path, default=REPO / "results",
                                                        help="the workflow's results folder"))
    enable_compilation_cache()
    env, robot, config = imitation_env("default")
    ppo, length = _settings(config, args.quick)
    amp = amp_settings(config, args.quick)
    num_envs = ppo["num_envs"]
    with tempfile.TemporaryDirectory(prefix="locomimic_bench_clip_") as folder:
        from locomimic.io import save_npz
        from locomimic.motion import gait
        from locomimic.retarget import retarget_clip

        clip = Path(folder) / "trot.npz"
        save_npz(clip, retarget_clip(gait.generate("trot", cycles=2), robot, config["retarget"]).arrays)
        locomotion, reference = amp_env(robot, [clip], config, amp)
        runs = {"ppo": against_raw(lambda: ppo_throughput(env, config, ppo, length),
                                   lambda: raw_rate(env, config, ppo, args.quick)),
                "amp": against_raw(lambda: amp_throughput(locomotion, reference, config, amp, ppo, length),
                                   lambda: raw_rate(locomotion, config, ppo, args.quick))}
    rates = {algo: rate for algo, (rate, _) in runs.items()}
    raw = {algo: statistics.mean(bracket) for algo, (_, bracket) in runs.items()}

    sizes = (f"{num_envs} envs, unroll {ppo['unroll_length']}, {ppo['num_minibatches']} minibatches of "
             f"{ppo['batch_size']}, {ppo['num_updates_per_batch']} updates per batch; median over iterations "
             "after the first (compiling) one")
    rows = [{"algorithm": name, "task": task, "env_steps_per_s": round(rates[algo]),
             "raw_env_steps_per_s": round(raw[algo]), "fraction_of_raw": round(rates[algo] / raw[algo], 3)}
            for algo, name, task in (("ppo", "PPO", "imitation"), ("amp", "AMP (+ discriminator)", "locomotion"))]

    def raw_notes(algo: str) -> str:
        before, after = runs[algo][1]
        return (f"{num_envs} envs, zero actions, training wrappers (bench/mjx_env.py mjx_rate): median of "
                f"{RAW_REPEATS} windows of one training iteration's env steps; mean of just before "
                f"({before:,.0f}) and just after ({after:,.0f}) the training run")

    summary = [
        summary_row("train", "train.imitation_env_steps_per_s", f"raw MJX stepping, imitation env, {num_envs} envs",
                    raw["ppo"], "env steps/s", notes=raw_notes("ppo")),
        summary_row("train", "train.locomotion_env_steps_per_s", f"raw MJX stepping, locomotion env (AMP's), "
                    f"{num_envs} envs", raw["amp"], "env steps/s", notes=raw_notes("amp")),
        summary_row("train", "train.ppo_steps_per_s", f"PPO training (imitation), {num_envs} envs", rates["ppo"],
                    "env steps/s", "train.imitation_env_steps_per_s",
                    "brax training/sps (no evaluation time); " + sizes),
        summary_row("train", "train.amp_steps_per_s", f"AMP training (locomotion), {num_envs} envs", rates["amp"],
                    "env steps/s", "train.locomotion_env_steps_per_s",
                    "training time only; discriminator and replay included; " + sizes),
        *outcome_rows(args.results, robot, config),
    ]
    report("PPO and AMP training (default config) against raw stepping of the same env", rows, args, summary)


if __name__ == "__main__":
    main()
