"""Helpers for the core tests: run the CLI in-process, fingerprint an output tree, find lines."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from meshcode.cli import app

Fingerprint = dict[str, tuple[str, bytes | str, int]]


def run_cli(*args: str) -> Any:
    """`meshcode <args>` in-process; the result has exit_code, stdout, stderr and output."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def fingerprint(folder: Path) -> Fingerprint:
    """Every entry under `folder`: kind, content (or link target) and mtime in ns.

    Two equal fingerprints mean nothing was added, removed, rewritten or even touched.
    """
    out: Fingerprint = {}
    if not folder.exists():
        return out
    for dirpath, dirs, names in os.walk(folder):
        for n in sorted(dirs + names):
            p = Path(dirpath) / n
            rel = str(p.relative_to(folder))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
            elif p.is_dir():
                out[rel] = ("dir", b"", st.st_mtime_ns)
            else:
                out[rel] = ("file", p.read_bytes(), st.st_mtime_ns)
    return out


def files_of(folder: Path) -> dict[str, bytes]:
    """Relative path → bytes of every regular file under `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def line_of(source: str, marker: str) -> int:
    """1-based line of the only line in `source` containing `marker` (e.g. a `# <- bad` comment)."""
    hits = [i for i, line in enumerate(source.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} found on lines {hits}"
    return hits[0]


# ---- a small model of Istio's HTTP route selection, to assert what a request would get ----------
def _string_matches(spec: dict[str, str], value: str | None, ignore_case: bool = False) -> bool:
    if value is None:
        return False
    if ignore_case:
        spec, value = {k: v.lower() for k, v in spec.items()}, value.lower()
    if "exact" in spec:
        return value == spec["exact"]
    if "prefix" in spec:
        return value.startswith(spec["prefix"])
    if "regex" in spec:
        return re.fullmatch(spec["regex"], value) is not None
    raise AssertionError(f"unknown string match {spec}")


def _request_matches(m: dict[str, Any], req: dict[str, Any]) -> bool:
    if "uri" in m and not _string_matches(m["uri"], req.get("uri", "/"), m.get("ignoreUriCase", False)):
        return False
    if "method" in m and not _string_matches(m["method"], req.get("method", "GET")):
        return False
    headers = req.get("headers", {})
    if any(not _string_matches(s, headers.get(k)) for k, s in m.get("headers", {}).items()):
        return False
    query = req.get("query", {})
    if any(not _string_matches(s, query.get(k)) for k, s in m.get("queryParams", {}).items()):
        return False
    labels = req.get("source_labels", {})
    if any(labels.get(k) != v for k, v in m.get("sourceLabels", {}).items()):
        return False
    if "sourceNamespace" in m and req.get("source_namespace") != m["sourceNamespace"]:
        return False
    return "port" not in m or req.get("port") == m["port"]


def http_rule(vs: dict[str, Any], **req: Any) -> dict[str, Any]:
    """The first HTTP rule of a VirtualService that a request would take (Istio: first match wins).

    req: uri, method, headers, query, source_labels, source_namespace, port.
    """
    for rule in vs["spec"].get("http", []):
        matches = rule.get("match")
        if not matches or any(_request_matches(m, req) for m in matches):
            return rule
    raise AssertionError(f"no rule of {vs['metadata']['name']} takes {req}")


def split(rule: dict[str, Any]) -> dict[str, int]:
    """Where a rule sends traffic: {'host' or 'host/subset': percent}."""
    routes = rule["route"]
    out: dict[str, int] = {}
    for r in routes:
        d = r["destination"]
        key = d["host"] + (f"/{d['subset']}" if "subset" in d else "")
        out[key] = out.get(key, 0) + r.get("weight", 100 if len(routes) == 1 else 0)
    assert sum(out.values()) == 100, out
    return {k: w for k, w in out.items() if w}  # a 0% destination receives nothing
