"""The schema gate: nothing is written that the API server would refuse.

Every generated object is validated against the bundled CRD schemas (OpenAPI + CEL, like an
API server: `meshcode.analyze.schema`) after the compile's checks and before anything is
rendered or written; a failure is IST0106 at the intent's line. The intent already refuses
every value it knows the CRDs reject; this is the net behind it (patches, new fields, a rule
the intent does not know yet).

Validation is the slow part of a check (cel-python interprets each rule), so objects an earlier
compile validated are not validated again: `.meshcode/validated-<digest>` keeps the content
keys of valid objects, the digest naming meshcode's version, the CRDs and the validator.
"""
from __future__ import annotations

import hashlib
import marshal
import os
from dataclasses import replace
from pathlib import Path

from meshcode._version import __version__
from meshcode.analyze import stack_location
from meshcode.analyze.schema import BUNDLED_CRDS, CrdSchemas, bundled_crds, check_schemas
from meshcode.errors import Finding
from meshcode.plan import Plan
from meshcode.render.tree import content_key


def validator_digest() -> str:
    """Changes whenever a validation result could: meshcode's version, the bundled CRDs, and the
    validator's code (by size and modification time, like the compile skip's code digest)."""
    package = Path(__file__).resolve().parents[1]
    files = [*sorted(BUNDLED_CRDS.rglob("*.yaml")), package / "analyze" / "schema.py", package / "analyze" / "cel.py",
             package / "analyze" / "cel_compile.py", package / "regex.py"]
    h = hashlib.sha256(__version__.encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def schema_gate(plan: Plan, root: Path, crds: CrdSchemas | None = None) -> list[Finding]:
    """IST0106 for every generated object a bundled CRD rejects, at the intent's line."""
    path = root / ".meshcode" / f"validated-{validator_digest()}"
    try:
        known = set(marshal.loads(path.read_bytes()))
    except (OSError, EOFError, ValueError, TypeError):
        known = set()
    valid: set[bytes] = set()
    findings: list[Finding] = []
    seen: set[int] = set()
    for folder, r in plan.resources():
        if id(r.obj) in seen:  # one object shared by several clusters is validated once
            continue
        seen.add(id(r.obj))
        key = content_key(r.obj)
        if key in known:
            valid.add(key)
            continue
        crds = crds or bundled_crds()  # read (lazily) only when something needs validating
        found = check_schemas([r], crds, folder)
        if found:
            findings += [replace(f, location=stack_location(r)) for f in found]
        else:
            valid.add(key)
    if valid != known:
        _save(path, valid)
    return findings


def _save(path: Path, valid: set[bytes]) -> None:
    """Keep this compile's valid keys (only those: the record never grows stale)."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_bytes(marshal.dumps(sorted(valid)))
        os.replace(tmp, path)
        for stale in path.parent.glob("validated-*"):  # other schemas or validator versions
            if stale != path and ".tmp-" not in stale.name:
                stale.unlink(missing_ok=True)
    except OSError:  # only a speed-up: a full or read-only disk means validating again next time
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
