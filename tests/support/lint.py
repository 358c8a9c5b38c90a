"""Helpers for the lint tests: run the checks over YAML text, look at codes and messages."""
from __future__ import annotations

import textwrap
from functools import lru_cache

from meshcode.analyze import analyze_resources
from meshcode.analyze.loader import parse_text
from meshcode.analyze.meshconfig import MeshConfig, from_resources
from meshcode.analyze.schema import CrdSchemas, load_crds
from meshcode.errors import Finding
from tests.support.paths import CRDS


def lint_text(text: str, file: str = "test.yaml", mesh: MeshConfig | None = None) -> list[Finding]:
    """Every finding for the objects in one YAML text (dedented), loader notes included."""
    resources, notes = parse_text(textwrap.dedent(text), file)
    return notes + analyze_resources(resources, mesh=mesh or from_resources(resources))


def codes(findings: list[Finding], *, at_least: str = "info") -> list[str]:
    """The findings' codes (sorted), keeping only levels at or above `at_least`."""
    rank = {"info": 0, "warning": 1, "error": 2}
    return sorted(f.code for f in findings if rank[f.level] >= rank[at_least])


def messages(findings: list[Finding], code: str) -> list[str]:
    return [f.message for f in findings if f.code == code]


@lru_cache(maxsize=1)
def shared_crds() -> CrdSchemas:
    """The shared Istio, Gateway API and Argo CD CRDs, loaded once per test session (~3 s)."""
    return load_crds([CRDS])
