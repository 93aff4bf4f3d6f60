"""Damaged checkpoints never leave a run stuck, and a resumed run's metrics.csv continues cleanly.

The damages are the ones seen in practice: a truncated OCDBT data file, garbage in ``_METADATA`` and
an empty step folder. One real PPO run (checkpoints at 0, 320 and 640 env steps) is trained once per
module; each case damages a copy of it and resumes there.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil

import jax.numpy as jp
import numpy as np
import pytest
from brax.training.acme import running_statistics, specs

from conftest import REPO
from locomimic.config import load_config
from locomimic.envs import make_env
from locomimic.io import save_csv
from locomimic.jaxcache import enable_compilation_cache
from locomimic.policy import all_finite
from locomimic.robots import load_robot
from locomimic.train import checkpoints
from locomimic.train.ppo import train_ppo
from locomimic.train.run import TrainingRun

CONFIG = load_config(REPO / "config" / "config.yaml")
TINY_PPO = {"num_envs": 8, "batch_size": 8, "num_minibatches": 2, "unroll_length": 5, "num_updates_per_batch": 1,
            "num_eval_envs": 4}
POLICY = {"policy_hidden_layers": [32, 32], "value_hidden_layers": [32, 32]}
TOTAL, EVERY = 640, 320  # checkpoints at 0, 320 and 640
enable_compilation_cache()


def step_dir(run_dir, step):
    return run_dir / "checkpoints" / f"{step:012d}"


def truncate_data_file(path):
    data = max((path / "ocdbt.process_0" / "d").iterdir(), key=lambda f: f.stat().st_size)
    os.truncate(data, data.stat().st_size // 2)


def garble_metadata(path):
    (path / "_METADATA").write_bytes(bytes(range(128, 256)))  # not UTF-8


def empty_folder(path):
    shutil.rmtree(path)
    path.mkdir()


DAMAGES = [pytest.param(truncate_data_file, "OUT_OF_RANGE", id="truncated-data"),
           pytest.param(garble_metadata, "UnicodeDecodeError", id="garbage-metadata"),
           pytest.param(empty_folder, "FileNotFoundError", id="empty-folder")]


@pytest.fixture(scope="module")
def ppo(trot_clip):
    """``train(run_dir, num_timesteps)``: the tiny PPO run of test_train, checkpointed every 320 steps."""
    robot = load_robot(REPO / "config" / "robots" / "default.yaml")
    env_settings = CONFIG["env"] | {"episode_length": 60}
    env = make_env("imitation", robot, env_settings, [trot_clip])
    settings = {**CONFIG["train"]["ppo"], **TINY_PPO, "checkpoint_every": EVERY}

    def train(run_dir, num_timesteps=TOTAL):
        return train_ppo(env, env_settings, POLICY, {**settings, "num_timesteps": num_timesteps}, run_dir, seed=0)

    return train


@pytest.fixture(scope="module")
def trained(ppo, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    ppo(run_dir)
    assert [step for step, _ in checkpoints.steps(run_dir / "checkpoints")] == [0, 320, 640]
    return run_dir


@pytest.fixture
def run_copy(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


def metrics(run_dir) -> list[dict]:
    with open(run_dir / "checkpoints" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def warnings_naming(caplog, path) -> list[str]:
    """Our warnings about ``path`` (Orbax's own, through absl, name it too)."""
    return [r.getMessage() for r in caplog.records
            if r.name == "locomimic" and r.levelno == logging.WARNING and str(path) in r.getMessage()]


@pytest.mark.slow
@pytest.mark.parametrize("damage, error", DAMAGES)
def test_damaged_newest_checkpoint_is_set_aside(ppo, run_copy, caplog, damage, error):
    """The run already reached 320 steps, so resuming is all the rerun has to do."""
    newest = step_dir(run_copy, 640)
    damage(newest)
    with caplog.at_level(logging.INFO, logger="locomimic"):
        result = ppo(run_copy, num_timesteps=320)
    warning, = warnings_naming(caplog, newest)
    assert error in warning and "moved aside" in warning
    assert not newest.exists() and newest.with_name(newest.name + ".corrupt").is_dir()
    assert f"resuming from checkpoint {step_dir(run_copy, 320)} (step 320)" in caplog.text
    assert result["resumed_from"] == 320 and result["steps"] == 320
    assert [int(row["step"]) for row in metrics(run_copy)] == [0, 320]
    # The kept rows come back as training wrote them (numbers), although nothing was left to train.
    assert result["rows"][-1]["step"] == 320 and isinstance(result["rows"][-1]["episode_reward"], float)
    # A second rerun finds nothing damaged any more.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="locomimic"):
        assert ppo(run_copy, num_timesteps=320)["resumed_from"] == 320
    assert not [r for r in caplog.records if r.name == "locomimic" and r.levelno >= logging.WARNING]


@pytest.mark.slow
def test_resume_after_damage_trains_on_with_cumulative_metrics(ppo, trained, run_copy, caplog):
    """A truncated newest checkpoint: training redoes 320 -> 640, with one metrics row per step and a
    wall time that goes on from the kept rows instead of restarting at 0."""
    before = metrics(trained)
    truncate_data_file(step_dir(run_copy, 640))
    with caplog.at_level(logging.INFO, logger="locomimic"):
        result = ppo(run_copy)
    assert warnings_naming(caplog, step_dir(run_copy, 640))
    assert result["resumed_from"] == 320 and result["steps"] == 640
    assert all_finite(checkpoints.load(step_dir(run_copy, 640)))  # written again, and good
    after = metrics(run_copy)
    assert [int(row["step"]) for row in after] == [0, 320, 640]
    assert [int(row["step"]) for row in result["rows"]] == [0, 320, 640]
    assert list(after[0]) == list(before[0])  # the same columns
    assert after[0] == before[0]
    walls = [float(row["wall_time"]) for row in after]
    assert walls[1] > float(before[1]["wall_time"]) and walls[2] > walls[1]


def tiny_params(value: float = 1.0, size: int = 3):
    """A brax-shaped ``(normalizer, policy, value)`` tuple, small enough to save in milliseconds."""
    normalizer = running_statistics.init_state(specs.Array((size,), jp.dtype("float32")))
    network = {"params": {"hidden_0": {"kernel": np.full((size, 2), value, np.float32), "bias": np.zeros(2, np.float32)}}}
    return normalizer, network, network


def test_no_good_checkpoint_starts_over(tmp_path, caplog):
    run = TrainingRun(tmp_path, 300, "unit")
    for step in (0, 100):
        run.save_checkpoint(step, tiny_params())
        run.record(step, {"loss": 1.0})
    garble_metadata(step_dir(tmp_path, 0))
    empty_folder(step_dir(tmp_path, 100))
    with caplog.at_level(logging.INFO, logger="locomimic"):
        again = TrainingRun(tmp_path, 300, "unit")
    assert again.start_step == 0 and again.resumed is None and again.rows == []
    assert "training starts over from step 0" in caplog.text
    assert checkpoints.steps(tmp_path / "checkpoints") == []
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.corrupt")) == [f"{0:012d}.corrupt",
                                                                                   f"{100:012d}.corrupt"]
    assert not (tmp_path / "checkpoints" / "metrics.csv").exists()  # no rows of a run that starts over


def test_non_finite_checkpoints_are_set_aside(tmp_path, caplog):
    checkpoints.save(tmp_path, 100, tiny_params())
    checkpoints.save(tmp_path, 200, tiny_params(np.nan))
    with caplog.at_level(logging.WARNING, logger="locomimic"):
        step, path, params = checkpoints.load_newest(tmp_path)
    assert step == 100 and path == tmp_path / f"{100:012d}"
    assert "NaN or inf" in warnings_naming(caplog, tmp_path / f"{200:012d}")[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{100:012d}", f"{200:012d}.corrupt"]


def test_readers_skip_damage_in_place_and_names_never_collide(tmp_path, caplog):
    """style_curve reads without moving anything; the owning run sets aside a step damaged twice."""
    for step in (0, 100):
        checkpoints.save(tmp_path, step, tiny_params(step))
    empty_folder(tmp_path / f"{100:012d}")
    with caplog.at_level(logging.WARNING, logger="locomimic"):
        found = [step for step, _, _ in checkpoints.good_checkpoints(tmp_path, newest_first=False, move_aside=False)]
    assert found == [0] and (tmp_path / f"{100:012d}").is_dir()
    assert "skipping damaged checkpoint" in warnings_naming(caplog, tmp_path / f"{100:012d}")[0]
    for _ in range(2):
        checkpoints.save(tmp_path, 200, tiny_params())
        empty_folder(tmp_path / f"{200:012d}")
        assert checkpoints.load_newest(tmp_path)[0] == 0
    assert sorted(p.name for p in tmp_path.glob(f"{200:012d}*")) == [f"{200:012d}.corrupt", f"{200:012d}.corrupt-1"]


def test_resume_drops_later_metrics_rows_and_continues_wall_time(tmp_path):
    """Rows after the checkpoint go at once (rewritten atomically), a step evaluated again replaces its
    row, and wall time goes on from the last kept row."""
    run = TrainingRun(tmp_path, 300, "unit")
    for step in (0, 100):
        run.save_checkpoint(step, tiny_params())
    csv_path = tmp_path / "checkpoints" / "metrics.csv"
    save_csv(csv_path, [{"step": 0, "wall_time": 10.0, "steps_per_second": 0.0, "loss": 1.0},
                        {"step": 100, "wall_time": 20.0, "steps_per_second": 10.0, "loss": 0.5, "extra": 1.0},
                        {"step": 200, "wall_time": 30.0, "steps_per_second": 10.0, "loss": 0.2, "extra": 2.0}])
    resumed = TrainingRun(tmp_path, 300, "unit")
    assert resumed.start_step == 100
    kept = metrics(tmp_path)
    assert [(row["step"], row["wall_time"]) for row in kept] == [("0", "10.0"), ("100", "20.0")]
    assert list(kept[0]) == ["step", "wall_time", "steps_per_second", "loss", "extra"]
    resumed.record(100, {"loss": 0.5})  # brax PPO evaluates the restored parameters again
    resumed.record(200, {"loss": 0.1})
    rows = metrics(tmp_path)
    assert [int(row["step"]) for row in rows] == [0, 100, 200]
    walls = [float(row["wall_time"]) for row in rows]
    assert walls[0] == 10.0 and 20.0 <= walls[1] <= walls[2] < 20.0 + 60
    assert list(rows[0]) == ["step", "wall_time", "steps_per_second", "loss", "extra"]
