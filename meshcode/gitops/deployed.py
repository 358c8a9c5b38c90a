"""What `generated/` holds now, read back for checks that compare new output with the old.

`generated/` is what Argo CD applies, so its PeerAuthentication modes are the "previous" modes
an mTLS step is measured against (see `meshcode.compile.security_checks.mtls_step_findings`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from meshcode.compile.istio_install import ControlPlane, control_planes
from meshcode.gitops.tree import read_manifest
from meshcode.plan import MANAGED_BY
from meshcode.safeyaml import load


def _owned(output_dir: Path, pattern: str) -> list[Path]:
    """Files meshcode wrote (its manifest: what the kustomizations, so Argo CD, apply) matching
    `pattern` (three '/'-separated fnmatch parts), without listing the folders of a large tree."""
    first, second, name = pattern.split("/")
    stem = name.split("*")[1] if name.startswith("*") else name.split("*")[0]
    found = []
    for rel in read_manifest(output_dir):
        if stem in rel and rel.count("/") == 2:
            a, b, c = rel.split("/")
            if fnmatchcase(a, first) and fnmatchcase(b, second) and fnmatchcase(c, name):
                found.append(output_dir / rel)
    return sorted(found)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def deployed_mtls_modes(output_dir: Path) -> dict[tuple[str, str, str], str]:
    """(cluster folder, namespace, name) → mTLS mode of every PeerAuthentication meshcode wrote."""
    modes: dict[tuple[str, str, str], str] = {}
    for path in _owned(output_dir, "*/*/peerauthentication-*.yaml"):
        try:
            doc = load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # an unreadable file (edited by hand) is not evidence of a mode
        if not isinstance(doc, dict) or doc.get("kind") != "PeerAuthentication":
            continue
        meta = _dict(doc.get("metadata"))
        if _dict(meta.get("labels")).get(MANAGED_BY) != "meshcode":
            continue
        mode = _dict(_dict(doc.get("spec")).get("mtls")).get("mode")
        namespace, name = meta.get("namespace") or path.parent.name, meta.get("name") or ""
        if isinstance(mode, str) and isinstance(namespace, str) and isinstance(name, str):
            cluster = path.parent.parent.name
            modes[(cluster, namespace, name)] = mode
    return modes


def _managed_docs(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        try:
            doc = load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # an unreadable file (edited by hand) is not evidence
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("labels"), dict) and \
                meta["labels"].get(MANAGED_BY) == "meshcode":
            yield doc


def deployed_control_planes(output_dir: Path) -> dict[str, ControlPlane]:
    """Per cluster, the revisions, tags and namespace injection meshcode last wrote to `generated/`."""
    folders: dict[str, list[dict[str, Any]]] = {}
    for pattern in ("argocd/*/application-*.yaml", "*/*/istiooperator-*.yaml", "*/_cluster/namespace-*.yaml"):
        for path in _owned(output_dir, pattern):
            folders.setdefault(path.parent.parent.name, []).extend(_managed_docs([path]))
    return control_planes(folders)
