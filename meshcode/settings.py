"""Project settings: folders and GitOps options from `[tool.meshcode]` in pyproject.toml."""
from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from meshcode.errors import MeshcodeError


class Settings(BaseModel):
    """Where things live; every path is relative to the project root."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stacks: str = "stacks"
    output: str = "generated"
    state: str = "state"
    repo_url: str | None = None
    target_revision: str = "HEAD"
    prometheus: str | dict[str, str] | None = None  # URL, or {cluster = URL} per cluster (canary gates)
    workloads: str | None = None


def find_root(start: Path) -> Path:
    """The nearest folder upwards holding a pyproject.toml or a stacks/ folder."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file() or (d / "stacks").is_dir():
            return d
    return start


def load_settings(root: Path) -> Settings:
    path = root / "pyproject.toml"
    if not path.is_file():
        return Settings()
    try:
        data = tomllib.loads(path.read_text()).get("tool", {}).get("meshcode", {})
        return Settings(**data)
    except (tomllib.TOMLDecodeError, ValidationError) as e:
        raise MeshcodeError(f"[tool.meshcode] in {path}: {e}") from None
