"""Helpers for multi-cluster tests: the repo's global stack, topology queries, IstioOperator schema."""
from __future__ import annotations

from typing import Any

from meshcode.intent.topology import Mesh
from meshcode.loader import load_stacks
from meshcode.plan import Plan
from tests.support.paths import ROOT

ROUTING_KINDS = frozenset({"VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar",
                           "EnvoyFilter", "WorkloadEntry", "WorkloadGroup", "AuthorizationPolicy",
                           "PeerAuthentication", "RequestAuthentication", "Telemetry", "WasmPlugin"})


def global_mesh() -> Mesh:
    """The mesh stacks/global.py defines."""
    (mesh,) = [m for m in load_stacks(ROOT / "stacks") if m.name == "global"]
    return mesh


def istioctl(mesh: Mesh) -> Mesh:
    """The same mesh installed with `istioctl` (IstioOperators) instead of Helm Applications."""
    return mesh.model_copy(update={"install": mesh.install.model_copy(update={"method": "istioctl"})})


def of_kind(plan: Plan, folder: str, kind: str) -> list[dict[str, Any]]:
    return [r.obj for r in plan.folders[folder] if r.kind == kind]


def eastwest_gateways(plan: Plan, folder: str) -> list[dict[str, Any]]:
    """Gateways exposing *.local with AUTO_PASSTHROUGH on 15443 through the east-west gateway."""
    return [g for g in of_kind(plan, folder, "Gateway")
            if g["spec"].get("selector") == {"istio": "eastwestgateway"}
            and any(s["port"]["number"] == 15443 and s.get("tls", {}).get("mode") == "AUTO_PASSTHROUGH"
                    and s.get("hosts") == ["*.local"] for s in g["spec"]["servers"])]


def locality_policies(dr: dict[str, Any]) -> list[dict[str, Any]]:
    """Every trafficPolicy of a DestinationRule that turns on locality load balancing."""
    policies = [dr["spec"].get("trafficPolicy") or {}]
    policies += [s.get("trafficPolicy") or {} for s in dr["spec"].get("subsets", [])]
    return [p for p in policies if "localityLbSetting" in p.get("loadBalancer", {})]


def _strict(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "additionalProperties": False, "required": list(required)}


_STR = {"type": "string", "minLength": 1}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_K8S = _strict({
    "env": {"type": "array", "items": _strict({"name": _STR, "value": {"type": "string"}}, ("name",))},
    "service": _strict({"ports": {"type": "array", "items": _strict(
        {"name": _STR, "port": {"type": "integer"}, "targetPort": {"type": "integer"}}, ("port",))}}),
    "nodeSelector": _STR_MAP, "podAnnotations": _STR_MAP, "serviceAnnotations": _STR_MAP,
    "replicaCount": {"type": "integer"}, "resources": {"type": "object"}, "hpaSpec": {"type": "object"},
})
_COMPONENT = _strict({"enabled": {"type": "boolean"}, "namespace": _STR, "k8s": _K8S})
_GATEWAY = _strict({"name": _STR, "label": _STR_MAP, "enabled": {"type": "boolean"}, "namespace": _STR,
                    "k8s": _K8S}, ("name",))
# Field names from Istio's IstioOperatorSpec (operator/pkg/apis/types.go) and the Helm values the
# multicluster install guides set; strict where meshcode writes, so a misspelt key fails here.
ISTIO_OPERATOR_SCHEMA: dict[str, Any] = _strict({
    "apiVersion": {"const": "install.istio.io/v1alpha1"},
    "kind": {"const": "IstioOperator"},
    "metadata": _strict({"name": _STR, "namespace": _STR, "labels": _STR_MAP, "annotations": _STR_MAP},
                        ("name",)),
    "spec": _strict({
        "profile": {"enum": ["default", "minimal", "remote", "external", "empty", "demo", "preview",
                             "ambient", "stable"]},
        "revision": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "meshConfig": {"type": "object"},
        "components": _strict({
            "base": _COMPONENT, "pilot": _COMPONENT, "cni": _COMPONENT, "ztunnel": _COMPONENT,
            "istiodRemote": _COMPONENT,
            "ingressGateways": {"type": "array", "items": _GATEWAY},
            "egressGateways": {"type": "array", "items": _GATEWAY},
        }),
        "values": _strict({
            "global": _strict({
                "meshID": _STR,
                "multiCluster": _strict({"clusterName": _STR}, ("clusterName",)),
                "network": _STR,
                "remotePilotAddress": _STR,
                "externalIstiod": {"type": "boolean"},
                "istioNamespace": _STR,
            }, ("meshID", "multiCluster", "network")),
            "istiodRemote": _strict({"injectionPath": {"type": "string", "pattern": "^/inject"},
                                     "injectionURL": {"type": "string", "pattern": "^https://"}}),
            "pilot": _strict({"configMap": {"type": "boolean"}}),
            "revisionTags": {"type": "array", "items": _STR},
        }, ("global",)),
    }, ("profile", "values")),
}, ("apiVersion", "kind", "metadata", "spec"))
