"""Periodic progress lines with rate and ETA, written to the stage's log.

Snakemake redirects each job's stderr into its ``log:`` file, where a terminal progress bar would be
unreadable; plain lines every few seconds stay readable in a log and on a cluster.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("locomimic")


class Progress:
    """Report ``done/total`` with items per second and the estimated time left."""

    def __init__(self, label: str, total: int, unit: str = "items", every_s: float = 5.0):
        self.label, self.total, self.unit, self.every_s = label, total, unit, every_s
        self.start = self.last = time.perf_counter()
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (
            f"{self.label}: {self.done}/{self.total} {self.unit} "
            f"({100.0 * self.done / max(self.total, 1):.0f}%), {rate:.1f} {self.unit}/s, "
            f"elapsed {elapsed:.1f} s, ETA {eta:.1f} s"
        )
