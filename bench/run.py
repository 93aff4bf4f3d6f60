"""Run every benchmark in bench/ and keep their tables under results/bench/ (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH.parent / "results" / "bench"
BENCHMARKS = ["retarget", "mjx_env", "bc"]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in BENCHMARKS:
        done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--csv", str(OUT / f"{name}.csv")])
        status |= done.returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
