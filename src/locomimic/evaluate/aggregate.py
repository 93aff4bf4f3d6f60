"""Aggregate evaluation runs over seeds: ``results/eval/summary.csv`` and ``results/eval/metrics.json``.

Each (robot, motion, policy) gets, per metric, the mean over its seeds and a 95% confidence interval
of that mean (Student t over the seeds' means). With a single seed there is no spread between seeds
to measure; the interval then comes from that seed's episodes, and ``ci_over`` says which it is.

An exported policy's sim-to-sim runs (plain MuJoCo, ``results/sim2sim/``) get their own row beside the
MJX one: column ``simulator`` (``mjx`` or ``mujoco``), and in the JSON the key ``<policy> (mujoco)``.
"""

from __future__ import annotations

from pathlib import Path

from locomimic.errors import LocomimicError
from locomimic.evaluate.metrics import METRICS, mean_ci
from locomimic.io import load_json

RUN_FIELDS = ("robot", "motion", "policy", "seed", "task", "episodes", "metrics")
MJX = "mjx"


def simulator_of(run: dict) -> str:
    """The simulator an evaluation run ran in: the evaluate stage's MJX (its runs name none) or the sim-to-sim's."""
    return run.get("simulator", MJX)


def result_key(policy: str, simulator: str) -> str:
    """A policy's entry in the aggregated JSON (and its label in the report): ``ppo``, ``ppo (mujoco)``."""
    return policy if simulator == MJX else f"{policy} ({simulator})"


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
    groups: dict[tuple[str, str, str, str], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["robot"], run["motion"], run["policy"], simulator_of(run)), []).append(run)
    first = {key[:3]: i for i, key in reversed(list(enumerate(groups)))}  # each policy's sim-to-sim after its MJX row
    order = sorted(groups, key=lambda key: (first[key[:3]], key[3] != MJX, key[3]))
    rows, results = [], {}
    for robot, motion, policy, simulator in order:
        group = groups[(robot, motion, policy, simulator)]
        group = sorted(group, key=lambda r: r["seed"])
        over = "seeds" if len(group) > 1 else "episodes"
        stats = {}
        for name in METRICS:
            values = [run["metrics"][name]["mean"] for run in group if name in run["metrics"]]
            if not values:
                continue  # not applicable to this task (tracking errors of a command-following policy)
            stat = mean_ci(values) if over == "seeds" else dict(group[0]["metrics"][name])
            stats[name] = _interval(stat)
        entry = {"policy": policy, "simulator": simulator, "task": group[0]["task"], "seeds": [r["seed"] for r in group],
                 "episodes": group[0]["episodes"], "ci_over": over, "metrics": stats}
        results.setdefault(robot, {}).setdefault(motion, {})[result_key(policy, simulator)] = entry
        row = {"robot": robot, "motion": motion, "policy": policy, "simulator": simulator, "task": entry["task"],
               "seeds": len(group), "episodes_per_seed": entry["episodes"], "ci_over": over}
        for name in METRICS:
            stat = stats.get(name, {"mean": None, "ci95": None})
            row[name] = "" if stat["mean"] is None else f"{stat['mean']:.6g}"
            row[f"{name}_ci95"] = "" if stat["ci95"] is None else f"{stat['ci95']:.6g}"
        rows.append(row)
    document = {"definitions": {name: {"unit": unit, "description": text} for name, (unit, text) in METRICS.items()},
                "results": results}
    return rows, document
