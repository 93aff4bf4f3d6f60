"""Opening clip files: one clear error for a missing path, a directory, or bytes that are not text.

Why: every reader starts the same way, and a user who points a clip at the wrong thing (a folder, a
binary file, a file in another encoding) should get one line naming the file, and the line when the
problem is inside it, rather than a ``UnicodeDecodeError`` traceback from deep inside a parser.
"""

from __future__ import annotations

from pathlib import Path

from locomimic.errors import LocomimicError


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a :class:`Path` if it is a regular file; else say what it is and that ``what`` was expected.

    ``what`` names the expected file with its article ("an AI4Animation keypoint text file").
    """
    path = Path(path)
    if path.is_dir():
        raise LocomimicError(path, f"is a directory; expected {what}")
    if not path.exists():
        raise LocomimicError(path, "file not found")
    if not path.is_file():
        raise LocomimicError(path, f"is not a regular file; expected {what}")
    return path


def read_lines(path: str | Path, what: str) -> list[str]:
    """The lines of a UTF-8 (or ASCII) text file; binary content is an error naming its line.

    Numbers in clip text are ASCII, so anything that does not decode as UTF-8, or holds a NUL byte,
    is not the expected file at all (a binary file, an archive, a file renamed by mistake).
    """
    path = require_file(path, what)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    else:
        first_bad = len(data)
    nul = data.find(b"\0", 0, first_bad)
    if nul >= 0 or first_bad < len(data):
        raise _not_text(path, data, nul if nul >= 0 else first_bad, what)
    return text.removeprefix("\ufeff").splitlines()


def _not_text(path: Path, data: bytes, offset: int, what: str) -> LocomimicError:
    """The error for the first byte that cannot be in a text file, with its line and column."""
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    byte = data[offset]
    reason = "a NUL byte" if byte == 0 else f"byte 0x{byte:02x}, which is not UTF-8 text"
    return LocomimicError(path, f"not a text file: {reason}; expected {what}", location=f"line {line}, column {column}")
