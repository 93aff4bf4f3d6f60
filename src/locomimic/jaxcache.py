"""JAX's persistent compilation cache, on by default: reruns reuse compiled MJX steps instead of
compiling them again (compilation dominates short runs on CPU)."""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

import jax


def cpu_kind(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """A short name for this machine's CPU instruction set: its architecture and a hash of its feature
    flags (``cpuinfo``).

    XLA:CPU compiles for the features of the CPU it runs on, and JAX's cache key does not include them:
    a program compiled on one SLURM node and loaded from a shared home directory on an older node can
    die with SIGILL. One cache folder per CPU kind keeps each node on programs built for its CPU."""
    flags = ""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):  # x86 / ARM
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                break
    except OSError:  # not Linux: the processor's name is the best description there is
        flags = platform.processor()
    return f"{platform.machine() or 'cpu'}-{hashlib.sha256(flags.encode()).hexdigest()[:12]}"


def enable_compilation_cache(directory: str | os.PathLike | None = None) -> Path:
    """Cache compiled programs under ``$JAX_COMPILATION_CACHE_DIR`` or ``~/.cache/locomimic/jax``, in
    one folder per CPU kind (:func:`cpu_kind`); returns that folder."""
    root = Path(directory or os.environ.get("JAX_COMPILATION_CACHE_DIR") or Path.home() / ".cache/locomimic/jax")
    path = root / cpu_kind()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
