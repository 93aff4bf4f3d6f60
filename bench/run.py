"""Run every benchmark in bench/ and print ONE combined table (`make bench`).

Each bench is a script ``bench/<name>.py`` run in its own process (so that one pinning itself to a
core, or JAX's in-process caches, cannot affect another), in the order of ``BENCHMARKS``. Outputs,
all under ``results/bench/`` (``--out``):

* ``<name>.csv``: the bench's detail table (one row per clip, batch size, stage ...);
* ``<name>.summary.csv``: its headline rows;
* ``<name>.log``: its stderr (JAX and XLA warnings, progress lines), kept out of the console;
* ``summary.csv`` and ``summary.md``: the headline rows of every bench together, with ratios
  resolved across benches, plus each bench's own wall time; ``summary.md`` also names the machine
  and the commit (for docs/results.md, Performance).

Columns of the summary: ``bench``; ``key`` (``<bench>.<name>``, unique, stable: how rows refer to each
other); ``measurement``; ``value`` and ``unit``; ``reference`` (the key of the row this one is divided
by, any bench's, or a short text when the reference is not a row of its own); ``ratio`` (value /
reference's value); ``notes`` (sizes, what is included, why a row was skipped). A row with no value
was skipped, and its notes say why.

Adding a bench (e.g. ``bench/train.py``) is one line: append its name to ``BENCHMARKS``. Interface:

* ``python bench/<name>.py --csv PATH --summary PATH [--quick]``; exit status 0 on success. Use
  ``common.parse_args(__doc__, ...)`` for these flags and ``common.report(title, rows, args, summary)``
  to print and write both tables.
* ``--quick`` (also ``LOCOMIMIC_BENCH_QUICK=1``): minimal sizes, a smoke test of the code path only.
* Tables go to stdout (the console); anything on stderr (logging, JAX warnings) goes to ``<name>.log``.
* Summary rows are ``common.summary_row(bench, key, measurement, value, unit, reference, notes)``
  (columns ``common.SUMMARY_FIELDS``). To compare with a figure another bench measures, name its key
  as ``reference``; e.g. PPO training env steps/s against raw batched MJX stepping at the same batch
  size: ``reference="mjx_env.mjx_b256"`` (keys ``mjx_env.mjx_b{N}`` for N in 128 ... 4096, or 128 only
  with ``--quick``; ``mjx_env.mujoco_c_1core``). ``run.py`` fills the ratio once every bench has run.
* Measure, never make up: skip with ``value=None`` and the reason in ``notes`` when data is missing.

Budget: the whole ``make bench`` must finish within 30 minutes on a 2-core CPU; each bench's wall
time is printed and kept in the summary (``run.<name>_s``).

    python bench/run.py [--quick] [--only NAME ...] [--skip NAME ...] [--out results/bench]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import (  # noqa: E402
    SUMMARY_FIELDS, fmt, machine, print_table, read_csv, resolve_ratios, summary_row, write_csv)

BENCHMARKS = [
    "retarget",     # retargeting frames/s per robot, one core
    "mjx_env",      # MJX env steps/s, batch 128..4096, vs MuJoCo C (1 core, rollout on all cores); per robot at 256
    "bc",           # demonstration generation steps/s, BC training samples/s
    "jit_compile",  # compile time of the MJX env step, cold vs warm persistent cache
    "workflow",     # tiny workflow end to end: wall, peak memory, per-stage max_rss, snakemake -n
    "train",        # PPO and AMP training env steps/s vs raw MJX stepping; the default run's outcomes
]
COLUMNS = ["key", "measurement", "value", "unit", "reference", "ratio", "notes"]


def run_bench(name: str, out: Path, quick: bool) -> tuple[list[dict], float]:
    """Run ``bench/<name>.py``; its summary rows (or one row saying it failed) and its wall time."""
    summary = out / f"{name}.summary.csv"
    summary.unlink(missing_ok=True)
    command = [sys.executable, str(BENCH / f"{name}.py"), "--csv", str(out / f"{name}.csv"), "--summary", str(summary)]
    log = out / f"{name}.log"
    print(f"=== bench/{name}.py{' --quick' if quick else ''} (stderr: {log})", flush=True)
    start = time.perf_counter()
    with open(log, "w") as stderr:
        done = subprocess.run(command + (["--quick"] if quick else []), cwd=BENCH.parent, stderr=stderr)
    seconds = time.perf_counter() - start
    if done.returncode or not summary.is_file():
        print("".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:]), flush=True)
        reason = f"FAILED: bench/{name}.py exited with status {done.returncode} (see {log.name})"
        return [summary_row(name, f"{name}.failed", f"bench/{name}.py", None, "", notes=reason)], seconds
    rows = read_csv(summary)
    for row in rows:  # CSV gives strings; empty cells mean None
        row.update({k: (v if v != "" else None) for k, v in row.items() if k in ("value", "ratio")})
        row["reference"], row["notes"] = row.get("reference") or "", row.get("notes") or ""
    return rows, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="minimal sizes: a smoke test, not a measurement")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benches")
    parser.add_argument("--skip", nargs="+", choices=BENCHMARKS, default=[], help="leave these benches out")
    parser.add_argument("--out", type=Path, default=BENCH.parent / "results" / "bench")
    args = parser.parse_args()
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    args.out.mkdir(parents=True, exist_ok=True)

    rows, status, started = [], 0, time.perf_counter()
    for name in names:
        bench_rows, seconds = run_bench(name, args.out, args.quick)
        rows += bench_rows
        status |= any(r["key"].endswith(".failed") for r in bench_rows)
        rows.append(summary_row("run", f"run.{name}_s", f"bench/{name}.py wall time", seconds, "s"))
        print(f"=== bench/{name}.py took {seconds:.0f} s\n", flush=True)
    total = time.perf_counter() - started
    rows.append(summary_row("run", "run.total_s", "make bench wall time", total, "s",
                            notes="budget: 30 min on a 2-core CPU" + (" (--quick)" if args.quick else "")))
    resolve_ratios(rows, note_missing=True)

    header = f"{machine()}; commit {commit()}; {datetime.datetime.now().isoformat(timespec='minutes')}"
    if args.quick:
        header += "; --quick: minimal sizes, not measurements"
    print_table(f"locomimic benchmarks -- {header}", rows, COLUMNS)
    write_csv(args.out / "summary.csv", rows, SUMMARY_FIELDS)
    write_markdown(args.out / "summary.md", header, rows)
    print(f"wrote {args.out / 'summary.csv'}, {args.out / 'summary.md'} and one CSV per bench in {args.out}")
    return int(status)


def commit() -> str:
    done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=BENCH.parent, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def write_markdown(path: Path, header: str, rows: list[dict]) -> None:
    """The combined table as Markdown, ready to paste into docs/results.md."""
    lines = [f"Machine: {header}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(row.get(c)).replace("|", "\\|") for c in COLUMNS) + " |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
