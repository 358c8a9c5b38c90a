"""Project settings: folders and GitOps options from `[tool.meshcode]` in pyproject.toml."""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from meshcode.errors import MeshcodeError, UnsafePathError
from meshcode.redact import credential_problem, redact_url


@dataclass(frozen=True)
class Settings:
    """Where things live; every path is relative to the project root.

    A frozen dataclass checked by `from_table`, not a pydantic model: every `meshcode` command
    reads the settings, and pydantic (with the intent models it would bring) costs more start-up
    than a compile that has nothing to do.
    """

    stacks: str = "stacks"
    output: str = "generated"
    state: str = "state"
    repo_url: str | None = None
    target_revision: str = "HEAD"
    prometheus: str | dict[str, str] | None = None  # URL, or {cluster = URL} per cluster (canary gates)
    argocd: str | None = None  # Argo CD API URL: canary stages are judged only once it has synced the weight
    workloads: str | None = None

    @classmethod
    def from_table(cls, data: Any) -> "Settings":
        """Settings from `[tool.meshcode]`; ValueError naming the setting, never echoing a value (it may be a secret)."""
        if not isinstance(data, dict):
            raise ValueError("[tool.meshcode] must be a table")
        known = [f.name for f in fields(cls)]
        problems = []
        for key, value in data.items():
            if key not in known:
                guess = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {guess[0]!r}?" if guess else f" (fields: {', '.join(known)})"
                problems.append(f"unknown setting {key!r}{hint}")
            elif key == "prometheus" and isinstance(value, dict):
                if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                    problems.append(f"{key}: must be a URL, or a table of cluster = URL")
                elif problem := _credentials_problem(value):
                    problems.append(f"{key}: {problem}")
            elif not isinstance(value, str) and not (value is None and key in _OPTIONAL):
                problems.append(f"{key}: must be a string")
            elif key in _URLS and (problem := _credentials_problem(value)):
                problems.append(f"{key}: {problem}")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**data)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


_OPTIONAL = ("repo_url", "prometheus", "argocd", "workloads")  # may be absent (None)
_URLS = ("repo_url", "prometheus", "argocd")  # committed URLs: never with credentials


def _credentials_problem(v: str | dict[str, str] | None) -> str | None:
    """pyproject.toml is committed: URLs in it never carry credentials (they come from env or files)."""
    for url in (v.values() if isinstance(v, dict) else [v] if v else []):
        problem = credential_problem(url)
        if problem:
            return (f"{redact_url(url)} {problem}; pyproject.toml is committed, so give the URL without credentials: "
                    "Argo CD takes repository credentials from its own secrets, and the canary controller reads a "
                    "Prometheus bearer token from MESHCODE_PROMETHEUS_TOKEN or the file named by "
                    "MESHCODE_PROMETHEUS_TOKEN_FILE")
    return None


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
        settings = Settings.from_table(data)
    except ValueError as e:  # TOMLDecodeError too; never a value in the message: it may be a secret
        raise MeshcodeError(f"[tool.meshcode] in {path.name}: {e}") from None
    except (TypeError, AttributeError) as e:
        raise MeshcodeError(f"[tool.meshcode] in {path.name}: {e}") from None
    check_folders(root, settings, str(path))
    return settings


def written_folder_problem(root: Path, value: str, others: dict[str, str]) -> str | None:
    """Why a folder meshcode replaces or commits (`output`, `state`) is not a safe place, or None.

    The output folder is swapped out whole on every compile, so it must be a folder of its own
    inside the project: never the project itself, its parent, git's folder, or another setting's.
    """
    if not value.strip() or value.strip() in (".", "./"):
        return "is the project folder itself (meshcode replaces this folder on every compile)"
    parts = Path(value).parts
    if ".." in parts:
        return "goes up with '..'"
    if ".git" in parts or ".meshcode" in parts:
        return "is inside .git or .meshcode"
    top = root.resolve()
    target = (top / value).resolve()
    if target == top or top not in target.parents:
        return f"resolves to {target}, which is not a folder inside the project {top}"
    for name, other in others.items():
        o = (top / other).resolve()
        if o == target or o in target.parents or target in o.parents:
            return f"overlaps the {name} folder {other!r}"
    return None


def check_folders(root: Path, settings: Settings, where: str = "pyproject.toml") -> None:
    for key, others in (("output", ("stacks", "state")), ("state", ("stacks", "output"))):
        value = getattr(settings, key)
        problem = written_folder_problem(root, value, {o: getattr(settings, o) for o in others})
        if problem:
            raise UnsafePathError(f"[tool.meshcode] {key} = {value!r} in {where} {problem}; "
                                  f"use a folder of its own such as {getattr(Settings(), key)!r}")
