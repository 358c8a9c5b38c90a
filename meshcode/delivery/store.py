"""Canary state on disk: one JSON file per canary under state/canaries/<mesh>/<namespace>/.

State read from git is input like a stack: it is validated (shape, types, timezone-aware
times, and consistency with its own plan and history) and a bad file is refused with an
error naming it, so neither the compiler nor the controller ever acts on it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from meshcode.state.canary import CanaryState, state_problems
from meshcode.errors import StateError


def state_path(state_dir: Path, key: str) -> Path:
    mesh, namespace, name = key.split("/")
    return state_dir / "canaries" / mesh / namespace / f"{name}.json"


def shown(state_dir: Path, path: Path) -> str:
    """The file as users know it: relative to the project (never a machine path)."""
    try:
        return path.relative_to(state_dir.parent).as_posix()
    except ValueError:
        return path.name


def _explain(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"])
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    more = f" (+{e.error_count() - 5} more)" if e.error_count() > 5 else ""
    return "; ".join(parts) + more


def parse_state(data: bytes, where: str, check: bool = True) -> CanaryState:
    """Validate one state file's bytes; `check=False` skips the consistency rules (for replay's forensics)."""
    try:
        state = CanaryState.model_validate_json(data)
    except ValidationError as e:
        raise StateError(f"canary state {where} is not valid: {_explain(e)}; restore it from git "
                         f"(git checkout -- {where}) or fix it") from None
    except ValueError as e:
        raise StateError(f"canary state {where} is not valid: {e}") from None
    problems = state_problems(state) if check else []
    if problems:
        raise StateError(f"canary state {where} is not valid: {'; '.join(problems)}; restore it from git "
                         f"(git checkout -- {where}) or fix it (meshcode canary replay shows its history)")
    return state


def load_state(state_dir: Path, key: str, check: bool = True) -> CanaryState | None:
    """One canary's committed state, or None before its rollout has begun."""
    path = state_path(state_dir, key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"canary state {shown(state_dir, path)} cannot be read: {e.strerror}") from None
    return parse_state(data, shown(state_dir, path), check)


def load_states(state_dir: Path) -> dict[str, CanaryState]:
    """Every committed canary state, keyed '<mesh>/<namespace>/<name>'."""
    out: dict[str, CanaryState] = {}
    base = state_dir / "canaries"
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*/*/*.json")):
        mesh, namespace = path.parent.parent.name, path.parent.name
        state = load_state(state_dir, f"{mesh}/{namespace}/{path.stem}")
        if state is not None:
            out[f"{mesh}/{namespace}/{path.stem}"] = state
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
