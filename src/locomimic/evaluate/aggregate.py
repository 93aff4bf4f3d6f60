"""Aggregate evaluation runs over seeds: ``results/eval/summary.csv`` and ``results/eval/metrics.json``.

Each (robot, motion, policy) gets, per metric, the mean over its seeds and a 95% confidence interval
of that mean (Student t over the seeds' means). With a single seed there is no spread between seeds
to measure; the interval then comes from that seed's episodes, and ``ci_over`` says which it is.
"""

from __future__ import annotations

from pathlib import Path

from locomimic.errors import LocomimicError
from locomimic.evaluate.metrics import METRICS, mean_ci
from locomimic.io import load_json

RUN_FIELDS = ("robot", "motion", "policy", "seed", "task", "episodes", "metrics")


def load_run(path: str | Path) -> dict:
    """One evaluation run's metrics.json, as the evaluate stage writes it."""
    path = Path(path)
    run = load_json(path, "evaluation metrics")
    missing = [f for f in RUN_FIELDS if f not in run]
    if missing:
        raise LocomimicError(path, f"missing field(s) {', '.join(missing)}: not written by the evaluate stage")
    return run


def load_summary(path: str | Path) -> dict:
    """The aggregated results/eval/metrics.json."""
    path = Path(path)
    document = load_json(path, "aggregated evaluation metrics")
    if "results" not in document:
        raise LocomimicError(path, "missing field 'results': not written by the eval-summary stage")
    return document


def _interval(stat: dict) -> dict:
    mean, half = stat["mean"], stat["ci95"]
    low = high = None
    if mean is not None and half is not None:
        low, high = mean - half, mean + half
    return {**stat, "low": low, "high": high}


def aggregate(runs: list[dict]) -> tuple[list[dict], dict]:
    """CSV rows (one per robot, motion and policy) and the nested JSON document."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["robot"], run["motion"], run["policy"]), []).append(run)
    rows, results = [], {}
    for (robot, motion, policy), group in groups.items():
        group = sorted(group, key=lambda r: r["seed"])
        over = "seeds" if len(group) > 1 else "episodes"
        stats = {}
        for name in METRICS:
            values = [run["metrics"][name]["mean"] for run in group if name in run["metrics"]]
            if not values:
                continue  # not applicable to this task (tracking errors of a command-following policy)
            stat = mean_ci(values) if over == "seeds" else dict(group[0]["metrics"][name])
            stats[name] = _interval(stat)
        entry = {"task": group[0]["task"], "seeds": [r["seed"] for r in group], "episodes": group[0]["episodes"],
                 "ci_over": over, "metrics": stats}
        results.setdefault(robot, {}).setdefault(motion, {})[policy] = entry
        row = {"robot": robot, "motion": motion, "policy": policy, "task": entry["task"], "seeds": len(group),
               "episodes_per_seed": entry["episodes"], "ci_over": over}
        for name in METRICS:
            stat = stats.get(name, {"mean": None, "ci95": None})
            row[name] = "" if stat["mean"] is None else f"{stat['mean']:.6g}"
            row[f"{name}_ci95"] = "" if stat["ci95"] is None else f"{stat['ci95']:.6g}"
        rows.append(row)
    document = {"definitions": {name: {"unit": unit, "description": text} for name, (unit, text) in METRICS.items()},
                "results": results}
    return rows, document
