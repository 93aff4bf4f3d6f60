"""Experiment trackers (train.tracking): DVCLive, TensorBoard and W&B (offline) get every metrics row of
a run at its global step, and a resumed run's trackers hold exactly the rows its metrics.csv keeps.
Real trackers writing real files; the run folder is driven through TrainingRun without training."""

from __future__ import annotations

import csv
import json

from test_checkpoints import tiny_params
from locomimic.train.run import TrainingRun

TRACKING = {"loggers": ["dvclive", "tensorboard", "wandb"], "wandb_project": "locomimic-test", "wandb_mode": "offline"}


def dvclive_steps(run_dir, metric: str) -> list[tuple[int, float]]:
    with open(run_dir / "dvclive" / "plots" / "metrics" / f"{metric}.tsv", newline="") as handle:
        return [(int(row["step"]), float(row[metric])) for row in csv.DictReader(handle, delimiter="\t")]


def wandb_run(run_dir):
    """The one offline W&B run of a run folder (its records: ``wandb sync`` uploads them)."""
    (found,) = (run_dir / "wandb").glob("wandb/offline-run-*/run-*.wandb")
    return found


def test_every_tracker_gets_every_row_and_a_resume_rewrites_them(tmp_path):
    run = TrainingRun(tmp_path, 300, "unit", tracking=TRACKING)
    for step, loss in ((0, 1.0), (100, 0.5), (200, 0.25)):
        run.save_checkpoint(step, tiny_params())
        run.record(step, {"loss": loss})
    run.close()
    assert dvclive_steps(tmp_path, "loss") == [(0, 1.0), (100, 0.5), (200, 0.25)]
    assert json.loads((tmp_path / "dvclive" / "metrics.json").read_text())["loss"] == 0.25
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and b"loss" in events[0].read_bytes()
    assert b"loss" in wandb_run(tmp_path).read_bytes()

    # The newest checkpoint is lost: the run resumes at step 100 and trains 100 -> 300 again.
    (tmp_path / "checkpoints" / f"{200:012d}").rename(tmp_path / "gone")
    resumed = TrainingRun(tmp_path, 300, "unit", tracking=TRACKING)
    assert resumed.start_step == 100
    resumed.record(300, {"loss": 0.1})
    resumed.close()
    assert dvclive_steps(tmp_path, "loss") == [(0, 1.0), (100, 0.5), (300, 0.1)]
    wandb_run(tmp_path)  # one offline run, written afresh


def test_without_trackers_only_the_csv_is_written(tmp_path):
    run = TrainingRun(tmp_path, 100, "unit", tracking={"loggers": []})
    run.record(0, {"loss": 1.0})
    run.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]
