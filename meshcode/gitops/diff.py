"""What a compile would change, object by object: pure comparison of two generated trees.

Both sides are `{path relative to the output folder: bytes}` (what meshcode owns there).
Objects are matched by cluster folder, kind, namespace and name; a changed object carries its
RFC 6902 JSON patch and a unified YAML diff. Per-folder kustomization.yaml files are build
metadata, not objects Argo CD applies, so they are left out.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonpatch
import yaml

from meshcode.errors import MeshcodeError
from meshcode.plan import SYNC_OPTIONS
from meshcode.safeyaml import load_all

Change = Literal["added", "changed", "removed"]
KUSTOMIZATION = "kustomization.yaml"


@dataclass(frozen=True, slots=True)
class ObjectKey:
    folder: str
    kind: str
    namespace: str
    name: str

    def describe(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One object added, changed or removed; `path` is its file relative to the output folder."""

    key: ObjectKey
    change: Change
    path: str
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    old_text: str = ""
    new_text: str = ""

    def patch(self) -> list[dict[str, Any]]:
        """RFC 6902 operations turning the old object into the new one."""
        return list(jsonpatch.make_patch(self.old or {}, self.new or {}).patch)

    def yaml_diff(self, prefix: str = "") -> list[str]:
        """Unified diff lines of the file, git style (a/… b/…, /dev/null for added or removed)."""
        a = "/dev/null" if self.change == "added" else f"a/{prefix}{self.path}"
        b = "/dev/null" if self.change == "removed" else f"b/{prefix}{self.path}"
        return list(difflib.unified_diff(self.old_text.splitlines(), self.new_text.splitlines(),
                                         a, b, lineterm=""))


@dataclass
class FolderSummary:
    folder: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0


@dataclass
class TreeDiff:
    """Every object change, in folder → path order, and the per-folder counts."""

    changes: list[ObjectChange] = field(default_factory=list)
    folders: dict[str, FolderSummary] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self) -> list[FolderSummary]:
        return [self.folders[f] for f in sorted(self.folders)]


def _objects(path: str, data: bytes) -> dict[ObjectKey, tuple[dict[str, Any], str]]:
    """The objects of one file; a file that is not YAML (edited by hand) is a clean error."""
    folder = path.split("/", 1)[0]
    try:
        text = data.decode()
        docs = load_all(text)
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise MeshcodeError(f"{path}{where} is not valid YAML: {getattr(e, 'problem', None) or e}; "
                            "`meshcode compile` rewrites it", code="MC5001") from None
    out = {}
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        key = ObjectKey(folder, str(doc.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))
        out[key] = (doc, text)
    return out


def _is_object_file(path: str) -> bool:
    return path.endswith((".yaml", ".yml")) and path.count("/") >= 1 and not (
        path.count("/") == 1 and path.endswith("/" + KUSTOMIZATION))


def diff_trees(old: Mapping[str, bytes], new: Mapping[str, bytes]) -> TreeDiff:
    """Compare two generated trees object by object; identical files are never parsed."""
    result = TreeDiff()

    def summary(folder: str) -> FolderSummary:
        return result.folders.setdefault(folder, FolderSummary(folder))

    old_objs: dict[ObjectKey, tuple[str, dict[str, Any], str]] = {}
    new_objs: dict[ObjectKey, tuple[str, dict[str, Any], str]] = {}
    for path in sorted(set(old) | set(new)):
        if not _is_object_file(path):
            continue
        a, b = old.get(path), new.get(path)
        if a == b:
            summary(path.split("/", 1)[0]).unchanged += 1
            continue
        for side, data in ((old_objs, a), (new_objs, b)):
            if data is not None:
                for key, (obj, text) in _objects(path, data).items():
                    side[key] = (path, obj, text)
    changes = []
    for key in old_objs.keys() | new_objs.keys():
        before, after = old_objs.get(key), new_objs.get(key)
        s = summary(key.folder)
        if before is None:
            changes.append(ObjectChange(key, "added", after[0], None, after[1], "", after[2]))
            s.added += 1
        elif after is None:
            changes.append(ObjectChange(key, "removed", before[0], before[1], None, before[2], ""))
            s.removed += 1
        elif before[1] == after[1]:  # same object, other bytes (e.g. a comment): nothing Argo CD sees
            s.unchanged += 1
        else:
            changes.append(ObjectChange(key, "changed", after[0], before[1], after[1], before[2], after[2]))
            s.changed += 1
    order = {"removed": 0, "changed": 1, "added": 2}
    result.changes = sorted(changes, key=lambda c: (c.key.folder, c.path, order[c.change]))
    return result


def _never_deleted(obj: dict[str, Any] | None) -> bool:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    value = notes.get(SYNC_OPTIONS) if isinstance(notes, dict) else None
    options = {o.strip() for o in value.split(",")} if isinstance(value, str) else set()
    return {"Prune=false", "Delete=false"} <= options


def namespace_warnings(diff: TreeDiff, out: str) -> list[str]:
    """A loud line per Namespace leaving the output: what Argo CD will and will not do about it."""
    lines = []
    for c in diff.changes:
        if c.change != "removed" or c.key.kind != "Namespace":
            continue
        where = f"Namespace {c.key.name} leaves {out}/{c.key.folder}/"
        if _never_deleted(c.old):
            lines.append(f"WARNING: {where}: Argo CD keeps it (it carries {SYNC_OPTIONS}: Prune=false,Delete=false) "
                         "with every workload in it, but meshcode no longer manages its labels; "
                         "delete it by hand if that is what you want")
        else:
            lines.append(f"DANGER: {where}, and the committed copy lacks {SYNC_OPTIONS}: Prune=false,Delete=false: "
                         "an Argo CD sync with prune on would DELETE the namespace and every workload in it. "
                         "Keep it in the output for one sync with the annotation first (meshcode adds it now)")
    return lines


def diff_json(diff: TreeDiff, against: str, out: str = "generated") -> dict[str, Any]:
    """The machine-readable form of `meshcode diff --format json`."""
    objects = []
    for c in diff.changes:
        item: dict[str, Any] = {"cluster": c.key.folder, "change": c.change, "kind": c.key.kind,
                                "namespace": c.key.namespace, "name": c.key.name, "path": c.path}
        if c.change == "changed":
            item["patch"] = c.patch()
        elif c.change == "added":
            item["object"] = c.new
        objects.append(item)
    warnings = namespace_warnings(diff, out)
    return {
        "against": against,
        "changed": not diff.empty,
        "clusters": [{"cluster": s.folder, "added": s.added, "changed": s.changed, "removed": s.removed,
                      "unchanged": s.unchanged} for s in diff.summary()],
        "objects": objects,
        **({"warnings": warnings} if warnings else {}),  # only when a Namespace leaves the output
    }
