"""What `generated/` holds now, read back for checks that compare new output with the old.

`generated/` is what Argo CD applies, so its PeerAuthentication modes are the "previous" modes
an mTLS step is measured against (see `meshcode.compile.security_checks.mtls_step_findings`).
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from meshcode.compile.istio_install import ControlPlane, control_planes
from meshcode.plan import MANAGED_BY
from meshcode.safeyaml import load


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def deployed_mtls_modes(output_dir: Path) -> dict[tuple[str, str, str], str]:
    """(cluster folder, namespace, name) → mTLS mode of every PeerAuthentication meshcode wrote."""
    modes: dict[tuple[str, str, str], str] = {}
    if not output_dir.is_dir():
        return modes
    for path in sorted(output_dir.glob("*/*/peerauthentication-*.yaml")):
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
    if not output_dir.is_dir():
        return {}
    folders: dict[str, list[dict[str, Any]]] = {}
    for pattern in ("argocd/*/application-*.yaml", "*/*/istiooperator-*.yaml", "*/_cluster/namespace-*.yaml"):
        for path in sorted(output_dir.glob(pattern)):
            folders.setdefault(path.parent.parent.name, []).extend(_managed_docs([path]))
    return control_planes(folders)
