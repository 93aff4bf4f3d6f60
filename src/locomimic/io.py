"""Atomic, byte-reproducible writers for every file a stage produces.

Why: a killed job must never leave a half-written output that Snakemake or DVC would take as done,
and the same inputs must give byte-identical files (numpy's ``savez`` stamps the current time into
the zip headers, so it is not reproducible).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from locomimic.errors import LocomimicError

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# Errors of the file system a user can fix (a full disk, a quota or file-size limit, no permission, a
# read-only mount).
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    The file gets the mode any new file gets (0666 less the umask): ``mkstemp`` creates it 0600, which
    would hide results from a group sharing a cluster folder or a DVC cache. A full disk or a missing
    permission is one error naming ``path``, and nothing is left behind.
    """
    path = Path(path)
    tmp_path = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            raise
        raise LocomimicError(path, f"cannot write the file: {exc.strerror}") from None
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays as an uncompressed ``.npz`` with fixed zip timestamps (byte-reproducible)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def load_npz(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every array of an .npz file; a missing or unreadable file is one error naming it as ``what``.

    The zip check comes first: ``np.load`` takes any other bytes for a pickle and, with pickles
    refused, speaks of "pickled data", which says nothing useful about a corrupt file.
    """
    path = Path(path)
    if path.is_dir():
        raise LocomimicError(path, f"is a directory; expected a {what} (.npz)")
    if not path.is_file():
        raise LocomimicError(path, f"{what} not found")
    if not zipfile.is_zipfile(path):
        raise LocomimicError(path, f"not a readable {what}: not a zip archive (.npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LocomimicError(path, f"not a readable {what}: {exc}") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):  # np.load hands back raw bytes for members that are not .npy
            raise LocomimicError(path, f"not a readable {what}: member {name!r} is not a .npy array")
    return arrays


def load_json(path: str | Path, what: str) -> Any:
    """A JSON document; a missing or unreadable file is one error naming it as ``what``."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LocomimicError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LocomimicError(path, f"not readable {what}: {exc}") from None


def save_json(path: str | Path, data: object) -> None:
    """Write JSON with sorted keys and a trailing newline, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def save_csv(path: str | Path, rows: list[dict]) -> None:
    """Write rows as CSV, atomically; columns are every key in order of appearance, blanks where absent."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
