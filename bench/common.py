"""Shared bits of the benchmark scripts: where the test data is, the command-line flags every bench
takes, and the two kinds of table a bench produces.

* The **detail table**: whatever rows suit that bench (one per clip, per batch size ...), printed and
  written to ``--csv``.
* The **summary rows**: a few headline figures in one fixed shape (``SUMMARY_FIELDS``), written to
  ``--summary``. ``bench/run.py`` gathers the summary rows of every bench into one table.

A summary row may name another row, of the same bench or of any other one, as its ``reference``
(by ``key``); ``resolve_ratios`` then fills ``ratio = value / reference's value``. References across
benches are how, say, demonstration generation is compared with raw MJX stepping without measuring
the latter twice.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOCOMIMIC_SHARED", REPO.parent / "shared"))
os.environ.setdefault("MENAGERIE_ROOT", str(SHARED / "menagerie"))

SUMMARY_FIELDS = ["bench", "key", "measurement", "value", "unit", "reference", "ratio", "notes"]


def machine() -> str:
    """One line naming the CPU, its usable cores, memory and Python (for the report's header)."""
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        pass
    return f"{model}, {cores} usable cores{memory}, Python {sys.version.split()[0]}"


def pin_to_one_core() -> None:
    """Measure single-core figures on one core, whatever else the machine is doing."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def parse_args(doc: str, add_arguments=None) -> argparse.Namespace:
    """The flags every bench takes (``--csv``, ``--summary``, ``--quick``), plus its own ones.

    ``--quick`` (or ``LOCOMIMIC_BENCH_QUICK=1``) runs at minimal sizes: a smoke test of the code
    path, not a measurement worth quoting.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--csv", type=Path, help="write the detail table as CSV")
    parser.add_argument("--summary", type=Path, help="write the headline rows (SUMMARY_FIELDS) as CSV")
    parser.add_argument("--quick", action="store_true", default=os.environ.get("LOCOMIMIC_BENCH_QUICK") == "1",
                        help="minimal sizes, for smoke tests (also LOCOMIMIC_BENCH_QUICK=1)")
    if add_arguments:
        add_arguments(parser)
    return parser.parse_args()


def summary_row(bench: str, key: str, measurement: str, value: float | None, unit: str, reference: str = "",
                notes: str = "", ratio: float | None = None) -> dict:
    """A headline figure. ``key`` is ``<bench>.<name>``, unique across benches; ``reference`` is the
    key of the row to divide by (empty if none), whose ``ratio`` is filled later by
    ``resolve_ratios``; or, for a reference that is no row of its own, a short text describing it,
    with ``ratio`` given here. ``value=None`` marks a skipped measurement, with the reason in ``notes``."""
    assert key.startswith(bench + "."), key
    return {"bench": bench, "key": key, "measurement": measurement, "value": value, "unit": unit,
            "reference": reference, "ratio": ratio, "notes": notes}


def resolve_ratios(rows: list[dict], note_missing: bool = False) -> list[dict]:
    """Fill ``ratio`` of every row whose reference is among ``rows`` (in place; also returned).

    With ``note_missing``, a row whose reference is not among ``rows`` says so in its notes (run.py
    does that once every bench has run; a single bench leaves references to other benches alone)."""
    values = {r["key"]: _number(r["value"]) for r in rows}
    for row in rows:
        ref = row["reference"]
        if not ref or _number(row["ratio"]) is not None:
            continue
        value, base = _number(row["value"]), values.get(ref)
        if value is not None and base:
            row["ratio"] = value / base
        elif note_missing and ref not in values and " " not in ref:
            row["notes"] = "; ".join(filter(None, [row["notes"], f"reference {ref} not measured in this run"]))
    return rows


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt(value) -> str:
    """Numbers for people: 3 significant digits below 1,000, whole numbers with separators above."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.3g}"


def print_table(title: str, rows: list[dict], columns: list[str] | None = None) -> None:
    """Print ``rows`` as an aligned plain-text table under ``title``."""
    print(f"# {title}")
    if not rows:
        print("(no rows)\n", flush=True)
        return
    columns = columns or list(rows[0])
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(flush=True)


def write_csv(path: Path | None, rows: list[dict], columns: list[str] | None = None) -> None:
    """Write ``rows`` to ``path`` (nothing if ``path`` is None); numbers rounded to 4 significant digits."""
    if path is None or not rows:
        return
    columns = columns or list(rows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: _csv_cell(row.get(c)) for c in columns})


def _csv_cell(value):
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else ""
    return "" if value is None else value


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def report(title: str, rows: list[dict], args: argparse.Namespace, summary: list[dict]) -> None:
    """Print and save a bench's detail table (``--csv``) and its summary rows (``--summary``)."""
    mode = " [--quick: minimal sizes, not a measurement]" if args.quick else ""
    print_table(f"{title} -- {machine()}{mode}", rows)
    write_csv(args.csv, rows)
    resolve_ratios(summary)
    write_csv(args.summary, summary, SUMMARY_FIELDS)


def imitation_env(robot_name: str = "default"):
    """(env, robot, config): the default config's imitation env on a retargeted clip: a generated trot
    for a quadruped, two seconds of CMU's 131_01 walk (from ../shared) for a humanoid.

    The clip is written to a temporary file, as the retarget rule would write it; benches that
    measure MJX build their environment here so they all measure the same thing.
    """
    import tempfile

    from locomimic.config import load_config
    from locomimic.envs import make_env
    from locomimic.io import save_npz
    from locomimic.motion import gait
    from locomimic.motion.clip import HUMAN_LEG_OF_FOOT
    from locomimic.retarget import retarget_clip
    from locomimic.robots import load_robot

    config = load_config(REPO / "config" / "config.yaml")
    robot = load_robot(REPO / "config" / "robots" / f"{robot_name}.yaml")
    humanoid = sorted(robot.foot_names) == sorted(HUMAN_LEG_OF_FOOT)
    source = human_walk() if humanoid else gait.generate("trot", cycles=2)
    with tempfile.TemporaryDirectory(prefix="locomimic_bench_") as folder:
        clip = Path(folder) / "clip.npz"
        save_npz(clip, retarget_clip(source, robot, config["retarget"]).arrays)
        env = make_env("imitation", robot, config["env"], [clip])
    return env, robot, config


def human_walk():
    """The first two seconds of CMU 131_01 (../shared), read as config/examples/humanoid.yaml reads it."""
    from locomimic.config import load_yaml
    from locomimic.motion import load_clip

    path = SHARED / "mocap" / "cmu_bvh" / "131_01.bvh"
    if not path.is_file():
        raise SystemExit(f"{path} not found (set LOCOMIMIC_SHARED): a humanoid is benchmarked on a human clip")
    spec = dict(load_yaml(REPO / "config" / "examples" / "humanoid.yaml")["clips"]["walk_131_01"], frames=[0, 240])
    return load_clip(spec, path, "walk_131_01")
