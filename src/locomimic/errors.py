"""One exception type for every input problem the user can fix.

The CLI turns a :class:`LocomimicError` into a single line on stderr and exit status 2, without a
traceback, so a failed Snakemake job shows the file, the line or field, and what was expected.
"""

from __future__ import annotations

from pathlib import Path


class LocomimicError(Exception):
    """An input (file, config field, robot model) is not what the pipeline expects."""

    def __init__(self, source: str | Path | None, message: str, *, location: str | None = None):
        self.source = str(source) if source is not None else None
        self.location = location
        self.detail = message
        where = ": ".join(part for part in (self.source, location) if part)
        super().__init__(f"{where}: {message}" if where else message)
