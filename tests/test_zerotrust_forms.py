"""The authorization forms beyond declared calls: ports that match the pods, callers' namespaces,
and intent that is refused where it is written."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from meshcode import (
    AllowRule, Call, Claim, Cluster, Condition, DenyRule, Header, IngressGateway, IntentError, Mesh, Port, Service,
    ZeroTrust, compile_mesh,
)
from meshcode.analyze.workloads import parse_workloads, pod_ports
from tests.support.authz import Authorizer, Request, Workload
from tests.support.core import line_of, run_cli
from tests.support.meshes import objects

WORKLOADS = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports:
  - {name: http, port: 8000, targetPort: 80}
  - {name: http-admin, port: 9000, targetPort: admin}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin, version: v1}}
    spec:
      containers:
      - name: httpbin
        image: docker.io/kong/httpbin
        ports:
        - {containerPort: 80}
        - {name: admin, containerPort: 9090}
"""
CURL = "cluster.local/ns/client/sa/curl"


def mesh_of(*, calls: list[Any] | None = None) -> Mesh:
    httpbin = Service("httpbin", namespace="foo", ports=[Port(8000), Port(9000)])
    curl = Service("curl", namespace="client", ports=[Port(80)], calls=calls or [Call(httpbin, ports=[8000])])
    return Mesh("m", clusters=[Cluster("prod")], services=[httpbin, curl],
                zero_trust=[ZeroTrust(namespace="foo", egress_lockdown=False,
                                      allow=[AllowRule(namespaces="ops", ports=[9000])])])


def test_pod_ports_read_target_ports_and_named_container_ports() -> None:
    assert pod_ports(parse_workloads(WORKLOADS, "w.yaml")) == {("foo", "httpbin", 8000): 80,
                                                               ("foo", "httpbin", 9000): 9090}


def test_rules_name_the_ports_the_pods_listen_on_when_workloads_are_known() -> None:
    """A service written Port(8000) whose pods listen on 80: rules on 8000 would refuse every call."""
    httpbin = Workload("foo", {"app": "httpbin", "version": "v1"})
    blind = Authorizer(objects(compile_mesh(mesh_of())).values())
    known = Authorizer(objects(compile_mesh(
        mesh_of(), workload_ports=pod_ports(parse_workloads(WORKLOADS, "w.yaml")))).values())
    on_80 = Request(CURL, "client", 80, "http", "GET", "/ip")
    assert not blind.allowed(httpbin, on_80) and known.allowed(httpbin, on_80)
    # the service-scope port translation does not touch namespace rules, which name pod ports as written
    ops = Request("cluster.local/ns/ops/sa/x", "ops", 9000, "http", "GET", "/")
    assert known.allowed(httpbin, ops)


def test_a_rule_port_without_a_known_pod_port_warns_at_its_line() -> None:
    plan = compile_mesh(mesh_of())
    warnings = [f for f in plan.notes if f.code == "MC2511"]
    assert len(warnings) == 1 and warnings[0].level == "warning"
    assert warnings[0].location is not None and warnings[0].location.file.endswith("test_zerotrust_forms.py")
    assert "port 8000 of httpbin has no known pod port" in warnings[0].message
    known = compile_mesh(mesh_of(), workload_ports=pod_ports(parse_workloads(WORKLOADS, "w.yaml")))
    assert not [f for f in known.notes if f.code == "MC2511"]
    written = Service("httpbin", namespace="foo", ports=[Port(8000, target_port=80)])
    plain = compile_mesh(Mesh("m", clusters=[Cluster("prod")], services=[written, Service(
        "curl", namespace="client", ports=[Port(80)], calls=[Call(written, ports=[8000])])],
        zero_trust=[ZeroTrust(namespace="foo")]))
    assert not [f for f in plain.notes if f.code == "MC2511"]


STACK = """\
from meshcode import Call, Cluster, Mesh, Port, Service, ZeroTrust
httpbin = Service("httpbin", namespace="foo", ports=[Port(8000)])
curl = Service("curl", namespace="client", ports=[Port(80)], calls=[Call(httpbin, ports=[8000])])  # <- here
mesh = Mesh("m", clusters=[Cluster("prod")], services=[httpbin, curl], zero_trust=[ZeroTrust(namespace="foo")])
"""


def test_compile_with_workloads_uses_their_ports_and_without_warns(make_project: Callable[..., Path]) -> None:
    root = make_project(zt=STACK)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert f"stacks/zt.py:{line_of(STACK, '# <- here')}: warning MC2511" in result.output, result.output
    policy = root / "generated" / "prod" / "foo" / "authorizationpolicy-httpbin-allow.yaml"
    assert yaml.safe_load(policy.read_text())["spec"]["rules"][0]["to"][0]["operation"]["ports"] == ["8000"]
    (root / "workloads.yaml").write_text(WORKLOADS)
    result = run_cli("compile", "--root", str(root), "--workloads", str(root / "workloads.yaml"))
    assert result.exit_code == 0, result.output
    assert "MC2511" not in result.output
    assert yaml.safe_load(policy.read_text())["spec"]["rules"][0]["to"][0]["operation"]["ports"] == ["80"]


def test_a_namespace_holding_only_callers_is_labelled_for_injection() -> None:
    objs = objects(compile_mesh(mesh_of()))
    assert objs[("Namespace", "", "client")]["metadata"]["labels"]["istio-injection"] == "enabled"


@pytest.mark.parametrize("build,fragment", [
    (lambda: AllowRule(methods="GET"), "an AllowRule says who may call"),
    (lambda: AllowRule(anyone=True, namespaces="foo"), "anyone=True means every source"),
    (lambda: AllowRule(authenticated=True, principals=["cluster.local/ns/a/sa/b"]), "authenticated=True is any"),
    (lambda: AllowRule(ip_blocks="10.0.0.0/33"), "is not an IP address or CIDR block"),
    (lambda: AllowRule(request_principals="alice"), "is '<issuer>/<subject>'"),
    (lambda: DenyRule(), "needs at least one condition"),
    (lambda: Condition("request.header[x]", values="a"), "is not an Istio condition key"),
    (lambda: Header("x-token"), "needs values= or not_values="),
    (lambda: Claim("bad claim", "x"), "claim name"),
    (lambda: Condition("source.ip", values="not-an-ip"), "is not an IP address"),
    (lambda: ZeroTrust(version="v1"), "version= needs service="),
    (lambda: ZeroTrust(service="httpbin", version="v1", jwt=None), "apply to the whole service"),
    (lambda: ZeroTrust(service="httpbin", strict=True), "strict= marks a namespace"),
    (lambda: IngressGateway(allow=[AllowRule(namespaces="x")], deny="nope"), "DenyRule"),
])
def test_bad_authorization_intent_is_refused_at_its_line(build: Callable[[], Any], fragment: str) -> None:
    with pytest.raises(IntentError) as e:
        build()
    assert fragment in str(e.value)
    assert e.value.location is not None and e.value.location.file.endswith("test_zerotrust_forms.py")


def test_a_version_allow_keeps_the_declared_calls_and_a_mesh_allow_reaches_every_namespace() -> None:
    """An ALLOW policy denies what none of them allows: the version's policy carries the declared
    calls when the service has no ALLOW policy of its own."""
    api = Service("api", namespace="shop", ports=[Port(8080, target_port=8080)], versions=["v1", "v2"])
    web = Service("web", namespace="shop", ports=[Port(80, target_port=80)], calls=[Call(api, methods="GET")])
    mesh = Mesh("m", clusters=[Cluster("prod")], services=[api, web], zero_trust=[
        ZeroTrust(service=api, default_deny=False, egress_lockdown=False),
        ZeroTrust(service=api, version="v1", allow=[AllowRule(namespaces="ops", methods="POST")]),
    ])
    objs = objects(compile_mesh(mesh))
    assert ("AuthorizationPolicy", "shop", "api-allow") not in objs
    authz = Authorizer(objs.values())
    v1, v2 = (Workload("shop", {"app": "api", "version": v}) for v in ("v1", "v2"))
    web_get = Request("cluster.local/ns/shop/sa/web", "shop", 8080, "http", "GET", "/")
    ops_post = Request("cluster.local/ns/ops/sa/x", "ops", 8080, "http", "POST", "/")
    other = Request("cluster.local/ns/x/sa/y", "x", 8080, "http", "GET", "/")
    assert authz.allowed(v1, web_get) and authz.allowed(v1, ops_post) and not authz.allowed(v1, other)
    assert authz.allowed(v2, other)  # v2 has no ALLOW policy: nothing restricts it
    meshwide = objects(compile_mesh(Mesh("m", clusters=[Cluster("prod")], services=[api, web], zero_trust=[
        ZeroTrust(egress_lockdown=False, allow=[AllowRule(authenticated=True, paths="/healthz")])])))
    assert meshwide[("AuthorizationPolicy", "shop", "mesh-allow")]["spec"] == {
        "action": "ALLOW", "rules": [{"from": [{"source": {"principals": ["*"]}}],
                                      "to": [{"operation": {"paths": ["/healthz"]}}]}]}
    authz = Authorizer(meshwide.values())
    assert authz.allowed(v1, web_get) and not authz.allowed(v1, other)
    assert authz.allowed(v1, Request("cluster.local/ns/x/sa/y", "x", 8080, "http", "GET", "/healthz"))


def test_cdk8s_compiles_with_the_ports_of_the_charts_workloads(tmp_path: Path) -> None:
    from meshcode.integrations.cdk8s import compile_for_cdk8s

    (tmp_path / "pyproject.toml").write_text("[tool.meshcode]\n")
    plan = compile_for_cdk8s(mesh_of(), root=tmp_path, workloads=parse_workloads(WORKLOADS, "w.yaml"))
    policy = objects(plan)[("AuthorizationPolicy", "foo", "httpbin-allow")]
    assert policy["spec"]["rules"][0]["to"][0]["operation"]["ports"] == ["80"]
    assert not [f for f in plan.notes if f.code == "MC2511"]
