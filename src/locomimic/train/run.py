"""What every training run needs around its algorithm: a run folder that survives interruptions.

- **Checkpoints and resume**: ``<run>/checkpoints/`` holds Orbax checkpoints named by the global
  environment step (:mod:`locomimic.train.checkpoints`). A run that stops part way resumes from its
  newest good checkpoint, continuing the step count. The folder is stamped with a fingerprint of the
  run's settings: one written under other settings is discarded, so changing the config never resumes
  a stale run (``num_timesteps`` and ``checkpoint_every`` are left out, so raising the length continues).
- **Damaged checkpoints**: one that fails to load (or holds NaN or inf) is moved aside to ``<step>.corrupt`` with a warning and the next newest is tried, down to
  a fresh start: a truncated or half-copied checkpoint costs some steps, never every rerun.
- **Divergence guard**: NaN or inf in the metrics (losses) or the parameters stops the run with a
  clear message; only finite parameters are ever saved, so the last checkpoint stays good.
- **Metrics**: a CSV row per evaluation (step, wall time, steps/s, then the algorithm's columns),
  kept beside the checkpoints so a resumed run continues it, and a progress line with rate and ETA.
  A resumed run keeps the rows up to its checkpoint's step (later ones belong to training it redoes),
  one row per step, and continues the wall time from the last kept row: wall time is cumulative.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import save_csv
from locomimic.policy import all_finite
from locomimic.progress import Progress
from locomimic.train import checkpoints
from locomimic.train.loggers import MetricLoggers

log = logging.getLogger("locomimic")

# Settings that do not change what a run learns: its length (raising it continues the run) and where
# its metrics are also logged.
NOT_SHAPING = ("num_timesteps", "checkpoint_every", "tracking")


class TrainingDiverged(LocomimicError):
    """NaN or inf appeared in training; the run stops and keeps its last good checkpoint."""


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def params_digest(params) -> str:
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]
    return hashlib.sha256(b"".join(x.tobytes() for x in leaves)).hexdigest()[:16]


def run_shape(settings: dict) -> dict:
    """The settings that shape a run (without its length and its trackers)."""
    return {k: v for k, v in settings.items() if k not in NOT_SHAPING}


class TrainingRun:
    """A run folder: resume point, checkpoints, metrics rows and progress, with the divergence guard."""

    def __init__(self, run_dir: Path, total_steps: int, *settings_parts, tracking: dict | None = None):
        """``settings_parts`` fingerprint the run (a resume needs the same); ``tracking`` is the
        ``train.tracking`` section (:mod:`locomimic.train.loggers`)."""
        self.dir = Path(run_dir)
        self.checkpoints = self.dir / "checkpoints"
        self.total = int(total_steps)
        self.start_step, self.resumed = self._prepare(fingerprint(*settings_parts))
        self.csv_path = self.checkpoints / "metrics.csv"
        self.rows, self.wall_offset = self._previous_rows() if self.resumed is not None else ([], 0.0)
        self._rewrite_rows()
        self.trackers = MetricLoggers(self.dir, tracking or {}, self.rows)
        self.progress = Progress("train", self.total, "env steps", every_s=0.0)
        self.progress.done = self.start_step
        self.wall_start = time.perf_counter()
        self.last_step, self.last_time = self.start_step, self.wall_start

    @property
    def remaining(self) -> int:
        return max(self.total - self.start_step, 0)

    def will_run(self, steps: int) -> None:
        """The trainer rounds ``remaining`` up to whole iterations: progress counts towards what it runs."""
        self.progress.total = self.start_step + int(steps)

    def _prepare(self, stamp_text: str) -> tuple[int, tuple | None]:
        """Newest good checkpoint of a run with the same settings, or a clean folder."""
        stamp = self.checkpoints / "settings.sha256"
        if self.checkpoints.exists() and (not stamp.exists() or stamp.read_text().strip() != stamp_text):
            log.info("discarding checkpoints in %s: they were written under other settings", self.checkpoints)
            shutil.rmtree(self.checkpoints)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        stamp.write_text(stamp_text + "\n")
        had_checkpoints = checkpoints.latest(self.checkpoints) is not None
        newest = checkpoints.load_newest(self.checkpoints)
        if newest is None:
            if had_checkpoints:
                log.warning("no checkpoint in %s could be loaded: training starts over from step 0", self.checkpoints)
            return 0, None
        step, path, params = newest
        log.info("resuming from checkpoint %s (step %d)", path, step)
        return step, params

    def _diverged(self, what: str, step: int) -> TrainingDiverged:
        return TrainingDiverged(self.dir, f"NaN or inf in {what} at step {step}; stopped, the last good "
                                f"checkpoint is kept in {self.checkpoints}")

    def save_checkpoint(self, step: int, state) -> None:
        """Checkpoint ``state`` at global ``step``, refusing non-finite parameters."""
        if not all_finite(state):
            raise self._diverged("the policy parameters", step)
        checkpoints.save(self.checkpoints, step, state)

    def record(self, step: int, columns: dict[str, float]) -> dict:
        """Append a metrics row (and the progress line) for global ``step``."""
        bad = sorted(k for k, v in columns.items() if not np.isfinite(v))
        if bad:
            raise self._diverged(", ".join(bad[:4]), step)
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        self.last_step, self.last_time = step, now
        row = {"step": step, "wall_time": round(self.wall_offset + now - self.wall_start, 3),
               "steps_per_second": round(rate, 1), **columns}
        # One row per step: brax PPO evaluates the restored parameters again at the resume step.
        self.rows = [kept for kept in self.rows if int(kept["step"]) < step] + [row]
        save_csv(self.csv_path, self.rows)
        self.trackers.log(row)
        self.progress.done = step
        self.progress.update(0)
        return row

    def close(self) -> None:
        """Flush and close the experiment trackers (the CSV and checkpoints are already on disk)."""
        self.trackers.close()

    @property
    def steps_done(self) -> int:
        return max(self.last_step, self.start_step)

    def _previous_rows(self) -> tuple[list[dict], float]:
        """The metrics rows up to the resume step and the wall time to continue from; rows after it
        were written by training this run redoes (or by a checkpoint that was set aside)."""
        if not self.csv_path.exists():
            return [], 0.0
        try:
            with open(self.csv_path, newline="") as handle:
                rows = [_numbers(row) for row in csv.DictReader(handle) if int(row["step"]) <= self.start_step]
            return rows, float(rows[-1]["wall_time"]) if rows else 0.0
        except (KeyError, TypeError, ValueError, csv.Error) as exc:
            log.warning("%s is unreadable (%s): its rows are dropped", self.csv_path, exc)
            return [], 0.0

    def _rewrite_rows(self) -> None:
        """Make the metrics file agree with the resume point now, not at the first new row."""
        if self.rows:
            save_csv(self.csv_path, self.rows)
        else:
            self.csv_path.unlink(missing_ok=True)


def _numbers(row: dict[str, str]) -> dict:
    """A metrics row read back from CSV with its numbers as numbers again (as training wrote them), so a
    resumed run's rows and summary are the same whether or not it trained further."""
    def number(text: str):
        try:
            value = float(text)
        except ValueError:
            return text
        return int(value) if value.is_integer() and text.lstrip("-").isdigit() else value

    return {key: number(value) for key, value in row.items()}
