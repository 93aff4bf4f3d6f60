"""Shared bits of the benchmark scripts: where the test data is, and how a table is printed and saved."""

from __future__ import annotations

import csv
import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOCOMIMIC_SHARED", REPO.parent / "shared"))
os.environ.setdefault("MENAGERIE_ROOT", str(SHARED / "menagerie"))


def machine() -> str:
    return f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {sys.version.split()[0]}"


def pin_to_one_core() -> None:
    """Measure single-core figures on one core, whatever else the machine is doing."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def report(title: str, rows: list[dict], csv_path: Path | None) -> None:
    """Print ``rows`` as an aligned table under ``title``; also write them as CSV when asked."""
    print(f"# {title} -- {machine()}")
    header = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(str(row[h]).ljust(w) for h, w in zip(header, widths)))
    print(flush=True)
    if csv_path:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, header)
            writer.writeheader()
            writer.writerows(rows)
