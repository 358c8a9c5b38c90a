"""Canary state on disk: one JSON file per canary under state/canaries/<mesh>/<namespace>/."""
from __future__ import annotations

import json
import os
from pathlib import Path

from meshcode.state.canary import CanaryState
from meshcode.errors import StateError


def state_path(state_dir: Path, key: str) -> Path:
    mesh, namespace, name = key.split("/")
    return state_dir / "canaries" / mesh / namespace / f"{name}.json"


def load_state(state_dir: Path, key: str) -> CanaryState | None:
    """One canary's committed state, or None before its rollout has begun."""
    path = state_path(state_dir, key)
    try:
        return CanaryState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise StateError(f"canary state {path} is not valid: {e}") from None


def load_states(state_dir: Path) -> dict[str, CanaryState]:
    """Every committed canary state, keyed '<mesh>/<namespace>/<name>'."""
    out: dict[str, CanaryState] = {}
    base = state_dir / "canaries"
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*/*/*.json")):
        mesh, namespace = path.parent.parent.name, path.parent.name
        try:
            out[f"{mesh}/{namespace}/{path.stem}"] = CanaryState.model_validate_json(path.read_bytes())
        except ValueError as e:
            raise StateError(f"canary state {path} is not valid: {e}") from None
    return out


def state_bytes(state: CanaryState) -> bytes:
    return (json.dumps(state.model_dump(mode="json"), indent=2, sort_keys=True) + "\n").encode()


def save_state(state_dir: Path, key: str, state: CanaryState) -> Path:
    """Write atomically (temp file + rename) so a killed job never leaves half a state."""
    path = state_path(state_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.tmp-{os.getpid()}")
    tmp.write_bytes(state_bytes(state))
    os.replace(tmp, path)
    return path
