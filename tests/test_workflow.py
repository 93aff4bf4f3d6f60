"""The real Snakemake workflow on a tiny config: outputs, make-style reruns, reproducibility, lint."""

from __future__ import annotations

import json

import yaml

from conftest import DOG_MOCAP, REPO, run_snakemake

DOG_TROT = DOG_MOCAP / "dog_trot_joint_pos.txt"


def tiny_config(tmp_path, robots=("default",)):
    """tests/config/tiny.yaml, plus a real dog clip from ../shared when it is there."""
    config = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    config["robots"] = list(robots)
    if DOG_TROT.is_file():
        config["clips"]["dog_trot"] = {"source": "ai4animation", "path": str(DOG_TROT), "frames": [0, 30]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def planned_jobs(workdir, configfile) -> dict[str, int]:
    """Job counts per rule from a dry run's summary table."""
    done = run_snakemake(workdir, "-n", configfile=configfile)
    assert done.returncode == 0, done.stderr
    counts, table = {}, False
    for line in done.stdout.splitlines():
        if line.startswith("job ") and "count" in line:
            table = True
        elif table and line.strip() and not line.startswith("-"):
            name, count = line.split()
            if name == "total":
                break
            counts[name] = int(count)
    return counts


def test_workflow_end_to_end_with_make_style_reruns(tmp_path):
    configfile, config = tiny_config(tmp_path)
    done = run_snakemake(tmp_path, configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
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
    run = results / "train" / "default" / "trot" / "ppo" / "seed0"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 1280 and summary["initialised_from"].endswith("bc/default/trot/policy.params")
    assert (run / "policy.params").stat().st_size > 0 and (run / "checkpoints").is_dir()
    assert (run / "metrics.csv").read_text().startswith("step,wall_time,steps_per_second")

    assert planned_jobs(tmp_path, configfile) == {}  # nothing to do on a finished workflow

    # Changing the imitated clip plans it again with everything downstream of it ...
    changed = {**config, "clips": {**config["clips"], "trot": {**config["clips"]["trot"]}}}
    changed["clips"]["trot"]["gait"] = {**config["clips"]["trot"]["gait"], "speed": 0.5}
    configfile.write_text(yaml.safe_dump(changed))
    assert planned_jobs(tmp_path, configfile) == {"gait_clip": 1, "retarget": 1, "demos": 1, "bc": 1, "train": 1,
                                                  "all": 1}
    # ... while changing a stage's own settings plans that stage and those after it only.
    configfile.write_text(yaml.safe_dump({**config, "bc": {**config["bc"], "learning_rate": 0.01}}))
    assert planned_jobs(tmp_path, configfile) == {"bc": 1, "train": 1, "all": 1}

    if "dog_trot" in config["clips"]:  # a clip outside every motion: only its own retargeting reruns
        config["clips"]["dog_trot"]["frames"] = [2, 30]
        configfile.write_text(yaml.safe_dump(config))
        assert planned_jobs(tmp_path, configfile) == {"retarget": 1, "all": 1}
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


def test_workflow_retargets_every_clip_onto_both_robots(tmp_path, menagerie):
    configfile, config = tiny_config(tmp_path, robots=("default", "unitree_go2"))
    done = run_snakemake(tmp_path, "--until", "retarget", configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    for robot in config["robots"]:
        for clip in config["clips"]:
            metrics = json.loads((tmp_path / "results" / "retarget" / robot / f"{clip}.json").read_text())
            assert metrics["robot"] == robot and metrics["foot_error_mean"] < 0.02
    assert not (tmp_path / "results" / "demos").exists()


def test_workflow_lint_is_clean(tmp_path):
    done = run_snakemake(tmp_path, "--lint", configfile=REPO / "config" / "config.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_cli_lists_the_stages():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "locomimic", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for stage in ("gait", "retarget", "demos", "bc", "train", "check-config"):
        assert stage in done.stdout
