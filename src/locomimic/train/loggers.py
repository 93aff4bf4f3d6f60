"""Experiment trackers for training metrics, beside the run's ``metrics.csv``: DVCLive, TensorBoard, W&B.

``train.tracking.loggers`` picks them (DVCLive by default: ``dvc plots show`` and ``dvc exp show`` read its files,
no account or network needed). Each writes into the run's folder (``dvclive/``, ``tensorboard/``,
``wandb/``), one point per metrics row, at the row's global environment step. W&B runs in offline mode
unless ``train.tracking.wandb_mode`` says ``online`` (then it needs an account: ``wandb login``).

Why the trackers are rebuilt from the rows: a resumed run keeps the metrics rows up to its checkpoint
and trains the rest again (:mod:`locomimic.train.run`); writing the trackers afresh from the kept rows
gives them exactly the CSV's history, with no points of the abandoned stretch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

LOGGERS = ("dvclive", "tensorboard", "wandb")


class _DVCLive:
    """DVCLive's metrics.json (latest values) and plots/metrics/<name>.tsv (one line per step)."""

    def __init__(self, folder: Path, name: str, tracking: dict):
        from dvclive import Live

        # No dvc.yaml of its own and no DVC experiment: the project's dvc.yaml is the pipeline.
        self.live = Live(dir=str(folder), resume=False, report=None, save_dvc_exp=False, dvcyaml=False)

    def log(self, row: dict) -> None:
        self.live.step = int(row["step"])
        for key, value in _values(row).items():
            self.live.log_metric(key, value)
        self.live.make_summary()

    def close(self) -> None:
        self.live.end()


class _TensorBoard:
    def __init__(self, folder: Path, name: str, tracking: dict):
        from tensorboardX import SummaryWriter

        self.writer = SummaryWriter(logdir=str(folder))

    def log(self, row: dict) -> None:
        for key, value in _values(row).items():
            self.writer.add_scalar(key, value, int(row["step"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    """A W&B run named after the run folder (robot/motion/algo/seed), offline unless configured."""

    def __init__(self, folder: Path, name: str, tracking: dict):
        import wandb

        folder.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(project=tracking["wandb_project"], name=name, dir=str(folder),
                              mode=tracking["wandb_mode"], reinit="create_new",
                              settings=wandb.Settings(silent=True, console="off"))

    def log(self, row: dict) -> None:
        self.run.log(_values(row), step=int(row["step"]))

    def close(self) -> None:
        import wandb

        self.run.finish()
        # finish() can return before W&B's service has written the run's records to disk (seen once in CI:
        # an offline run file with its header only); teardown waits for the service to flush and stop
        wandb.teardown()


def _values(row: dict) -> dict[str, float]:
    """A metrics row's values as numbers (rows read back from the CSV hold text, blanks where absent)."""
    return {key: float(value) for key, value in row.items() if key != "step" and value != ""}


_BACKENDS = {"dvclive": _DVCLive, "tensorboard": _TensorBoard, "wandb": _WandB}


class MetricLoggers:
    """The trackers ``tracking["loggers"]`` of one run folder, started afresh from ``rows`` (see the
    module docstring); ``tracking`` is the ``train.tracking`` config section."""

    def __init__(self, run_dir: Path, tracking: dict, rows: list[dict]):
        run_dir = Path(run_dir)
        name = "/".join(run_dir.parts[-4:])  # robot/motion/algo/seedN
        self.backends = []
        for backend in tracking.get("loggers", ()):
            folder = run_dir / backend
            shutil.rmtree(folder, ignore_errors=True)
            self.backends.append(_BACKENDS[backend](folder, name, tracking))
        for row in rows:
            self.log(row)

    def log(self, row: dict) -> None:
        for backend in self.backends:
            backend.log(row)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
