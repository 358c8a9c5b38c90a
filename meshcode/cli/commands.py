"""Imports every command module so each registers its commands on the shared typer app."""
# One line per command module; keep sorted.
from meshcode.cli import canary  # noqa: F401  (canary status/step/run/promote/abort/pause/resume/replay)
from meshcode.cli import gitops  # noqa: F401  (diff)
from meshcode.cli import graph  # noqa: F401  (graph, review)
from meshcode.cli import importer  # noqa: F401  (import)
from meshcode.cli import init  # noqa: F401  (init)
from meshcode.cli import lint  # noqa: F401  (lint)
from meshcode.cli import workloads  # noqa: F401  (import-workloads)
