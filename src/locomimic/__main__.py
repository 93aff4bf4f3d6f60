"""Entry point for ``python -m locomimic``."""

from locomimic.cli import main

raise SystemExit(main())
