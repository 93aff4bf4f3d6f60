"""Orbax checkpoints of policy parameters, named by the global environment step.

A checkpoint is ``<run>/checkpoints/<step, 12 digits>/``, holding the ``(normalizer, policy, value)``
tuple in brax's layout (``brax.training.checkpoint.load`` reads it back). Only parameters that are all
finite are ever saved, but a checkpoint can still be damaged after it was written (a full disk, a
killed copy or sync, a truncated file). :func:`good_checkpoints` is the one loader: it skips those, and
for the run that owns the folder moves them aside to ``<step>.corrupt``, so a damaged newest
checkpoint costs a resume one step back instead of failing every rerun the same way.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import jax
from brax.training import checkpoint as brax_checkpoint
from flax.training import orbax_utils
from orbax import checkpoint as ocp

from locomimic.policy import all_finite

log = logging.getLogger("locomimic")

STEP_GLOB = "[0-9]" * 12
ASIDE_SUFFIX = ".corrupt"


def save(folder: Path, step: int, params) -> Path:
    """Write a checkpoint for ``step`` (orbax writes to a temporary folder and renames it)."""
    path = Path(folder) / f"{step:012d}"
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = jax.device_get(params)
    ocp.PyTreeCheckpointer().save(path.resolve(), params, save_args=orbax_utils.save_args_from_target(params))
    return path


def steps(folder: Path) -> list[tuple[int, Path]]:
    """Every checkpoint folder as ``(step, path)``, oldest first (set-aside ones no longer match)."""
    return sorted((int(p.name), p) for p in Path(folder).glob(STEP_GLOB) if p.is_dir())


def latest(folder: Path) -> tuple[int, Path] | None:
    """The newest checkpoint folder as ``(step, path)``, or None; it is not read (see :func:`load_newest`)."""
    found = steps(folder)
    return found[-1] if found else None


def load(path: Path):
    return tuple(brax_checkpoint.load(Path(path).resolve()))


def try_load(path: Path) -> tuple[object, str | None]:
    """``(params, None)``, or ``(None, why)`` when ``path`` cannot be a resume point: unreadable, or
    NaN or inf in it.

    Every exception counts as damage: Orbax reports it as ValueError (a truncated OCDBT file),
    UnicodeDecodeError (garbage ``_METADATA``), FileNotFoundError (an empty folder) and more.
    """
    try:
        params = load(path)
    except Exception as exc:  # noqa: BLE001 - any failure to read makes the checkpoint useless
        return None, _describe(exc)
    if not all_finite(params):
        return None, "NaN or inf in its parameters"
    return params, None


def good_checkpoints(folder: Path, *, newest_first: bool = True, move_aside: bool = True) -> Iterator[tuple[int, Path, object]]:
    """``(step, path, params)`` of every checkpoint that loads, read lazily; a damaged one is logged
    with its reason and skipped, and with ``move_aside`` (the run that owns the folder) renamed out
    of the step glob, so no later run tries it again."""
    found = steps(folder)
    for step, path in found[::-1] if newest_first else found:
        params, reason = try_load(path)
        if reason is None:
            yield step, path, params
        elif move_aside:
            set_aside(path, reason)
        else:
            log.warning("skipping damaged checkpoint %s: %s", path, reason)


def load_newest(folder: Path) -> tuple[int, Path, object] | None:
    """The newest good checkpoint as ``(step, path, params)``, damaged newer ones set aside; or None."""
    return next(good_checkpoints(folder), None)


def set_aside(path: Path, reason: str) -> Path:
    """Rename a damaged checkpoint to ``<step>.corrupt`` beside it (kept for a post-mortem, not
    deleted: a reader may have failed for a reason of its own)."""
    path = Path(path)
    target = path.with_name(path.name + ASIDE_SUFFIX)
    number = 1
    while target.exists():
        target, number = path.with_name(f"{path.name}{ASIDE_SUFFIX}-{number}"), number + 1
    try:
        path.rename(target)
    except OSError as exc:
        log.warning("damaged checkpoint %s (%s) could not be moved aside (%s); skipping it", path, reason, exc)
        return path
    log.warning("damaged checkpoint %s: %s; moved aside to %s", path, reason, target.name)
    return target


def _describe(exc: Exception) -> str:
    """One short line for the log: Orbax and TensorStore messages run to many lines."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
