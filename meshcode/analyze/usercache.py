"""Where the schema validator keeps what it derives from the bundled CRDs between runs.

The CRDs' JSON form (schema.py) and the CEL rules' parse trees (cel.py) live in the user's
cache folder, never in the project: they depend on meshcode's inputs only, not on the project,
and are only a speed-up (unreadable or unwritable, they are derived again).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meshcode" / "crds"


def save_json(path: Path, data: Any) -> None:
    """Write `data` as compact JSON by temp file + rename (readers see the old file or the new one);
    any failure leaves no temp file and is ignored: the cache is only a speed-up."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError):
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
