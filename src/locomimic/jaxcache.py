"""JAX's persistent compilation cache, on by default: reruns reuse compiled MJX steps instead of
compiling them again (compilation dominates short runs on CPU)."""

from __future__ import annotations

import os
from pathlib import Path

import jax


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> Path:
    """Cache compiled programs under ``$JAX_COMPILATION_CACHE_DIR`` or ``~/.cache/locomimic/jax``."""
    path = Path(directory or os.environ.get("JAX_COMPILATION_CACHE_DIR") or Path.home() / ".cache/locomimic/jax")
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
