"""YAML from disk → Resources that remember their file and line (the I/O edge of `meshcode lint`).

Parsing (with its bounds on aliases and depth) is `meshcode.safeyaml`'s. Multi-document files and
`kind: List` (or `*List`) wrappers are flattened, each item keeping its own line.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

import yaml

from meshcode.codes import check_failed, level_of
from meshcode.errors import Finding, SourceLocation
from meshcode.plan import Resource
from meshcode.gcpause import gc_paused
from meshcode.safeyaml import documents

SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})


def yaml_files(path: Path) -> list[Path]:
    """The YAML files under a folder (sorted, hidden folders skipped), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(path).parts))
    return [path]


def _item_lines(node: yaml.Node) -> list[int]:
    """1-based lines of the entries of a List document's `items` sequence."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


_NOT_AN_OBJECT = "not a Kubernetes object (needs apiVersion, kind and metadata.name); not checked"


def _envelope(doc: Any) -> tuple[str, str] | None:
    """None for a well-formed object; else (code, why): MC5002 for what is no Kubernetes object at
    all, IST0106 for an object whose identifying fields have the wrong type (the API server
    rejects it; no check could key it)."""
    if not isinstance(doc, dict) or not all(key in doc for key in ("apiVersion", "kind", "metadata")):
        return "MC5002", _NOT_AN_OBJECT
    metadata = doc["metadata"]
    fields = [("apiVersion", doc["apiVersion"], str), ("kind", doc["kind"], str), ("metadata", metadata, dict)]
    if isinstance(metadata, dict):
        if "name" not in metadata:
            return "MC5002", _NOT_AN_OBJECT
        fields += [(f"metadata.{key}", metadata[key], str) for key in ("name", "namespace") if key in metadata]
    for path, value, expected in fields:
        if not isinstance(value, expected):
            return "IST0106", (f"Schema validation error: {path}: must be {_type_name(expected())}, got "
                               f"{_type_name(value)}; not checked further")
    return None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def parse_text(text: str, file: str, memo: dict[tuple, str] | None = None) -> tuple[list[Resource], list[Finding]]:
    """Every Kubernetes object in one file's text, and findings for what is not one."""
    resources: list[Resource] = []
    findings: list[Finding] = []

    def add(doc: Any, line: int, what: str = "") -> None:
        problem = _envelope(doc)
        if problem is None:
            resources.append(Resource(doc, SourceLocation(file, line)))
            return
        code, why = problem
        if what and code == "MC5002":
            why = f"{what} is not a Kubernetes object (apiVersion, kind, metadata.name)"
        kind = doc.get("kind") if isinstance(doc, dict) and isinstance(doc.get("kind"), str) else ""
        findings.append(Finding(code, level_of(code), why, kind, location=SourceLocation(file, line)))

    try:
        for node, doc in documents(text, memo):
            line = node.start_mark.line + 1
            if doc is None:
                continue
            kind = doc.get("kind") if isinstance(doc, dict) else None
            if not isinstance(kind, str):
                add(doc, line)
                continue
            if kind in KUSTOMIZATION_NAMES:
                continue
            if kind.endswith("List") and isinstance(doc.get("items"), list):
                lines = _item_lines(node)
                for i, item in enumerate(doc["items"]):
                    add(item, lines[i] if i < len(lines) else line, f"item {i} of {kind}")
                continue
            add(doc, line)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        findings.append(Finding("MC5001", level_of("MC5001"), f"not valid YAML: {problem}",
                                location=SourceLocation(file, line)))
    return resources, findings


def load_paths(paths: Iterable[Path | str]) -> tuple[list[Resource], list[Finding]]:
    """Every object in the given files and folders (folders: *.yaml, *.yml, *.json, recursively)."""
    resources: list[Resource] = []
    findings: list[Finding] = []
    memo: dict[tuple, str] = {}
    with gc_paused():
        for path in paths:
            for f in yaml_files(Path(path)):
                _load_file(f, memo, resources, findings)
    return resources, findings


def _load_file(f: Path, memo: dict[tuple, str], resources: list[Resource], findings: list[Finding]) -> None:
    if f.name in KUSTOMIZATION_NAMES:
        return
    try:
        text = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        findings.append(Finding("MC5001", level_of("MC5001"), f"cannot read: {e}",
                                location=SourceLocation(str(f), 1)))
        return
    try:
        got, notes = parse_text(text, str(f), memo)
    except Exception as e:  # noqa: BLE001 - any input gives findings, never a traceback
        got, notes = [], [replace(check_failed("reading YAML", e), location=SourceLocation(str(f), 1))]
    resources += got
    findings += notes

