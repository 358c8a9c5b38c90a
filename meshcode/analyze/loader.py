"""YAML from disk → Resources that remember their file and line (the I/O edge of `meshcode lint`).

libyaml composes each document into nodes (which carry line marks); a small converter turns the
nodes into plain dicts and lists. It gives what `yaml.safe_load` gives (scalars other than
strings go through PyYAML's own safe constructors) at about twice the speed of PyYAML's
generator-based constructor; documents it does not handle (merge keys, !!set/!!omap, custom
tags, recursive anchors) fall back to that constructor. Multi-document files and `kind: List`
(or `*List`) wrappers are flattened, each item keeping its own line.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
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


class _Resolver(_Loader):  # type: ignore[misc, valid-type]
    """Implicit tag resolution memoised per (kind, value, implicit): manifests repeat most scalars."""

    def __init__(self, stream: str, memo: dict[tuple, str]):
        super().__init__(stream)
        self._memo = memo

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        key = (kind, value, implicit)
        try:
            return self._memo[key]
        except KeyError:
            tag = self._memo[key] = super().resolve(kind, value, implicit)
            return tag
        except TypeError:  # an unhashable value: resolve without the memo
            return super().resolve(kind, value, implicit)


class _Fallback(Exception):
    """The document needs PyYAML's full constructor."""


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _converter(loader: Any) -> Any:
    scalars = loader.yaml_constructors
    scalar_node, mapping_node = yaml.ScalarNode, yaml.MappingNode

    def convert(node: yaml.Node, shared: dict[int, Any]) -> Any:
        cls = node.__class__
        if cls is scalar_node:
            if node.tag == _STR:
                return node.value
            construct = scalars.get(node.tag)
            if construct is None:
                raise _Fallback
            return construct(loader, node)
        done = shared.get(id(node))  # an alias: the same object, as PyYAML gives
        if done is not None:
            return done
        if cls is mapping_node:
            if node.tag != _MAP:
                raise _Fallback
            mapping: dict[Any, Any] = {}
            shared[id(node)] = mapping
            for k, v in node.value:
                if k.tag == "tag:yaml.org,2002:merge":
                    raise _Fallback
                mapping[convert(k, shared)] = convert(v, shared)
            return mapping
        if node.tag != _SEQ:
            raise _Fallback
        sequence: list[Any] = []
        shared[id(node)] = sequence
        sequence.extend(convert(x, shared) for x in node.value)
        return sequence

    return convert


def _documents(text: str, memo: dict[tuple, str] | None = None) -> Iterator[tuple[yaml.Node, Any]]:
    """(node, document) for each document; the node only serves line lookups."""
    loader = _Resolver(text, {} if memo is None else memo)
    convert = _converter(loader)
    try:
        while loader.check_node():
            node = loader.get_node()
            try:
                doc = convert(node, {})
            except (_Fallback, TypeError, RecursionError):
                doc = loader.construct_document(node)
            yield node, doc
    finally:
        loader.dispose()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Loading allocates many small acyclic objects; pausing the cycle collector meanwhile keeps
    the load linear (each full collection walks every object loaded so far)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


def parse_text(text: str, file: str, memo: dict[tuple, str] | None = None) -> tuple[list[Resource], list[Finding]]:
    """Every Kubernetes object in one file's text, and findings for what is not one."""
    resources: list[Resource] = []
    findings: list[Finding] = []

    def skip(line: int, why: str) -> None:
        findings.append(Finding("MC5002", level_of("MC5002"), why, location=SourceLocation(file, line)))

    try:
        for node, doc in _documents(text, memo):
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
                        skip(item_line, f"item {i} of {kind} is not a Kubernetes object "
                                        "(apiVersion, kind, metadata.name)")
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
    got, notes = parse_text(text, str(f), memo)
    resources += got
    findings += notes

