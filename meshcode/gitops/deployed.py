"""What `generated/` holds now, read back for checks that compare new output with the old.

`generated/` is what Argo CD applies, so its PeerAuthentication modes are the "previous" modes
an mTLS step is measured against (see `meshcode.compile.security_checks.mtls_step_findings`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from meshcode.plan import MANAGED_BY

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


def deployed_mtls_modes(output_dir: Path) -> dict[tuple[str, str, str], str]:
    """(cluster folder, namespace, name) → mTLS mode of every PeerAuthentication meshcode wrote."""
    modes: dict[tuple[str, str, str], str] = {}
    if not output_dir.is_dir():
        return modes
    for path in sorted(output_dir.glob("*/*/peerauthentication-*.yaml")):
        try:
            doc = yaml.load(path.read_bytes(), Loader=_Loader)
        except (OSError, yaml.YAMLError):
            continue  # an unreadable file is not evidence of a mode
        if not isinstance(doc, dict) or doc.get("kind") != "PeerAuthentication":
            continue
        meta = doc.get("metadata") or {}
        if (meta.get("labels") or {}).get(MANAGED_BY) != "meshcode":
            continue
        mode = ((doc.get("spec") or {}).get("mtls") or {}).get("mode")
        if isinstance(mode, str):
            cluster = path.parent.parent.name
            modes[(cluster, meta.get("namespace") or path.parent.name, meta.get("name") or "")] = mode
    return modes
