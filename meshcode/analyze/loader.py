"""YAML from disk → Resources that remember their file and line (the I/O edge of `meshcode lint`).

libyaml composes each document into nodes (which carry line marks) and PyYAML's constructor turns
the node into plain dicts, so line numbers cost nothing beyond the parse itself. Multi-document
files and `kind: List` (or `*List`) wrappers are flattened, each item keeping its own line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from meshcode.analyze.codes import level_of
from meshcode.errors import Finding, SourceLocation
from meshcode.plan import Resource

try:  # libyaml's parser: several times faster than the pure-Python one
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})


def yaml_files(path: Path) -> list[Path]:
    """The YAML files under a folder (sorted, hidden folders skipped), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(path).parts))
    return [path]


def _documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    """(node, constructed document) for each document; the node only serves line lookups."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def _item_lines(node: yaml.Node) -> list[int]:
    """1-based lines of the entries of a List document's `items` sequence."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def _is_object(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)
            and isinstance(doc.get("metadata"), dict) and isinstance(doc["metadata"].get("name"), str))


def parse_text(text: str, file: str) -> tuple[list[Resource], list[Finding]]:
    """Every Kubernetes object in one file's text, and findings for what is not one."""
    resources: list[Resource] = []
    findings: list[Finding] = []

    def skip(line: int, why: str) -> None:
        findings.append(Finding("MC5002", level_of("MC5002"), why, location=SourceLocation(file, line)))

    try:
        for node, doc in _documents(text):
            line = node.start_mark.line + 1
            if doc is None:
                continue
            if isinstance(doc, dict) and doc.get("kind") in KUSTOMIZATION_NAMES:
                continue
            kind = doc.get("kind") if isinstance(doc, dict) else None
            if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
                lines = _item_lines(node)
                for i, item in enumerate(doc["items"]):
                    item_line = lines[i] if i < len(lines) else line
                    if _is_object(item):
                        resources.append(Resource(item, SourceLocation(file, item_line)))
                    else:
                        skip(item_line, f"item {i} of {kind} is not a Kubernetes object (apiVersion, kind, metadata.name)")
                continue
            if _is_object(doc):
                resources.append(Resource(doc, SourceLocation(file, line)))
            else:
                skip(line, "not a Kubernetes object (needs apiVersion, kind and metadata.name); not checked")
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
    for path in paths:
        for f in yaml_files(Path(path)):
            if f.name in KUSTOMIZATION_NAMES:
                continue
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                findings.append(Finding("MC5001", level_of("MC5001"), f"cannot read: {e}",
                                        location=SourceLocation(str(f), 1)))
                continue
            got, notes = parse_text(text, str(f))
            resources += got
            findings += notes
    return resources, findings
