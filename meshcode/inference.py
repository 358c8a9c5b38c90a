"""Service intent inferred from the workloads that run today, printed as a Python stack.

`meshcode import-workloads` lets a team start from what is deployed instead of a blank file:
each Kubernetes Service becomes a `Service(...)` with its ports (protocols from port names or
`appProtocol`, as Istio reads them), the versions its pods carry in their `version` label,
and their service account. Pure: workloads in, source text out.
"""
from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass, field

from meshcode.analyze.index import as_dict, as_list, spec_of
from meshcode.analyze.workloads import (
    WorkloadIndex, istio_protocol, namespace_of, pod_labels, selector_of, service_account,
)
from meshcode.intent.base import DNS_LABEL_RE
from meshcode.plan import Resource

#: Istio's protocol name → meshcode's Port protocol
PROTOCOLS = {"http": "HTTP", "http_proxy": "HTTP", "grpc-web": "HTTP", "http2": "HTTP2", "grpc": "GRPC",
             "https": "HTTPS", "tls": "TLS", "tcp": "TCP", "mongo": "MONGO", "redis": "REDIS", "mysql": "MYSQL"}
VERSION_LABEL = "version"


@dataclass(frozen=True)
class InferredPort:
    number: int
    protocol: str
    name: str | None = None
    target_port: int | None = None


@dataclass(frozen=True)
class InferredVersion:
    name: str
    labels: dict[str, str] | None = None  # only when the label value is not a valid version name


@dataclass
class InferredService:
    name: str
    namespace: str
    ports: list[InferredPort] = field(default_factory=list)
    versions: list[InferredVersion] = field(default_factory=list)
    service_account: str | None = None
    comments: list[str] = field(default_factory=list)


def _natural(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _version(value: str) -> InferredVersion:
    if DNS_LABEL_RE.match(value) and len(value) <= 63:
        return InferredVersion(value)
    name = re.sub(r"[^a-z0-9-]+", "-", value.lower())[:63].strip("-") or "unversioned"
    return InferredVersion(name, {VERSION_LABEL: value})


def infer_port(port: dict) -> tuple[InferredPort | None, str | None]:
    """A meshcode port from a Service port, or None and why it was left out."""
    number = port.get("port") if isinstance(port.get("port"), int) else 0
    name = port.get("name") if isinstance(port.get("name"), str) and port.get("name") else None
    if not 1 <= number <= 65535:
        return None, f"port {port.get('port')!r} is not a port number; left out"
    if str(port.get("protocol", "TCP")).upper() == "UDP":
        return None, f"port {number} is UDP, which the mesh does not route; left out"
    detected = istio_protocol(str(port.get("appProtocol") or name or ""), number)
    comment = None
    if detected is None:
        comment = (f"port {number} ({name or 'unnamed'}) names no protocol Istio knows (IST0118); "
                   "assumed TCP: rename it http-<name> if it serves HTTP")
    protocol = PROTOCOLS.get(detected or "tcp", "TCP")
    target = port.get("targetPort")
    target_port = target if isinstance(target, int) and target != number else None
    if isinstance(target, str):
        comment = f"port {number} targets the named container port {target!r}; give target_port= if it differs"
    default_name = f"{protocol.lower()}-{number}"
    keep_name = name if name and name != default_name and DNS_LABEL_RE.match(name) else None
    return InferredPort(number, protocol, keep_name, target_port), comment


def infer_services(workloads: list[Resource]) -> tuple[list[InferredService], list[str]]:
    """Services (sorted by namespace and name) and notes about workloads no Service selects."""
    index = WorkloadIndex.of(workloads)
    services: list[InferredService] = []
    dropped: list[str] = []
    selected: set[int] = set()
    for (ns, name), svc in sorted(index.services.items()):
        spec = spec_of(svc)
        if spec.get("type") == "ExternalName":
            continue
        out = InferredService(name, ns)
        for p in map(as_dict, as_list(spec.get("ports"))):
            port, comment = infer_port(p)
            if port:
                out.ports.append(port)
            if comment:
                out.comments.append(comment)
        selector = selector_of(svc)
        pods = index.matching(ns, selector) if selector else []
        selected.update(id(w) for w in pods)
        if not selector:
            out.comments.append("no selector: its endpoints are managed outside Kubernetes workloads")
        elif not pods:
            out.comments.append(f"its selector {selector} matches no workload in the manifests")
        versions = sorted({(pod_labels(w) or {}).get(VERSION_LABEL, "") for w in pods}, key=_natural)
        if "" in versions and len(versions) > 1:
            out.comments.append(f"some of its workloads have no '{VERSION_LABEL}' label; subsets cannot select them")
        out.versions = [_version(v) for v in versions if v]
        accounts = sorted({service_account(w) for w in pods})
        if len(accounts) == 1 and not DNS_LABEL_RE.match(accounts[0]):
            out.comments.append(f"its service account {accounts[0]!r} is not a DNS label meshcode accepts; left out")
        elif len(accounts) == 1:
            out.service_account = accounts[0] if accounts[0] != name else None
        elif len(accounts) > 1:
            out.comments.append(f"its workloads run as several service accounts ({', '.join(accounts)}); "
                                "set service_account= to the one callers should trust")
        if not out.ports:
            dropped.append(f"Service {ns}/{name} has no port the mesh can route; left out")
            continue
        services.append(out)
    notes = [f"{w.kind} {namespace_of(w)}/{w.name} is selected by no Service; left out"
             for pairs in index.pods.values() for _, w in pairs if id(w) not in selected]
    return services, sorted(notes + dropped)


def q(text: str) -> str:
    """A Python string literal: JSON escapes quotes, backslashes, control and non-ASCII characters,
    and every JSON string is a valid Python literal with the same value."""
    return json.dumps(text)


def printable(text: str) -> str:
    """`text` with every non-printable character (newlines, CR, U+2028, NUL…) as its escape.

    What import-workloads prints in comments and the docstring comes from the manifests (names,
    labels, selectors) or the command line: a raw newline there would end the comment and make
    the rest executable Python in the stack the user runs.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def comment(text: str) -> str:
    return f"# {printable(text)}"


def docstring_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring: no escape, quote or line break of its own."""
    return printable(text.replace("\\", "\\\\").replace('"', '\\"'))


def identifier(name: str, taken: set[str]) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)  # ASCII: every result is a Python identifier
    if not ident or ident[0].isdigit():
        ident = f"svc_{ident}"
    if keyword.iskeyword(ident) or ident in {"mesh", "Cluster", "Mesh", "Port", "Service", "Version"}:
        ident += "_"
    base, n = ident, 2
    while ident in taken:
        ident, n = f"{base}_{n}", n + 1
    taken.add(ident)
    return ident


def port_source(p: InferredPort) -> str:
    args = [str(p.number), q(p.protocol)]
    if p.name:
        args.append(f"name={q(p.name)}")
    if p.target_port:
        args.append(f"target_port={p.target_port}")
    return f"Port({', '.join(args)})"


def version_source(v: InferredVersion) -> str:
    if v.labels is None:
        return q(v.name)
    labels = ", ".join(f"{q(k)}: {q(val)}" for k, val in v.labels.items())
    return f"Version({q(v.name)}, labels={{{labels}}})"


def render_stack(services: list[InferredService], notes: list[str], *, source: str,
                 mesh: str = "imported", cluster: str = "default") -> str:
    """A stack file declaring the services and one Mesh holding them."""
    taken: set[str] = set()
    names = {id(s): identifier(s.name if [t.name for t in services].count(s.name) == 1
                               else f"{s.name}_{s.namespace}", taken) for s in services}
    lines = [f'"""Services inferred by `meshcode import-workloads {docstring_text(source)}` from the workloads '
             'running today.',
             "", "Review before use: routing, canaries and policies are yours to add.", '"""']
    lines.append("from meshcode import Cluster, Mesh, Port, Service"
                 + (", Version" if any(v.labels for s in services for v in s.versions) else ""))
    if notes:
        lines.append("")
    lines += [comment(note) for note in notes]
    for s in services:
        lines.append("")
        lines += [comment(c) for c in s.comments]
        lines.append(f"{names[id(s)]} = Service(")
        lines.append(f"    {q(s.name)}, namespace={q(s.namespace)},")
        lines.append(f"    ports=[{', '.join(port_source(p) for p in s.ports)}],")
        if s.versions:
            lines.append(f"    versions=[{', '.join(version_source(v) for v in s.versions)}],")
        if s.service_account:
            lines.append(f"    service_account={q(s.service_account)},")
        lines.append(")")
    lines.append("")
    members = ", ".join(names[id(s)] for s in services)
    lines.append(f"mesh = Mesh({q(mesh)}, clusters=[Cluster({q(cluster)})], services=[{members}])")
    return "\n".join(lines) + "\n"


__all__ = ["InferredPort", "InferredService", "InferredVersion", "infer_port", "infer_services", "render_stack"]
