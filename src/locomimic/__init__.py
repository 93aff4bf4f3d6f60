"""locomimic: a reproducible pipeline from motion capture to legged-robot policies.

Each stage lives in its own subpackage and is driven by a thin CLI (``python -m locomimic``) that the
Snakemake rules call, so every stage can also be run and tested on its own.
"""

__version__ = "0.1.0"
