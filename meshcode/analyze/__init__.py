"""Checks over resources: on a compiled Plan (findings point at stack lines) or on YAML from disk."""
from __future__ import annotations

from meshcode.errors import Finding
from meshcode.plan import Plan


def analyze_plan(plan: Plan) -> list[Finding]:
    """Cross-reference and policy checks over every cluster's resources."""
    return []


__all__ = ["analyze_plan"]
