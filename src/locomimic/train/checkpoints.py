"""Orbax checkpoints of policy parameters, named by the global environment step.

A checkpoint is ``<run>/checkpoints/<step, 12 digits>/``, holding the ``(normalizer, policy, value)``
tuple in brax's layout (``brax.training.checkpoint.load`` reads it back). Only parameters that are all
finite are ever saved, so the newest checkpoint is always a good one to resume from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jax
import numpy as np
from brax.training import checkpoint as brax_checkpoint
from flax.training import orbax_utils
from orbax import checkpoint as ocp


def all_finite(params) -> bool:
    return all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree_util.tree_leaves(params)
               if np.issubdtype(np.asarray(leaf).dtype, np.floating))


def save(folder: Path, step: int, params) -> Path:
    """Write a checkpoint for ``step`` (orbax writes to a temporary folder and renames it)."""
    path = Path(folder) / f"{step:012d}"
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = jax.device_get(params)
    ocp.PyTreeCheckpointer().save(path.resolve(), params, save_args=orbax_utils.save_args_from_target(params))
    return path


def latest(folder: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint as ``(step, path)``, or None."""
    steps = sorted((int(p.name), p) for p in Path(folder).glob("[0-9]" * 12) if p.is_dir())
    return steps[-1] if steps else None


def load(path: Path):
    return tuple(brax_checkpoint.load(Path(path).resolve()))
