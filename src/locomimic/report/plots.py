"""Figures for the report (matplotlib, PNG): learning curves, evaluation bars, retargeting errors.

Each function reads what an earlier stage wrote and draws one figure; none recomputes a metric, so a
figure always shows the numbers in the files next to it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from locomimic.errors import LocomimicError  # noqa: E402
from locomimic.evaluate.metrics import METRICS  # noqa: E402
from locomimic.io import atomic_path, load_json  # noqa: E402

CURVES = (("episode_reward", "episode return"), ("episode_length", "episode length (steps)"))
RETARGET_PANELS = (
    ("keypoint error (mm)", (("foot_error_mean", "feet, mean"), ("foot_error_max", "feet, max"),
                             ("hand_error_mean", "hands, mean"), ("head_error_mean", "head, mean")), 1e3),
    ("foot slide per stance (mm)", (("foot_slide_robot_mean", "robot"), ("foot_slide_source_mean", "source")), 1e3),
    ("ground penetration (mm)", (("penetration_max", "max"),), 1e3),
    ("joint-limit violations", (("joint_limit_violations", "frame-joint pairs"),), 1.0),
)


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def _read_rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise LocomimicError(path, f"cannot read training metrics: {exc}") from None


def _column(rows: list[dict], name: str, path: Path) -> np.ndarray:
    try:
        return np.array([float(row[name]) if row.get(name, "") != "" else np.nan for row in rows])
    except (KeyError, ValueError) as exc:
        raise LocomimicError(path, f"column {name!r} is not numeric: {exc}") from None


def learning_curves(metric_files: list[Path], out: str | Path, title: str) -> None:
    """Return and episode length against environment steps, one line per algo (mean over seeds).

    ``metric_files`` are ``results/train/.../{algo}/seed{seed}/metrics.csv``. The band is the range
    over seeds; with a single seed it is +-1 std over that seed's evaluation episodes instead.
    """
    runs: dict[str, list[tuple[np.ndarray, dict[str, np.ndarray]]]] = {}
    for path in map(Path, metric_files):
        rows = _read_rows(path)
        if not rows or "step" not in rows[0]:
            raise LocomimicError(path, "no rows with a 'step' column: not a training metrics file")
        columns = {name: _column(rows, name, path) for name, _ in CURVES if name in rows[0]}
        columns.update({f"{name}_std": _column(rows, f"{name}_std", path) for name, _ in CURVES
                        if f"{name}_std" in rows[0]})
        runs.setdefault(path.parent.parent.name, []).append((_column(rows, "step", path), columns))
    fig, axes = plt.subplots(1, len(CURVES), figsize=(5.5 * len(CURVES), 3.6), squeeze=False)
    for ax, (name, label) in zip(axes[0], CURVES):
        for algo, seeds in runs.items():
            steps = seeds[0][0][: min(len(s) for s, _ in seeds)]
            values = np.stack([cols.get(name, np.full(len(s), np.nan))[: len(steps)] for s, cols in seeds])
            mean = np.nanmean(values, axis=0) if np.isfinite(values).any() else values[0]
            (line,) = ax.plot(steps, mean, marker="o", markersize=3, label=f"{algo} ({len(seeds)} seed"
                              f"{'s' if len(seeds) > 1 else ''})")
            if len(seeds) > 1:
                ax.fill_between(steps, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=line.get_color(),
                                alpha=0.2)
            elif f"{name}_std" in seeds[0][1]:
                std = seeds[0][1][f"{name}_std"][: len(steps)]
                ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.12)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, out)


def evaluation_bars(document: dict, robot: str, motion: str, out: str | Path) -> None:
    """One panel per metric: a bar per policy (mean) with its 95% interval (``metrics.json``)."""
    try:
        policies = document["results"][robot][motion]
    except KeyError:
        raise LocomimicError(None, f"no evaluation results for robot {robot!r}, motion {motion!r}") from None
    names = [m for m in METRICS if any(m in p["metrics"] for p in policies.values())]
    columns = 4
    rows = int(np.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.8 * rows), squeeze=False)
    labels = list(policies)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes.flat, names):
        means, errors = [], []
        for policy in labels:
            stat = policies[policy]["metrics"].get(name, {})
            means.append(np.nan if stat.get("mean") is None else stat["mean"])
            errors.append(0.0 if stat.get("ci95") is None else stat["ci95"])
        ax.bar(range(len(labels)), np.nan_to_num(means), yerr=errors, capsize=3,
               color=[colors[i % len(colors)] for i in range(len(labels))])
        for i, value in enumerate(means):
            if not np.isfinite(value):
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=8)
        unit = METRICS[name][0]
        ax.set_title(f"{name} ({unit})" if unit else name, fontsize=9)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"{robot} / {motion}: evaluation (mean, 95% CI)")
    _save(fig, out)


def retarget_errors(metric_files: list[Path], out: str | Path) -> None:
    """Retargeting quality per clip (``results/retarget/{robot}/{clip}.json``), a bar group per robot."""
    table: dict[str, dict[str, dict]] = {}
    for path in map(Path, metric_files):
        metrics = load_json(path, "retargeting metrics")
        table.setdefault(path.parent.name, {})[path.stem] = metrics
    clips = sorted({clip for per_robot in table.values() for clip in per_robot})
    fig, axes = plt.subplots(1, len(RETARGET_PANELS), figsize=(4.2 * len(RETARGET_PANELS), 3.4), squeeze=False)
    for ax, (title, fields, scale) in zip(axes[0], RETARGET_PANELS):
        # groups a robot's clips have (quadrupeds have feet only)
        bars = [(robot, key, label) for robot in table for key, label in fields
                if any(key in metrics for metrics in table[robot].values())]
        width = 0.8 / len(bars)
        for i, (robot, key, label) in enumerate(bars):
            values = [scale * float(table[robot].get(clip, {}).get(key, np.nan)) for clip in clips]
            ax.bar(np.arange(len(clips)) + (i - (len(bars) - 1) / 2) * width, values, width,
                   label=f"{robot}: {label}" if len(table) > 1 else label)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.set_xticks(range(len(clips)), clips, rotation=30, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("retargeting quality per clip")
    _save(fig, out)
