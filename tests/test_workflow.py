"""The real Snakemake workflow on a tiny config: outputs, make-style reruns, lint."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from conftest import DOG_MOCAP, MENAGERIE, REPO, run_snakemake


@pytest.fixture
def tiny_config(tmp_path):
    """tests/config/tiny.yaml, plus a real dog clip and Unitree Go2 when ../shared is there."""
    config = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())
    if (DOG_MOCAP / "dog_trot_joint_pos.txt").is_file():
        config["clips"]["dog_trot"] = {"source": "ai4animation", "path": str(DOG_MOCAP / "dog_trot_joint_pos.txt"),
                                       "frames": [0, 30]}
    if (MENAGERIE / "unitree_go2").is_dir():
        config["robots"].append("unitree_go2")
        os.environ["MENAGERIE_ROOT"] = str(MENAGERIE)
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


def test_workflow_retargets_every_robot_and_clip_and_reruns_only_what_changed(tmp_path, tiny_config):
    configfile, config = tiny_config
    done = run_snakemake(tmp_path, configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = {}
    for robot in config["robots"]:
        for clip in config["clips"]:
            motion = tmp_path / "results" / "retarget" / robot / f"{clip}.npz"
            metrics = json.loads(motion.with_suffix(".json").read_text())
            assert metrics["joint_limit_violations"] == 0 and metrics["foot_error_mean"] < 0.02
            assert (tmp_path / "results" / "logs" / "retarget" / robot / f"{clip}.log").read_text()
            assert (tmp_path / "results" / "benchmarks" / "retarget" / robot / f"{clip}.tsv").is_file()
            outputs[robot, clip] = motion.stat().st_mtime_ns
    assert not (tmp_path / "results" / "retarget" / "default" / "pace.npz").exists()  # only tiny.yaml's clips

    assert planned_jobs(tmp_path, configfile) == {}  # nothing to do on a finished workflow

    config["clips"]["trot"]["gait"]["speed"] = 0.5  # change one clip's settings
    configfile.write_text(yaml.safe_dump(config))
    expected = {"gait_clip": 1, "retarget": len(config["robots"]), "all": 1}
    assert planned_jobs(tmp_path, configfile) == expected
    done = run_snakemake(tmp_path, configfile=configfile)
    assert done.returncode == 0, done.stderr[-3000:]
    for (robot, clip), mtime in outputs.items():
        changed = (tmp_path / "results" / "retarget" / robot / f"{clip}.npz").stat().st_mtime_ns != mtime
        assert changed == (clip == "trot"), (robot, clip)


def test_workflow_lint_is_clean(tmp_path):
    done = run_snakemake(tmp_path, "--lint", configfile=REPO / "config" / "config.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Congratulations" in done.stdout + done.stderr


def test_cli_lists_the_stages():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "locomimic", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for stage in ("gait", "retarget", "check-config"):
        assert stage in done.stdout
