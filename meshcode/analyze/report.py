"""Findings → text: a readable table, a JSON array, or SARIF 2.1.0 for code-scanning UIs. Pure."""
from __future__ import annotations

import json
from typing import Any

from meshcode.codes import CODES, Code
from meshcode.errors import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def as_record(f: Finding) -> dict[str, Any]:
    """The JSON shape of one finding (file and line are null when it has no location)."""
    return {
        "code": f.code,
        "level": f.level,
        "kind": f.kind,
        "namespace": f.namespace,
        "name": f.name,
        "message": f.message,
        "file": f.location.file if f.location else None,
        "line": f.location.line if f.location else None,
    }


def to_json(findings: list[Finding]) -> str:
    return json.dumps([as_record(f) for f in findings], indent=2) + "\n"


def summary(findings: list[Finding], objects: int) -> str:
    counts = {level: sum(1 for f in findings if f.level == level) for level in ("error", "warning", "info")}
    parts = [f"{n} {level}{'s' if n != 1 and level != 'info' else ''}" for level, n in counts.items()]
    return f"{', '.join(parts)} in {objects} object{'s' if objects != 1 else ''}"


def to_table(findings: list[Finding], objects: int) -> str:
    rows = []
    for f in findings:
        where = f"{f.location.file}:{f.location.line}" if f.location else "-"
        obj = f"{f.kind} {f.namespace + '/' if f.namespace else ''}{f.name}".strip() or "-"
        if f.cluster:
            obj += f" [{f.cluster}]"
        rows.append((where, f.level, f.code, obj, f.message))
    lines = []
    if rows:
        header = ("LOCATION", "LEVEL", "CODE", "OBJECT", "MESSAGE")
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
        for row in [header] + rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    lines.append(summary(findings, objects) if findings else f"no problems found in {objects} objects")
    return "\n".join(lines) + "\n"


def _rule(code: str, findings: list[Finding]) -> dict[str, Any]:
    """A SARIF rule: from the code table, or (codes other checks add) from the first finding."""
    c = CODES.get(code)
    if c is None:
        first = next(f for f in findings if f.code == code)
        c = Code(code, first.level, code, first.message)
    return {
        "id": c.code,
        "name": c.name,
        "shortDescription": {"text": c.description},
        "helpUri": c.help_uri,
        "defaultConfiguration": {"level": SARIF_LEVELS[c.level]},
    }


def to_sarif(findings: list[Finding], version: str) -> str:
    codes = sorted(set(CODES) | {f.code for f in findings})
    index = {code: i for i, code in enumerate(codes)}
    rules = [_rule(code, findings) for code in codes]
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": SARIF_LEVELS[f.level],
            "message": {"text": f.message},
            "locations": [],
        }
        if f.location:
            location: dict[str, Any] = {"physicalLocation": {
                "artifactLocation": {"uri": f.location.file.replace("\\", "/")},
                "region": {"startLine": max(f.location.line, 1)},
            }}
            if f.kind:
                name = f"{f.kind}/{f.namespace + '/' if f.namespace else ''}{f.name}"
                location["logicalLocations"] = [{"fullyQualifiedName": name, "kind": "resource"}]
            result["locations"].append(location)
        if f.cluster:
            result["properties"] = {"cluster": f.cluster}
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "meshcode",
                "version": version,
                "informationUri": "https://github.com/meshcode-dev/meshcode",
                "rules": rules,
            }},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
