"""Topology intent: the mesh, its clusters, networks and localities."""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from meshcode.intent.base import DNSLabel, IntentModel, Many, PublicUrl
from meshcode.intent.dataplane import DataPlane
from meshcode.intent.edge import ExternalService, ImportedService, Ingress, SidecarScope, VirtualHost
from meshcode.intent.security import ZeroTrust
from meshcode.intent.service import Service
from meshcode.intent.telemetry import TelemetryItem
from meshcode.intent.verbatim import Verbatim


_KIND = re.compile(r"[A-Z][A-Za-z0-9]*\Z")


ISTIO_CHART_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"


class ProxyOptions(IntentModel):
    """Settings every proxy of a cluster gets (mesh config `defaultConfig.proxyMetadata`).

    `dns_capture` lets the sidecar answer DNS itself, which ServiceEntry hosts without real DNS
    and multi-cluster service names need (Istio's "DNS proxying" and "DNS with multiple
    clusters" tasks); `dns_auto_allocate` also gives ServiceEntries without addresses a virtual
    IP, so TCP services on the same port stay apart.
    """

    dns_capture: bool = False
    dns_auto_allocate: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)  # any other proxyMetadata entry

    @model_validator(mode="after")
    def _dns(self) -> "ProxyOptions":
        if self.dns_auto_allocate and not self.dns_capture:
            raise ValueError("dns_auto_allocate needs dns_capture=True (the proxy answers the DNS queries)")
        reserved = {"ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_AUTO_ALLOCATE"} & set(self.metadata)
        if reserved:
            raise ValueError(f"set {sorted(reserved)[0]} with dns_capture/dns_auto_allocate, not in metadata")
        return self

    @property
    def proxy_metadata(self) -> dict[str, str]:
        meta = dict(sorted(self.metadata.items()))
        if self.dns_capture:
            meta["ISTIO_META_DNS_CAPTURE"] = "true"
        if self.dns_auto_allocate:
            meta["ISTIO_META_DNS_AUTO_ALLOCATE"] = "true"
        return meta


class IstioInstall(IntentModel):
    """How Istio itself is installed on a cluster, from git.

    `method="helm"` (the default) writes one Argo CD Application per Istio Helm chart a cluster
    needs (`base`, `istiod` per revision, `cni`, `ztunnel`, a `gateway` per gateway), ordered by
    sync waves, into generated/argocd/; `method="istioctl"` writes an IstioOperator per revision
    into the cluster's folder instead (input for `istioctl install -f`, never applied by Argo CD).
    """

    method: Literal["helm", "istioctl"] = "helm"
    version: Annotated[str, StringConstraints(pattern=r"^1\.[0-9]+\.[0-9]+\z")] = "1.30.3"
    chart_repository: Annotated[str, StringConstraints(pattern=r"^(https|oci)://[^\s@?#]+\z")] = ISTIO_CHART_REPOSITORY
    profile: Literal["default", "demo", "minimal", "preview", "stable"] = "default"
    cni: bool = False  # the istio-cni node agent instead of privileged init containers (always on for ambient)
    proxy: ProxyOptions = Field(default_factory=ProxyOptions)


# Labels meshcode writes itself from Cluster injection and DataPlane intent.
MESH_LABELS = frozenset({"istio-injection", "istio.io/rev", "istio.io/dataplane-mode", "istio.io/use-waypoint",
                         "istio.io/ingress-use-waypoint", "topology.istio.io/network"})


class Namespace(IntentModel):
    """A namespace as intent: written to every cluster (or `clusters`) whether or not other objects
    land in it, labelled for the mesh (injection, or ambient by DataPlane) unless `injection=False`
    (a namespace outside the mesh), with your own `labels` and `annotations`."""

    positional = ("name",)
    name: DNSLabel
    injection: bool = True
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    clusters: tuple[DNSLabel, ...] | None = None

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, v: dict[str, str]) -> dict[str, str]:
        taken = sorted(MESH_LABELS & set(v))
        if taken:
            raise ValueError(f"label {taken[0]!r} is written by meshcode (Cluster injection/revision, DataPlane); "
                             "use injection=False to keep a namespace out of the mesh")
        for key, value in v.items():
            if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
                raise ValueError(f"{key}={value!r} is not a valid Kubernetes label")
        return v


_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z")


class Cluster(IntentModel):
    """One Kubernetes cluster; output for it lands in generated/<name>/."""

    positional = ("name",)
    name: DNSLabel
    network: DNSLabel = "network1"
    region: str | None = None
    zones: tuple[str, ...] = ()
    role: Literal["primary", "remote", "config"] = "primary"
    primary: DNSLabel | None = None  # for role="remote": the primary whose istiod serves it
    revision: str | None = None  # e.g. "1-30-3"; None: default revision (istio-injection=enabled)
    revision_tags: dict[str, str] = Field(default_factory=dict)  # e.g. {"prod-stable": "1-30-3"}
    injection: str | None = None  # revision or tag namespaces use; default: revision
    remote_pilot_address: str | None = None
    install: IstioInstall | None = None  # this cluster's install options; default: the mesh's `install`

    @model_validator(mode="after")
    def _role(self) -> "Cluster":
        if self.role == "remote" and not self.primary:
            raise ValueError("a remote cluster needs primary=<name of its primary cluster>")
        if self.role != "remote" and self.primary:
            raise ValueError("only a remote cluster has a primary")
        if self.injection and self.injection != self.revision and self.injection not in self.revision_tags:
            raise ValueError(f"injection {self.injection!r} is neither the revision nor one of its tags")
        return self


class Patch(IntentModel):
    """RFC 6902 operations applied to one generated object: the escape hatch."""

    positional = ("kind", "name", "ops")
    kind: str
    name: DNSLabel
    ops: tuple[dict[str, Any], ...]
    namespace: DNSLabel | None = None
    cluster: DNSLabel | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if not _KIND.match(v):
            raise ValueError(f"{v!r} is not a Kubernetes kind (e.g. 'VirtualService')")
        return v


class ApiVersions(IntentModel):
    """Output API versions; v1 needs Istio ≥ 1.22, older control planes can ask for v1beta1."""

    networking: Literal["v1", "v1beta1", "v1alpha3"] = "v1"
    security: Literal["v1", "v1beta1"] = "v1"
    telemetry: Literal["v1", "v1alpha1"] = "v1"


class ArgoCD(IntentModel):
    """How Argo CD delivers this mesh: an AppProject and an ApplicationSet in generated/argocd/.

    The ApplicationSet makes one Application per cluster folder; its destination is the Argo CD
    cluster whose `name` is the meshcode cluster's name (map others in `cluster_names`).
    `repo_url`/`target_revision` default to `[tool.meshcode]` in pyproject.toml.
    """

    repo_url: PublicUrl | None = None  # never with credentials: Argo CD reads those from its repo secrets
    target_revision: str | None = None
    namespace: DNSLabel = "argocd"  # where Argo CD runs; the AppProject and ApplicationSet live there
    project: DNSLabel | None = None  # AppProject name; default: the mesh name
    automated: bool = True  # automated sync; False: Argo CD shows drift and waits for a manual sync
    prune: bool = True
    self_heal: bool = True
    sync_options: tuple[str, ...] = ()  # extra Argo CD sync options (ServerSideApply=true is always set)
    cluster_names: dict[str, str] = Field(default_factory=dict)  # meshcode cluster → Argo CD cluster name


class Mesh(IntentModel):
    """The whole intent: topology plus every service, edge and policy in it."""

    positional = ("name",)
    name: DNSLabel
    clusters: tuple[Cluster, ...] = Field(min_length=1)
    services: tuple[Service, ...] = ()
    ingresses: tuple[Ingress, ...] = ()
    external_services: tuple[ExternalService, ...] = ()
    virtual_hosts: tuple[VirtualHost, ...] = ()  # hosts that are not services, routed by the sidecars
    namespaces: tuple[Namespace, ...] = ()  # namespaces declared on their own (labels, injection)
    sidecars: tuple[SidecarScope, ...] = ()
    patches: tuple[Patch, ...] = ()
    telemetry: tuple[TelemetryItem, ...] = ()  # AccessLog, Tracing, Metrics (and providers to declare)
    argocd: ArgoCD | None = Field(default_factory=ArgoCD)  # None: no generated/argocd/ for this mesh
    zero_trust: Many[ZeroTrust] = ()  # mTLS, least-privilege authz, egress lock-down
    data_plane: Many[DataPlane] = ()  # sidecar | ambient, Istio API | Gateway API (mesh, namespaces)
    verbatim: Many[Verbatim] = ()  # objects kept as written (what `meshcode import` could not express)
    trust_domain: str = "cluster.local"
    # other trust domains whose identities count as this mesh's (meshConfig.trustDomainAliases):
    # a renamed trust domain, or a peer mesh whose workloads this mesh's policies admit
    trust_domain_aliases: tuple[str, ...] = ()
    imported_services: tuple[ImportedService, ...] = ()  # services of other meshes (multi-mesh)
    # mesh-wide outbound policy (meshConfig.outboundTrafficPolicy); REGISTRY_ONLY: only hosts the
    # mesh knows (services, ExternalServices) are reachable. None: Istio's default, ALLOW_ANY.
    outbound: Literal["ALLOW_ANY", "REGISTRY_ONLY"] | None = None
    mesh_id: DNSLabel | None = None
    api_versions: ApiVersions = Field(default_factory=ApiVersions)
    root_namespace: DNSLabel = "istio-system"
    install: IstioInstall = Field(default_factory=IstioInstall)  # how every cluster installs Istio

    @field_validator("clusters", mode="before")
    @classmethod
    def _clusters(cls, v: Any) -> Any:
        if isinstance(v, (Cluster, str)):
            v = (v,)
        return tuple(Cluster(c) if isinstance(c, str) else c for c in v)

    @property
    def id(self) -> str:
        return self.mesh_id or self.name

    def install_of(self, cluster: Cluster) -> IstioInstall:
        """A cluster's own install options, else the mesh's."""
        return cluster.install or self.install

    def cluster(self, name: str) -> Cluster | None:
        return next((c for c in self.clusters if c.name == name), None)
