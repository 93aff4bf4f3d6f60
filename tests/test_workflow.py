"""The real Snakemake workflow on a tiny config: outputs, evaluation, videos, the report, make-style
reruns, reproducibility, lint.

The session's tiny workflow run (``tiny_run`` in conftest.py, shared with the DVC and SLURM tests) is
copied once for this module (``finished``); the tests that read its outputs are defined, and so run, before
the test that changes the copy's config and reruns parts of it. Every test that runs the workflow is
marked ``slow``.
"""

from __future__ import annotations

import base64
import copy
import csv
import json
import math
import re

import pytest
import yaml

from conftest import DOG_TROT, REPO, planned_jobs, run_locomimic, run_snakemake
from conftest import tiny_config as tiny_config_dict
from locomimic.config import validate_config
from locomimic.tasks import motion_algos, motion_policies
from test_render import assert_video


def tiny_config(tmp_path, robots=("default",)):
    """The tiny config (conftest.tiny_config: tests/config/tiny.yaml, plus a real dog clip from ../shared
    when it is there) for ``robots``, written to ``tmp_path``."""
    config = tiny_config_dict(robots)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


@pytest.fixture(scope="module")
def finished(tiny_run, tmp_path_factory):
    """(workdir, configfile, config) of a finished tiny run with its report written: this module's copy of
    the session's run, which its tests may change."""
    run = tiny_run.copy(tmp_path_factory.mktemp("tiny") / "run")
    return run.workdir, run.configfile, run.config


def filled(config):
    """``config`` with the schema's defaults filled in (what the workflow sees)."""
    return validate_config(copy.deepcopy(config), "tiny config")


def policies(config, motion):
    """The policies evaluated on ``motion`` (baselines, then training algorithms)."""
    return motion_policies(filled(config), motion)


def algos(config, motion):
    return motion_algos(filled(config), motion)


@pytest.mark.slow
def test_every_policy_and_baseline_has_finite_metrics(finished):
    workdir, _, config = finished
    results = workdir / "results" / "eval"
    runs = [(motion, policy) for motion in sorted(config["motions"]) for policy in policies(config, motion)]
    assert set(runs) >= {("trot", "bc"), ("trot", "reference"), ("trot", "ppo"), ("trot_speeds", "amp")}
    for motion, policy in runs:
        for seed in config["train"].get("seeds", [0]):
            run = json.loads((results / "default" / motion / policy / f"seed{seed}" / "metrics.json").read_text())
            names = {"survival_rate", "survival_time", "return", "root_velocity_error", "target_speed",
                     "cost_of_transport", "action_smoothness", "foot_slip"}
            if run["task"] == "imitation":
                names |= {"joint_rmse", "foot_error", "root_position_error"}
            assert names <= set(run["metrics"]), policy
            for name in names:
                assert math.isfinite(run["metrics"][name]["mean"]), (policy, name)
            assert run["episodes"] == config["evaluate"]["episodes"]
    document = json.loads((results / "metrics.json").read_text())
    for motion in config["motions"]:  # each trained policy exported and evaluated in plain MuJoCo too (sim2sim)
        assert sorted(document["results"]["default"][motion]) == sorted(
            policies(config, motion) + [f"{algo} (mujoco)" for algo in algos(config, motion)])
    with open(results / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["motion"], row["policy"]) for row in rows if row["simulator"] == "mjx"] == runs
    assert [(row["motion"], row["policy"]) for row in rows if row["simulator"] == "mujoco"] == [
        (motion, algo) for motion in sorted(config["motions"]) for algo in algos(config, motion)]
    assert all(float(row["survival_time"]) > 0 for row in rows)
    # The reference tracker follows its own reference closely in joint space.
    reference = document["results"]["default"]["trot"]["reference"]["metrics"]
    assert reference["joint_rmse"]["mean"] < 0.2


@pytest.mark.slow
def test_policy_videos_decode_with_the_configured_frames(finished):
    workdir, _, config = finished
    render = config["render"]
    count = round(render["fps"] * min(render["seconds"], config["env"]["episode_length"] * 0.02))
    for motion in config["motions"]:
        for policy in policies(config, motion):
            assert_video(workdir / "results" / "render" / "policy" / "default" / motion / policy / "seed0.mp4", count,
                         (render["width"], render["height"]), render["fps"])
    for clip in config["clips"]:
        assert (workdir / "results" / "render" / "retarget" / "default" / f"{clip}.mp4").stat().st_size > 0


def embedded_all(report: str, name: str) -> list[bytes]:
    """The bytes of every result named ``name`` the report embeds as a data URI (one per robot, motion, ...)."""
    found = re.findall(rf"filename={re.escape(name)};base64,([A-Za-z0-9+/=]+)", report)
    assert found, f"{name} is not in the report"
    return [base64.b64decode(data) for data in found]


def embedded(report: str, name: str) -> bytes:
    """The bytes of the first result named ``name`` the report embeds."""
    return embedded_all(report, name)[0]


@pytest.mark.slow
def test_report_contains_the_plots_tables_and_videos(finished):
    workdir, _, config = finished
    report = (workdir / "results" / "report.html").read_text()
    for name in ("learning_curves.png", "evaluation.png", "retarget.png"):
        assert embedded(report, name).startswith(b"\x89PNG"), name
    assert b"default,trot,reference" in embedded(report, "summary.csv")
    table = embedded(report, "evaluation.html").decode()
    assert "joint_rmse" in table and "cost_of_transport" in table
    pages = [page.decode() for page in embedded_all(report, "videos.html")]  # one per motion
    captions = sorted(sorted(re.findall(r"<figcaption>(\w+)</figcaption>", page)) for page in pages)
    assert captions == sorted(sorted(policies(config, motion)) for motion in config["motions"]), captions
    assert all(page.count("data:video/mp4;base64,") == page.count("<figcaption>") for page in pages)
    first = re.search(r"data:video/mp4;base64,([A-Za-z0-9+/=]+)", pages[0]).group(1)
    assert base64.b64decode(first)[4:8] == b"ftyp"  # an mp4 container
    retarget = embedded(report, "retarget_videos.html").decode()
    assert retarget.count("data:video/mp4;base64,") == len(config["clips"])
    for caption in ("survival_rate", "cost of transport", "Student t"):  # captions explain the metrics
        assert caption.lower() in report.lower() or caption in report


@pytest.mark.slow
def test_every_trained_policy_is_exported_and_evaluated_in_plain_mujoco(finished):
    """The ONNX export matches its JAX policy, and its plain-MuJoCo evaluation has the MJX evaluation's
    metrics on as many episodes, from the same seeds."""
    workdir, _, config = finished
    results = workdir / "results"
    for motion, algo in [(motion, algo) for motion in config["motions"] for algo in algos(config, motion)]:
        run = f"default/{motion}/{algo}/seed0"
        spec = json.loads((results / "export" / run / "policy.json").read_text())
        assert spec["policy"]["onnx_check"]["max_abs_difference"] < 1e-5
        assert (results / "export" / run / "policy.onnx").stat().st_size > 0
        mjx = json.loads((results / "eval" / run / "metrics.json").read_text())
        mujoco = json.loads((results / "sim2sim" / run / "metrics.json").read_text())
        assert mujoco["simulator"] == "mujoco" and set(mujoco["metrics"]) == set(mjx["metrics"]), algo
        assert (mujoco["episodes"], mujoco["eval_seed"], mujoco["task"]) == (mjx["episodes"], mjx["eval_seed"],
                                                                            mjx["task"])
        assert "env steps/s" in (results / "logs" / "sim2sim" / f"{run}.log").read_text()


@pytest.mark.slow
def test_play_drives_the_trained_amp_policy_with_a_schedule(finished):
    """The tiny run's AMP policy played on two segments: the report's format, and tracking when the policy's
    own MJX evaluation says it tracks its command (the tiny run's 1,280 AMP steps do not make it walk)."""
    from test_play import segments

    workdir, configfile, config = finished
    params = workdir / "results" / "train" / "default" / "trot_speeds" / "amp" / "seed0" / "policy.params"
    done = run_locomimic("play", str(params), "--config", str(configfile), "--commands", "0:0.6,0,0 1:0.6,0,0",
                         "--duration", "2", "--no-video", cwd=workdir)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("segment ")]
    assert [line[:20] for line in lines] == ["segment 1  0.00-1.00", "segment 2  1.00-2.00"], done.stdout
    rows = segments(done.stdout)  # the segments the episode reached (segment 1 always: 0.5 s settle)
    assert rows and [row[:4] for row in rows] == [(1, 0.0, 1.0, 0.6), (2, 1.0, 2.0, 0.6)][:len(rows)], done.stdout
    evaluated = json.loads((workdir / "results" / "eval" / "default" / "trot_speeds" / "amp" / "seed0" /
                            "metrics.json").read_text())
    speed, command = evaluated["metrics"]["speed"]["mean"], evaluated["command"][0]
    if speed < 0.8 * command:
        pytest.skip(f"tracking not asserted: the tiny run's AMP policy does not follow its command in its own MJX "
                    f"evaluation either ({speed:.2f} of {command:.2f} m/s); the report's format was checked")
    assert len(rows) == 2 and all(abs(achieved - 0.6) < 0.2 for *_, achieved in rows), done.stdout


@pytest.mark.slow
def test_changing_video_settings_rerenders_without_simulating(finished):
    workdir, configfile, config = finished
    configfile.write_text(yaml.safe_dump({**config, "render": {**config["render"], "fps": 5}}))
    jobs = planned_jobs(workdir, configfile)
    assert jobs == {"render_policy": sum(len(policies(config, motion)) for motion in config["motions"]),
                    "render_retarget": len(config["clips"]), "policy_videos": len(config["motions"]),
                    "retarget_videos": 1, "all": 1}
    configfile.write_text(yaml.safe_dump(config))


@pytest.mark.slow
def test_workflow_end_to_end_with_make_style_reruns(finished):
    tmp_path, configfile, config = finished
    results = tmp_path / "results"
    mtimes = {}
    for clip in config["clips"]:
        motion = results / "retarget" / "default" / f"{clip}.npz"
        metrics = json.loads(motion.with_suffix(".json").read_text())
        assert metrics["joint_limit_violations"] == 0 and metrics["foot_error_mean"] < 0.02
        assert (results / "logs" / "retarget" / "default" / f"{clip}.log").read_text()
        assert (results / "benchmarks" / "retarget" / "default" / f"{clip}.tsv").is_file()
        mtimes[clip] = motion.stat().st_mtime_ns
    assert not (results / "retarget" / "default" / "pace.npz").exists()  # only tiny.yaml's clips

    summary = json.loads((results / "demos" / "default" / "trot.json").read_text())
    assert summary["steps"] == 16 * 60 and summary["episodes"] >= 16
    assert "env steps/s" in (results / "logs" / "demos" / "default" / "trot.log").read_text()
    bc = results / "bc" / "default" / "trot"
    metrics = json.loads((bc / "metrics.json").read_text())
    assert 0 < metrics["epochs"] <= 4 and "validation_r2" in metrics
    assert metrics["closed_loop"]["policy"]["survival_time_mean"] > 0
    assert (bc / "loss.csv").read_text().startswith("epoch,train_loss,validation_loss")
    assert (bc / "policy.params").stat().st_size > 0
    locomotion = json.loads((results / "bc" / "default" / "trot_speeds" / "locomotion" / "metrics.json").read_text())
    assert locomotion["task"] == "locomotion" and "validation_r2" in locomotion
    assert locomotion["closed_loop"]["command_forward_velocity_mean"] > 0.5  # the trot's own speed
    run = results / "train" / "default" / "trot" / "ppo" / "seed0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 1280 and summary["initialised_from"].endswith("bc/default/trot/policy.params")
    summary = json.loads((results / "train" / "default" / "trot_speeds" / "amp" / "seed0" / "summary.json").read_text())
    assert summary["initialised_from"].endswith("bc/default/trot_speeds/locomotion/policy.params")
    assert not (results / "bc" / "default" / "trot_speeds" / "policy.params").exists()  # no baseline or PPO needs it
    assert (run / "policy.params").stat().st_size > 0 and (run / "checkpoints").is_dir()
    assert (run / "metrics.csv").read_text().startswith("step,wall_time,steps_per_second")
    assert "episode_reward" in json.loads((run / "dvclive" / "metrics.json").read_text())  # the default tracker

    assert planned_jobs(tmp_path, configfile) == {}  # nothing to do on a finished workflow

    # Changing the imitated clip plans it again with everything downstream of it, in both motions (trot:
    # ppo, ppo_scratch and the baselines bc and reference; trot_speeds: amp) ...
    assert {motion: policies(config, motion) for motion in config["motions"]} == {
        "trot": ["bc", "reference", "ppo", "ppo_scratch"], "trot_speeds": ["amp"]}
    changed = {**config, "clips": {**config["clips"], "trot": {**config["clips"]["trot"]}}}
    changed["clips"]["trot"]["gait"] = {**config["clips"]["trot"]["gait"], "speed": 0.5}
    configfile.write_text(yaml.safe_dump(changed))
    report = {"eval_summary": 1, "plot_evaluation": 2, "evaluation_table": 1, "policy_videos": 2,
              "plot_learning_curves": 2, "all": 1}
    assert planned_jobs(tmp_path, configfile) == {"gait_clip": 1, "retarget": 1, "demos": 2, "bc": 1, "bc_locomotion": 1,
                                                  "train": 3, "export": 3, "sim2sim": 3, "evaluate": 5,
                                                  "render_policy": 5, "render_retarget": 1, "plot_retarget": 1,
                                                  "retarget_videos": 1, **report}
    # ... while changing a stage's own settings plans that stage and those after it only: both BCs, the
    # runs that start from them (ppo and amp), and their evaluations and videos.
    configfile.write_text(yaml.safe_dump({**config, "bc": {**config["bc"], "learning_rate": 0.01}}))
    assert planned_jobs(tmp_path, configfile) == {"bc": 1, "bc_locomotion": 1, "evaluate": 3, "render_policy": 3,
                                                  "train": 2, "export": 2, "sim2sim": 2, **report}

    if "dog_trot" in config["clips"]:  # a clip outside every motion: only its own retargeting reruns
        config["clips"]["dog_trot"]["frames"] = [2, 30]
        configfile.write_text(yaml.safe_dump(config))
        assert planned_jobs(tmp_path, configfile) == {"retarget": 1, "render_retarget": 1, "plot_retarget": 1,
                                                      "retarget_videos": 1, "all": 1}
        done = run_snakemake(tmp_path, configfile=configfile)
        assert done.returncode == 0, done.stderr[-3000:]
        for clip, mtime in mtimes.items():
            changed = (results / "retarget" / "default" / f"{clip}.npz").stat().st_mtime_ns != mtime
            assert changed == (clip == "dog_trot"), clip

    # The same config and seed give byte-identical demonstrations.
    demos = results / "demos" / "default" / "trot.npz"
    first = demos.read_bytes()
    done = run_snakemake(tmp_path, "--forcerun", "demos", "--until", "demos", configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    assert demos.read_bytes() == first


@pytest.mark.slow
def test_a_real_clip_on_real_quadrupeds_through_the_workflow(tmp_path, menagerie):
    """Every clip retargets onto the three quadrupeds (Barkour's legs are ordered FL, HL, FR, HR in its
    model), and a real dog clip goes through the bootstrapped pipeline on the Go2: PPO from scratch, its
    demonstrations (``demos.expert: ppo_scratch``), BC, PPO from BC and evaluation."""
    if not DOG_TROT.is_file():
        pytest.skip(f"real dog mocap not found: {DOG_TROT}")
    robots = ("default", "unitree_go2", "google_barkour_vb")
    configfile, config = tiny_config(tmp_path, robots=robots)
    config["clips"]["dog_trot"]["cyclic"] = True
    config["motions"] = {"dog": {"clips": ["dog_trot"]}}
    config["train"]["algos"] = ["ppo"]  # ppo_scratch runs all the same: it is the expert
    config["demos"]["expert"] = "ppo_scratch"
    config["demos"]["max_failure_rate"] = 1.0  # a tiny run's expert cannot follow the clip (the gate: test_bad_input)
    configfile.write_text(yaml.safe_dump(config))
    retargeted = [f"results/retarget/{robot}/{clip}.npz" for robot in robots for clip in config["clips"]]
    evaluated = "results/eval/unitree_go2/dog/ppo/seed0/metrics.json"
    done = run_snakemake(tmp_path, *retargeted, evaluated, configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    for robot in robots:
        for clip in config["clips"]:
            metrics = json.loads((tmp_path / "results" / "retarget" / robot / f"{clip}.json").read_text())
            assert metrics["robot"] == robot and metrics["foot_error_mean"] < 0.02, (robot, clip)
            assert metrics["joint_limit_violations"] == 0, (robot, clip)
    run = json.loads((tmp_path / evaluated).read_text())
    assert run["task"] == "imitation" and run["episodes"] == config["evaluate"]["episodes"]
    assert all(math.isfinite(stat["mean"]) for stat in run["metrics"].values() if stat["mean"] is not None)
    assert set(run["per_clip"]) == {"dog_trot"}  # evaluation per clip of the motion
    assert run["per_clip"]["dog_trot"]["joint_rmse"] == run["metrics"]["joint_rmse"]
    expert = "results/train/unitree_go2/dog/ppo_scratch/seed0/policy.params"
    assert json.loads((tmp_path / "results/demos/unitree_go2/dog.json").read_text())["expert_params"] == expert
    bc = json.loads((tmp_path / "results/bc/unitree_go2/dog/metrics.json").read_text())
    assert bc["closed_loop"]["expert"]["survival_time_mean"] > 0  # BC is checked against the same expert
    assert not (tmp_path / "results" / "demos" / "default").exists()  # only the jobs the targets need


def test_workflow_lint_is_clean(tmp_path):
    done = run_snakemake(tmp_path, "--lint", configfile=REPO / "config" / "config.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_cli_lists_the_stages():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "locomimic", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for stage in ("gait", "retarget", "demos", "bc", "train", "evaluate", "export", "sim2sim", "eval-summary",
                  "render-policy", "render-retarget", "plot", "report-page", "check-config", "play"):
        assert stage in done.stdout
