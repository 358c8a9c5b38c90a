"""Checks of mesh config against the workloads that really run: Deployments, StatefulSets, Services.

No schema catches a subset whose labels select no pod, or a route to a Service nobody
deployed; the workload manifests (plain Kubernetes YAML, or a cdk8s app's `dist/`) do.
Loading is the I/O edge (`load_workloads`); every check is a pure function
`(resources, workloads) -> findings`, shared by `meshcode compile` and `meshcode lint`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from meshcode.codes import level_of
from meshcode.analyze.index import as_dict, as_list, managed, namespace_of, spec_of
from meshcode.analyze.loader import load_paths, parse_text
from meshcode.analyze.services import istio_protocol, port_problems
from meshcode.errors import Finding, WorkloadsError
from meshcode.istio import route_destinations, service_key
from meshcode.plan import Plan, Resource

Check = Callable[[list[Resource], list[Resource]], list[Finding]]

#: kind → path from the object to its pod template (the labels pods will carry)
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
WORKLOAD_KINDS = frozenset(POD_TEMPLATE_PATHS) | {"Service"}
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
# Istio installs its own Services (istiod, gateways): app manifests do not carry them
CONTROL_PLANE_NAMESPACES = SYSTEM_NAMESPACES | {"istio-system"}


IST0173_TEXT = ("The Subset {subset} defined in the DestinationRule does not select any pods. "
                "Which may lead to 503 UH (NoHealthyUpstream).")


# -- loading (the I/O edge) ------------------------------------------------------------------

def _workloads_only(resources: list[Resource], findings: list[Finding]) -> list[Resource]:
    """Services and pod-owning objects; unreadable YAML is an error (a check on half the input misleads)."""
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise WorkloadsError(errors[0].message, errors[0].location)
    return [r for r in resources if r.kind in WORKLOAD_KINDS]


def parse_workloads(text: str, source: str) -> list[Resource]:
    """Services and workloads in one YAML/JSON text (each with its file and line); other kinds are skipped."""
    return _workloads_only(*parse_text(text, source))


def load_workloads(path: Path | str) -> list[Resource]:
    """Every Service and workload in a manifest file or folder (recursively), in path order."""
    path = Path(path)
    if not path.exists():
        raise WorkloadsError(f"no workload manifests at {path} (give a YAML file or a folder, e.g. a cdk8s dist/)")
    return _workloads_only(*load_paths([path]))


# -- reading workloads -----------------------------------------------------------------------

def pod_template(r: Resource) -> dict[str, Any] | None:
    """The pod template of a workload (the object itself for a Pod), or None for other kinds."""
    path = POD_TEMPLATE_PATHS.get(r.kind)
    if path is None:
        return None
    node: Any = r.obj
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def pod_labels(r: Resource) -> dict[str, str] | None:
    template = pod_template(r)
    if template is None:
        return None
    return _labels(as_dict(template.get("metadata")).get("labels"))


def service_account(r: Resource) -> str:
    spec = as_dict((pod_template(r) or {}).get("spec"))
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    return account if isinstance(account, str) and account else "default"


def _labels(value: Any) -> dict[str, str]:
    """A label map as Kubernetes reads it (values as strings); anything else is no labels."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def selector_of(service: Resource) -> dict[str, str]:
    return _labels(spec_of(service).get("selector"))


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def format_labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"


@dataclasses.dataclass(frozen=True)
class WorkloadIndex:
    """Workloads by namespace and Services by (namespace, name): each check looks up, never scans all."""

    services: dict[tuple[str, str], Resource]
    pods: dict[str, list[tuple[dict[str, str], Resource]]]

    @classmethod
    def of(cls, workloads: Iterable[Resource]) -> "WorkloadIndex":
        services: dict[tuple[str, str], Resource] = {}
        pods: dict[str, list[tuple[dict[str, str], Resource]]] = {}
        for w in workloads:
            if w.kind == "Service":
                services.setdefault((namespace_of(w), w.name), w)
                continue
            labels = pod_labels(w)
            if labels is not None:
                pods.setdefault(namespace_of(w), []).append((labels, w))
        return cls(services, pods)

    def matching(self, namespace: str, selector: dict[str, str]) -> list[Resource]:
        return [w for labels, w in self.pods.get(namespace, ()) if selects(selector, labels)]

    def any_matching(self, namespace: str, selector: dict[str, str]) -> bool:
        return any(selects(selector, labels) for labels, _ in self.pods.get(namespace, ()))


def pod_ports(workloads: Iterable[Resource]) -> dict[tuple[str, str, int], int]:
    """(namespace, Service, service port) → the port its pods listen on (`targetPort`, a named
    container port resolved in the pods the Service selects; absent: the port itself).

    The compiler takes this as plain data so authorization rules name the ports that match.
    """
    index = WorkloadIndex.of(workloads)
    out: dict[tuple[str, str, int], int] = {}
    for (ns, name), svc in sorted(index.services.items()):
        selector = selector_of(svc)
        for port in as_list(spec_of(svc).get("ports")):
            port = as_dict(port)
            number, target = port.get("port"), port.get("targetPort", port.get("port"))
            if not isinstance(number, int):
                continue
            if isinstance(target, str) and selector:
                found = [c.get("containerPort") for w in index.matching(ns, selector)
                         for c in _containers_ports(w) if c.get("name") == target]
                target = found[0] if found and isinstance(found[0], int) else None
            if isinstance(target, int) and 1 <= target <= 65535:
                out[(ns, name, number)] = target
    return out


def _containers_ports(w: Resource) -> list[dict[str, Any]]:
    spec = as_dict((pod_template(w) or {}).get("spec"))
    return [as_dict(p) for c in as_list(spec.get("containers")) for p in as_list(as_dict(c).get("ports"))]


def _route_hosts(spec: dict[str, Any]) -> Iterator[str]:
    """Destination hosts of a VirtualService's http/tcp/tls routes and mirrors."""
    for _where, _what, d in route_destinations(spec):
        host = d.get("host")
        if isinstance(host, str) and host:
            yield host


def _mesh_bound(spec: dict[str, Any]) -> bool:
    gateways = as_list(spec.get("gateways"))
    return not gateways or "mesh" in gateways


def _entry_hosts(resources: Iterable[Resource]) -> set[str]:
    return {h for r in resources if r.kind == "ServiceEntry" for h in as_list(spec_of(r).get("hosts"))
            if isinstance(h, str)}


def _finding(code: str, message: str, r: Resource) -> Finding:
    return Finding(code, level_of(code), message, r.kind, r.namespace, r.name, r.origin)


# -- checks ----------------------------------------------------------------------------------

def check_subsets_select_pods(resources: list[Resource], workloads: list[Resource]) -> list[Finding]:
    """IST0173: a DestinationRule subset whose labels (with the Service's selector) select no pod.

    Traffic routed to such a subset fails with 503 UH. Like istioctl, a host without a
    Kubernetes Service is skipped here (check_declared_services reports it).
    """
    index = WorkloadIndex.of(workloads)
    entries = _entry_hosts(resources)
    out: list[Finding] = []
    for r in resources:
        subsets = [as_dict(x) for x in as_list(spec_of(r).get("subsets"))] if r.kind == "DestinationRule" else []
        host = spec_of(r).get("host")
        if not subsets or not isinstance(host, str):
            continue
        key = service_key(host, namespace_of(r))
        if key is None or host in entries or key not in index.services:
            continue
        base = selector_of(index.services[key])
        for subset in subsets:
            selector = {**base, **_labels(subset.get("labels"))}
            if not index.any_matching(key[0], selector):
                detail = f" (no pod template in namespace {key[0]} carries {format_labels(selector)})"
                out.append(_finding("IST0173", IST0173_TEXT.format(subset=subset.get("name", "")) + detail, r))
    return out


def check_service_ports(resources: list[Resource], workloads: list[Resource]) -> list[Finding]:
    """IST0118 / IST0150 on the workload manifests' Services (meshcode/analyze/services.py)."""
    return [_finding(code, message, w) for w in workloads if w.kind == "Service" for code, message in port_problems(w)]


def check_service_selectors(resources: list[Resource], workloads: list[Resource]) -> list[Finding]:
    """MC6001: a Service whose selector matches no workload in its namespace has no endpoints."""
    index = WorkloadIndex.of(workloads)
    out: list[Finding] = []
    for w in workloads:
        selector = selector_of(w) if w.kind == "Service" else None
        if not selector or spec_of(w).get("type") == "ExternalName":
            continue
        ns = namespace_of(w)
        if not index.any_matching(ns, selector):
            out.append(_finding("MC6001",
                                f"the selector {format_labels(selector)} matches no workload in namespace {ns}; "
                                "the Service has no endpoints", w))
    return out


def check_declared_services(resources: list[Resource], workloads: list[Resource]) -> list[Finding]:
    """MC6002: a service meshcode declares or routes to has no Kubernetes Service.

    A meshcode Service's DestinationRule/VirtualService name its host; routes name their
    destinations. Only meshcode's own objects are judged: for hand-written YAML, `meshcode lint`
    reports a missing host as istioctl does (IST0174, IST0101) once it sees the workloads'
    Services. Hosts of ServiceEntries are not Kubernetes Services, and the control plane's own
    Services (istiod, gateways in istio-system) are not in app manifests: both are skipped.
    """
    index = WorkloadIndex.of(workloads)
    entries = _entry_hosts(resources)
    owner: dict[tuple[str, str], tuple[Resource, str]] = {}
    referrer: dict[tuple[str, str], tuple[Resource, str]] = {}
    for r in resources:
        if not managed(r):
            continue
        ns = namespace_of(r)
        spec = spec_of(r)
        if r.kind == "DestinationRule":
            own, used = [spec.get("host")], []
        elif r.kind == "VirtualService":
            own = as_list(spec.get("hosts")) if _mesh_bound(spec) else []
            used = list(_route_hosts(spec))
        else:
            continue
        for hosts, seen in ((own, owner), (used, referrer)):
            for host in hosts:
                key = service_key(host, ns) if isinstance(host, str) else None
                if (key is not None and host not in entries and key not in index.services
                        and key[0] not in CONTROL_PLANE_NAMESPACES):
                    seen.setdefault(key, (r, host))
    out: list[Finding] = []
    for key in sorted(owner.keys() | referrer.keys()):
        r, host = owner.get(key) or referrer[key]
        ns, name = key
        verb = "declares" if key in owner else "routes to"
        out.append(_finding("MC6002",
                            f"the mesh {verb} {host}, but the workloads have no Kubernetes Service {name} "
                            f"in namespace {ns}; its traffic has nowhere to go", r))
    return out


MESH_CHECKS: list[Check] = [check_subsets_select_pods, check_declared_services]  # the mesh config vs workloads
WORKLOAD_ONLY_CHECKS: list[Check] = [check_service_ports, check_service_selectors]  # the workloads alone
WORKLOAD_CHECKS: list[Check] = MESH_CHECKS + WORKLOAD_ONLY_CHECKS


def check_workloads(resources: list[Resource], workloads: list[Resource]) -> list[Finding]:
    """Every workload check, findings in a stable order."""
    findings: list[Finding] = []
    for check in WORKLOAD_CHECKS:
        findings += check(resources, workloads)
    return sorted(findings, key=Finding.sort_key)


def check_clusters(clusters: dict[str, list[Resource]], workloads: list[Resource]) -> list[Finding]:
    """For `meshcode lint`: the mesh checks per cluster (findings name it), the workload-only ones once."""
    findings: list[Finding] = []
    for cluster, resources in clusters.items():
        for check in MESH_CHECKS:
            findings += [dataclasses.replace(f, cluster=cluster) for f in check(resources, workloads)]
    for check in WORKLOAD_ONLY_CHECKS:
        findings += check([], workloads)
    return sorted(findings, key=Finding.sort_key)


def plan_resources(plan: Plan) -> list[Resource]:
    """Each resource of a plan once (clusters share objects), in folder order."""
    seen: set[int] = set()
    out: list[Resource] = []
    for _, r in plan.resources():
        if id(r.obj) not in seen:
            seen.add(id(r.obj))
            out.append(r)
    return out


def relative_to(findings: Iterable[Finding], root: Path) -> list[Finding]:
    """Findings with locations relative to the project root, as compile errors print them."""
    return [dataclasses.replace(f, location=f.location.relative_to(root)) if f.location else f for f in findings]


def analyze_workloads(plan: Plan, workloads: list[Resource], root: Path | None = None) -> list[Finding]:
    """The workload checks over a compiled plan; locations relative to `root` when given."""
    findings = check_workloads(plan_resources(plan), workloads)
    return relative_to(findings, root) if root is not None else findings


__all__ = [
    "MESH_CHECKS", "WORKLOAD_CHECKS", "WORKLOAD_ONLY_CHECKS", "WorkloadIndex", "WorkloadsError",
    "analyze_workloads", "check_clusters", "check_declared_services", "check_service_ports",
    "check_service_selectors", "check_subsets_select_pods", "check_workloads", "istio_protocol", "load_workloads",
    "parse_workloads", "pod_labels", "selector_of", "service_account", "service_key",
]
