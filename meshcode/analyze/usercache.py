"""Where the schema validator keeps what it derives from the bundled CRDs between runs.

The CRDs' JSON form (schema.py) and the CEL rules' parse trees (cel.py) live in the user's
cache folder, never in the project: they depend on meshcode's inputs only, not on the project,
and are only a speed-up (unreadable or unwritable, they are derived again).
"""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meshcode" / "crds"
