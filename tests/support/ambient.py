"""Istio's ambient authorization, two stages, on top of the sidecar evaluator (tests/support/authz.py).

Per istio.io (ambient security, "Layer 4 and Layer 7 authorization policies"):
- a request to a service with a waypoint passes the waypoint first, which enforces the policies
  attached to it by `targetRefs` (the Service, or the waypoint Gateway) with the full request;
- then the destination's ztunnel enforces the selector (and namespace-wide) policies at L4 only,
  seeing the waypoint's identity as the source (ztunnel has no HTTP attributes: an ALLOW rule
  with one never matches, a DENY rule drops them — the evaluator's TCP semantics);
- without a waypoint only ztunnel runs, with the caller's identity.
Knows nothing about meshcode.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping

from tests.support.authz import Authorizer, Request, Workload


def _targets(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(policy.get("spec", {}).get("targetRefs", []))


class AmbientAuthorizer:
    def __init__(self, manifests: Iterable[Mapping[str, Any]], trust_domain: str = "cluster.local",
                 root_namespace: str = "istio-system"):
        docs = [d for d in manifests if d.get("kind") == "AuthorizationPolicy"]
        self.attached = [d for d in docs if _targets(d)]
        self.ztunnel = Authorizer([d for d in docs if not _targets(d)], root_namespace=root_namespace)
        self.trust_domain = trust_domain
        self.root = root_namespace

    def waypoint_stage(self, namespace: str, service: str, waypoint: str, request: Request) -> tuple[bool, str]:
        mine = []
        for d in self.attached:
            if d["metadata"].get("namespace") != namespace:
                continue
            if any((t["kind"] == "Service" and t["name"] == service) or (t["kind"] == "Gateway" and t["name"] == waypoint)
                   for t in _targets(d)):
                spec = {k: v for k, v in d["spec"].items() if k != "targetRefs"}
                mine.append({**d, "spec": spec})
        return Authorizer(mine, root_namespace=self.root).decide(Workload(namespace, {}, waypoint), request)

    def decide(self, workload: Workload, service: str, waypoint: str | None, request: Request) -> tuple[bool, str]:
        """The verdict for a request addressed to `service`, landing on `workload`."""
        l4 = replace(request, protocol="tcp", method=None, path=None, request_principal=None, claims={}, headers={})
        if waypoint is not None:
            ok, why = self.waypoint_stage(workload.namespace, service, waypoint, request)
            if not ok:
                return False, f"waypoint: {why}"
            l4 = replace(l4, principal=f"{self.trust_domain}/ns/{workload.namespace}/sa/{waypoint}",
                         namespace=workload.namespace)
        ok, why = self.ztunnel.decide(workload, l4)
        return ok, f"ztunnel: {why}"
