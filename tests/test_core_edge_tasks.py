"""Istio's ingress and egress tasks, each written as meshcode intent and checked by meaning
against the task's own YAML (samples in tests/data/istio-samples, or the task text quoted).

Meaning, not bytes: which server a gateway opens, which rule a connection or request takes
and where it goes. The last test runs the independent CRD checker over every mesh compiled here.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshcode import (
    DataPlane, ImportedService, ArgoCD, IstioInstall, LocalRateLimit, Namespace, ProxyOptions, VirtualHost, ClientTLS, Cluster, CompileError, Delay, EgressGateway, ExternalService, Fault, Ingress, IntentError, Match, Mesh,
    OriginateTLS, Port, Prefix, Retries, Route, ServerTLS, Service, compile_mesh,
)
from tests.support.core import http_rule, split
from tests.support.meshes import crdcheck, objects, write_plan
from tests.support.paths import ROOT

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
COMPILED: dict[str, Mesh] = {}


def here() -> int:
    return sys._getframe(1).f_lineno


def compiled(mesh: Mesh) -> dict[tuple[str, str, str], dict[str, Any]]:
    COMPILED[mesh.name] = mesh
    return objects(compile_mesh(mesh))


def errors(mesh: Mesh) -> list[tuple[int, str]]:
    with pytest.raises(CompileError) as info:
        compile_mesh(mesh)
    return [(f.location.line if f.location else 0, f.message) for f in info.value.findings]


def sample(path: str) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((SAMPLES / path).read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def fqdn(host: str, namespace: str) -> str:
    return host if "." in host or host == "*" else f"{host}.{namespace}.svc.cluster.local"


def l4_rule(vs: dict[str, Any], section: str, port: int, sni: str | None = None) -> dict[str, Any]:
    """The first tcp/tls rule of a VirtualService a connection on `port` (with `sni`) takes."""
    for rule in vs["spec"].get(section, []):
        matches = rule.get("match") or [{}]
        for m in matches:
            if m.get("port", port) == port and (sni is None or sni in m.get("sniHosts", [sni])):
                return rule
    raise AssertionError(f"no {section} rule of {vs['metadata']['name']} takes port {port} sni {sni}")


def l4_split(rule: dict[str, Any], namespace: str) -> dict[str, int]:
    """{'host[/subset]:port': weight} with short sample hosts made fully qualified."""
    out: dict[str, int] = {}
    for r in rule["route"]:
        d = r["destination"]
        key = fqdn(d["host"], namespace) + (f"/{d['subset']}" if "subset" in d else "") + f":{d['port']['number']}"
        out[key] = r.get("weight", 100)
    return out


def server_for(gateway: dict[str, Any], port: int) -> dict[str, Any]:
    (server,) = [s for s in gateway["spec"]["servers"] if s["port"]["number"] == port]
    return server


# ---- TCP traffic shifting through the ingress gateway -------------------------------------------
TCP_NS = "istio-io-tcp-traffic-shifting"


def tcp_echo(weights: dict[str, int]) -> tuple[Mesh, Service]:
    echo = Service("tcp-echo", namespace=TCP_NS, ports=[Port(9000, "TCP")], versions=["v1", "v2"],
                   routes=[Route(to=weights)])
    gateway = Ingress("tcp-echo-gateway", namespace=TCP_NS, hosts=["*"], protocol="TCP", port=31400,
                      routes=[Route(to=echo)])
    return Mesh(f"tcp-echo-{weights['v2']}", clusters=[Cluster("prod")], services=[echo], ingresses=[gateway]), echo


@pytest.mark.parametrize("weights, sample_file", [
    ({"v1": 100, "v2": 0}, "tcp-echo/tcp-echo-all-v1.yaml"),
    ({"v1": 80, "v2": 20}, "tcp-echo/tcp-echo-20-v2.yaml"),
])
def test_tcp_traffic_shifting_through_the_ingress_gateway(weights: dict[str, int], sample_file: str) -> None:
    mesh, echo = tcp_echo(weights)
    objs = compiled(mesh)
    want_vs = sample(sample_file)[("VirtualService", "tcp-echo")]
    got_vs = objs[("VirtualService", TCP_NS, "tcp-echo-gateway")]
    assert got_vs["spec"]["hosts"] == want_vs["spec"]["hosts"] == ["*"]
    assert got_vs["spec"]["gateways"] == [f"{TCP_NS}/tcp-echo-gateway"]
    assert "http" not in got_vs["spec"]
    expected = {k: w for k, w in l4_split(l4_rule(want_vs, "tcp", 31400), TCP_NS).items() if w}
    got = {k: w for k, w in l4_split(l4_rule(got_vs, "tcp", 31400), TCP_NS).items() if w}
    assert got == expected
    want_gw = sample("tcp-echo/tcp-echo-all-v1.yaml")[("Gateway", "tcp-echo-gateway")]
    got_gw = objs[("Gateway", TCP_NS, "tcp-echo-gateway")]
    assert got_gw["spec"]["selector"] == want_gw["spec"]["selector"]
    got_server, want_server = server_for(got_gw, 31400), server_for(want_gw, 31400)
    assert got_server["port"]["protocol"] == want_server["port"]["protocol"] == "TCP"
    assert got_server["hosts"] == want_server["hosts"]
    # mesh traffic splits the same way as ingress traffic
    mesh_rule = l4_rule(objs[("VirtualService", TCP_NS, "tcp-echo")], "tcp", 9000)
    assert {k: w for k, w in l4_split(mesh_rule, TCP_NS).items() if w} == expected


# ---- TLS passthrough: "Ingress Gateway without TLS Termination" --------------------------------
def test_tls_passthrough_routes_on_sni_without_terminating() -> None:
    """The task's Gateway: port 443, tls mode PASSTHROUGH, hosts nginx.example.com; its VirtualService:
    tls match port 443 + sniHosts nginx.example.com → my-nginx port 443."""
    nginx = Service("my-nginx", namespace="default", ports=[Port(443, "HTTPS")])
    ing = Ingress("mygateway", hosts=["nginx.example.com"], protocol="TLS", routes=[Route(to=nginx)])
    objs = compiled(Mesh("passthrough", clusters=[Cluster("prod")], services=[nginx], ingresses=[ing]))
    server = server_for(objs[("Gateway", "default", "mygateway")], 443)
    assert server["tls"] == {"mode": "PASSTHROUGH"} and server["hosts"] == ["nginx.example.com"]
    assert server["port"]["protocol"] in ("TLS", "HTTPS")  # both hand the connection to tls routes
    vs = objs[("VirtualService", "default", "mygateway")]
    assert set(vs["spec"]) == {"hosts", "gateways", "tls"}
    rule = l4_rule(vs, "tls", 443, sni="nginx.example.com")
    assert l4_split(rule, "default") == {"my-nginx.default.svc.cluster.local:443": 100}
    with pytest.raises(AssertionError, match="no tls rule"):
        l4_rule(vs, "tls", 443, sni="other.example.com")  # other names are not passed through


# ---- protocol mismatches: refused at the line, in compile -------------------------------------
def test_http_ingress_to_a_tcp_service_is_refused_at_the_route() -> None:
    """The issue's case: Ingress(port=31400) to a TCP service used to write an HTTP server."""
    echo = Service("tcp-echo", namespace=TCP_NS, ports=[Port(9000, "TCP")], versions=["v1"])
    route = Route(to=echo)
    line = here() - 1
    ing = Ingress("edge", namespace=TCP_NS, hosts=["echo.example.com"], port=31400, routes=[route])
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], services=[echo], ingresses=[ing]))
    assert err[0] == line
    assert "serves HTTP on port 31400, but tcp-echo has no" in err[1] and "protocol='TCP'" in err[1]


@pytest.mark.parametrize("protocol, port, service_port, hint", [
    ("TCP", 31400, Port(9080), "protocol='HTTP'"),
    ("TLS", 443, Port(9000, "TCP"), "protocol='HTTP' or 'TCP'"),
])
def test_l4_ingress_to_a_service_without_such_a_port_is_refused(protocol: str, port: int, service_port: Port,
                                                                 hint: str) -> None:
    svc = Service("backend", ports=[service_port])
    route = Route(to=svc)
    line = here() - 1
    ing = Ingress("edge", hosts=["backend.example.com"], protocol=protocol, port=port, routes=[route])
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], services=[svc], ingresses=[ing]))
    assert err[0] == line and hint in err[1]


def test_ingress_picks_the_port_that_speaks_its_protocol() -> None:
    both = Service("both", ports=[Port(9000, "TCP"), Port(8080)])
    http = Ingress("web", hosts=["web.example.com"], routes=[Route(to=both)])
    tcp = Ingress("raw", hosts=["*"], protocol="TCP", port=31400, routes=[Route(to=both)])
    objs = compiled(Mesh("two-ports", clusters=[Cluster("prod")], services=[both], ingresses=[http, tcp]))
    assert http_rule(objs[("VirtualService", "default", "web")])["route"][0]["destination"]["port"] == {"number": 8080}
    assert l4_split(l4_rule(objs[("VirtualService", "default", "raw")], "tcp", 31400), "default") == {
        "both.default.svc.cluster.local:9000": 100}


def test_http_ingress_to_a_tls_port_with_tls_origination() -> None:
    """HTTP at the gateway, re-encrypted toward a service whose DestinationRule originates TLS."""
    secure = Service("vault", ports=[Port(8200, "HTTPS")], tls=ClientTLS("SIMPLE", sni="vault.example.com"))
    ing = Ingress("vault-edge", hosts=["vault.example.com"], tls=ServerTLS("vault-cert"), routes=[Route(to=secure)])
    objs = compiled(Mesh("reencrypt", clusters=[Cluster("prod")], services=[secure], ingresses=[ing]))
    assert split(http_rule(objs[("VirtualService", "default", "vault-edge")])) == {secure.host: 100}
    assert objs[("DestinationRule", "default", "vault")]["spec"]["trafficPolicy"]["tls"]["mode"] == "SIMPLE"


def test_http_only_intent_on_an_l4_ingress_is_refused_at_its_route() -> None:
    echo = Service("tcp-echo", ports=[Port(9000, "TCP")])
    matched = Route(match=Match(uri=Prefix("/")), to=echo, timeout="1s")
    matched_line = here() - 1
    second = Route(to=echo)
    second_line = here() - 1
    ing = Ingress("raw", hosts=["*"], protocol="TCP", port=31400, routes=[matched, second])
    found = errors(Mesh("m", clusters=[Cluster("prod")], services=[echo], ingresses=[ing]))
    assert (matched_line, "ingress raw forwards TCP connections: match, timeout are HTTP-only") in found
    assert (second_line, "ingress raw forwards TCP connections: a TCP ingress takes one route (its destination, "
                         "or a split)") in found


@pytest.mark.parametrize("kw, message", [
    ({"protocol": "TCP", "hosts": ["*"]}, "needs port="),
    ({"protocol": "TLS", "hosts": ["*"]}, "concrete hosts"),
    ({"protocol": "TCP", "port": 31400, "tls": ServerTLS("cert")}, "tls= terminates TLS"),
])
def test_l4_ingress_construction_errors(kw: dict[str, Any], message: str) -> None:
    base = {"hosts": ["a.example.com"], "routes": [Route(to="x")]}
    with pytest.raises(IntentError, match=message) as info:
        Ingress("edge", **{**base, **kw})
    assert info.value.location is not None and info.value.location.line == here() - 1


# ---- external services: routing, egress gateway, TLS -----------------------------------------------
def hop(vs: dict[str, Any], section: str, gateway: str, port: int, sni: str | None = None) -> dict[str, Any]:
    """The destination a request (or connection) on `port` arriving at `gateway` ('mesh' for
    sidecars) takes: Istio picks the first rule whose match names that gateway and port."""
    for rule in vs["spec"].get(section, []):
        for m in rule.get("match") or [{}]:
            gateways = m.get("gateways", vs["spec"].get("gateways", ["mesh"]))
            if gateway in gateways and m.get("port", port) == port and (sni is None or sni in m.get("sniHosts", [sni])):
                (dest,) = rule["route"]
                return dest["destination"]
    raise AssertionError(f"no {section} rule takes {gateway}:{port}")


EGRESS_GW = "istio-egressgateway.istio-system.svc.cluster.local"
CNN = "edition.cnn.com"


def test_egress_task_timeout_on_httpbin_org() -> None:
    """Istio's egress task: a 3 s timeout on calls to httpbin.org (VirtualService httpbin-ext)."""
    httpbin = ExternalService("httpbin-ext", hosts=["httpbin.org"], ports=[Port(80)], timeout="3s")
    objs = compiled(Mesh("egress-timeout", clusters=[Cluster("prod")], external_services=[httpbin]))
    vs = objs[("VirtualService", "default", "httpbin-ext")]
    assert vs["spec"]["hosts"] == ["httpbin.org"] and "gateways" not in vs["spec"]
    rule = http_rule(vs, uri="/delay/5")
    assert rule["timeout"] == "3s" and split(rule) == {"httpbin.org": 100}


def test_routes_retries_and_faults_on_an_external_service() -> None:
    api = ExternalService("api", hosts=["api.example.com"], ports=[Port(80)], retries=Retries(2),
                          routes=[Route(match=Match(uri=Prefix("/slow")), fault=Fault(delay=Delay("2s")))])
    vs = compiled(Mesh("egress-routes", clusters=[Cluster("prod")], external_services=[api]))[
        ("VirtualService", "default", "api")]
    slow, rest = http_rule(vs, uri="/slow/1"), http_rule(vs, uri="/other")
    assert slow["fault"]["delay"]["fixedDelay"] == "2s" and "fault" not in rest
    assert slow["retries"] == rest["retries"] == {"attempts": 2}
    assert split(slow) == split(rest) == {"api.example.com": 100}


def test_http_intent_on_a_tls_only_external_is_refused() -> None:
    timeout_line = here() + 1
    api = ExternalService("api", hosts=["api.example.com"], ports=[Port(443, "TLS")], timeout="1s")
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], external_services=[api]))
    assert err[0] == timeout_line and "timeout applies to HTTP requests only; api has no HTTP port" in err[1]


def test_routing_an_external_with_several_hosts_is_refused() -> None:
    with pytest.raises(IntentError, match="one concrete host") as info:
        ExternalService("apis", hosts=["a.example.com", "b.example.com"], ports=[Port(80)], timeout="1s")
    assert info.value.location is not None and info.value.location.line == here() - 1


def test_egress_gateway_for_http_traffic() -> None:
    """Istio's egress-gateway task, HTTP: Gateway istio-egressgateway (80, HTTP, edition.cnn.com),
    DestinationRule egressgateway-for-cnn (subset cnn), VirtualService direct-cnn-through-egress-gateway."""
    cnn = ExternalService("cnn", hosts=[CNN], ports=[Port(80)], egress_gateway=EgressGateway())
    objs = compiled(Mesh("egress-gw-http", clusters=[Cluster("prod")], external_services=[cnn]))
    gw = objs[("Gateway", "default", "cnn-egress")]["spec"]
    assert gw["selector"] == {"istio": "egressgateway"}
    assert server_for({"spec": gw}, 80) == {"port": {"number": 80, "name": "http-80", "protocol": "HTTP"},
                                            "hosts": [CNN]}
    assert objs[("DestinationRule", "default", "cnn-egress")]["spec"] == {"host": EGRESS_GW,
                                                                          "subsets": [{"name": "cnn"}]}
    vs = objs[("VirtualService", "default", "cnn")]
    assert sorted(vs["spec"]["gateways"]) == ["default/cnn-egress", "mesh"]
    assert hop(vs, "http", "mesh", 80) == {"host": EGRESS_GW, "subset": "cnn", "port": {"number": 80}}
    assert hop(vs, "http", "default/cnn-egress", 80) == {"host": CNN, "port": {"number": 80}}
    assert ("DestinationRule", "default", "cnn") not in objs  # no TLS anywhere


def test_egress_gateway_with_tls_origination_at_the_gateway() -> None:
    """Istio's "egress gateways with TLS origination" task: apps call http://edition.cnn.com, the
    sidecar sends it to the gateway on 80, the gateway opens TLS to edition.cnn.com:443."""
    cnn = ExternalService("cnn", hosts=[CNN], ports=[Port(80), Port(443, "HTTPS")],
                          originate_tls=OriginateTLS(port=80, target_port=443), egress_gateway=EgressGateway())
    objs = compiled(Mesh("egress-gw-tls", clusters=[Cluster("prod")], external_services=[cnn]))
    se_ports = {p["number"]: p for p in objs[("ServiceEntry", "default", "cnn")]["spec"]["ports"]}
    assert se_ports[80]["protocol"] == "HTTP" and "targetPort" not in se_ports[80]  # the gateway picks 443
    assert se_ports[443]["protocol"] == "HTTPS"
    vs = objs[("VirtualService", "default", "cnn")]
    assert hop(vs, "http", "mesh", 80) == {"host": EGRESS_GW, "subset": "cnn", "port": {"number": 80}}
    assert hop(vs, "http", "default/cnn-egress", 80) == {"host": CNN, "port": {"number": 443}}
    assert "tls" not in vs["spec"]  # 443 is the origination target, not a passthrough port
    (level,) = objs[("DestinationRule", "default", "cnn")]["spec"]["trafficPolicy"]["portLevelSettings"]
    assert level["port"] == {"number": 443} and level["tls"]["mode"] == "SIMPLE" and level["tls"]["sni"] == CNN


def test_egress_gateway_with_mtls_from_the_sidecars() -> None:
    """The task's secured variant: sidecars reach the gateway over Istio mTLS (HTTPS server, ISTIO_MUTUAL,
    SNI the external host) on 443; the gateway sends plain HTTP on to edition.cnn.com:80."""
    cnn = ExternalService("cnn", hosts=[CNN], ports=[Port(80)], egress_gateway=EgressGateway(mtls=True))
    objs = compiled(Mesh("egress-gw-mtls", clusters=[Cluster("prod")], external_services=[cnn]))
    server = server_for(objs[("Gateway", "default", "cnn-egress")], 443)
    assert server["port"]["protocol"] == "HTTPS" and server["tls"] == {"mode": "ISTIO_MUTUAL"}
    (subset,) = objs[("DestinationRule", "default", "cnn-egress")]["spec"]["subsets"]
    assert subset["trafficPolicy"]["portLevelSettings"] == [
        {"port": {"number": 443}, "tls": {"mode": "ISTIO_MUTUAL", "sni": CNN}}]
    vs = objs[("VirtualService", "default", "cnn")]
    assert hop(vs, "http", "mesh", 80) == {"host": EGRESS_GW, "subset": "cnn", "port": {"number": 443}}
    assert hop(vs, "http", "default/cnn-egress", 443) == {"host": CNN, "port": {"number": 80}}


def test_egress_gateway_for_https_passthrough() -> None:
    """The task's HTTPS section: Gateway 443 TLS PASSTHROUGH; tls rules on SNI edition.cnn.com."""
    cnn = ExternalService("cnn", hosts=[CNN], ports=[Port(443, "TLS")], egress_gateway=EgressGateway())
    objs = compiled(Mesh("egress-gw-tls-pass", clusters=[Cluster("prod")], external_services=[cnn]))
    server = server_for(objs[("Gateway", "default", "cnn-egress")], 443)
    assert server["tls"] == {"mode": "PASSTHROUGH"} and server["hosts"] == [CNN]
    vs = objs[("VirtualService", "default", "cnn")]
    assert hop(vs, "tls", "mesh", 443, sni=CNN) == {"host": EGRESS_GW, "subset": "cnn", "port": {"number": 443}}
    assert hop(vs, "tls", "default/cnn-egress", 443, sni=CNN) == {"host": CNN, "port": {"number": 443}}
    with pytest.raises(AssertionError):
        hop(vs, "tls", "mesh", 443, sni="other.example.com")


def test_egress_gateway_refuses_tcp_ports() -> None:
    gw = EgressGateway()
    line = here() - 1
    db = ExternalService("db", hosts=["db.example.com"], ports=[Port(5432, "TCP")], egress_gateway=gw)
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], external_services=[db]))
    assert err[0] == line and "TCP carries no host name" in err[1]


def test_client_tls_mutual_with_certificate_files() -> None:
    """ClientTLS MUTUAL with files mounted in the proxy, beside the secret-based form."""
    files = ClientTLS("MUTUAL", client_certificate="/etc/certs/client.pem", private_key="/etc/certs/key.pem",
                      ca_certificates="/etc/certs/ca.pem", sni="db.example.com")
    secret = ClientTLS("MUTUAL", credential_name="client-credential", sni="db.example.com")
    db = ExternalService("db", hosts=["db.example.com"], ports=[Port(443, "TLS")], tls=files)
    api = ExternalService("api", hosts=["api.example.com"], ports=[Port(443, "TLS")], tls=secret)
    objs = compiled(Mesh("client-tls", clusters=[Cluster("prod")], external_services=[db, api]))
    assert objs[("DestinationRule", "default", "db")]["spec"]["trafficPolicy"]["tls"] == {
        "mode": "MUTUAL", "clientCertificate": "/etc/certs/client.pem", "privateKey": "/etc/certs/key.pem",
        "caCertificates": "/etc/certs/ca.pem", "sni": "db.example.com"}
    assert objs[("DestinationRule", "default", "api")]["spec"]["trafficPolicy"]["tls"] == {
        "mode": "MUTUAL", "credentialName": "client-credential", "sni": "db.example.com"}


@pytest.mark.parametrize("kw, message", [
    ({"mode": "MUTUAL"}, "needs the client certificate"),
    ({"mode": "MUTUAL", "client_certificate": "/c.pem"}, "go together"),
    ({"mode": "MUTUAL", "credential_name": "s", "client_certificate": "/c.pem", "private_key": "/k.pem"},
     "not both"),
    ({"mode": "SIMPLE", "client_certificate": "/c.pem", "private_key": "/k.pem"}, "only in MUTUAL"),
])
def test_client_certificate_forms_are_checked(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(IntentError, match=message):
        ClientTLS(**kw)


def mesh_configs(plan: Any) -> dict[str, dict[str, Any]]:
    """'<folder>/<kind>/<name>' → the meshConfig an install object carries (IstioOperator, or the
    istiod chart's values in an Argo CD Application)."""
    out: dict[str, dict[str, Any]] = {}

    def find(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if isinstance(node.get("meshConfig"), dict):
                return node["meshConfig"]
            return next((c for c in map(find, node.values()) if c is not None), None)
        if isinstance(node, list):
            return next((c for c in map(find, node) if c is not None), None)
        return None

    for folder, resources in plan.folders.items():
        for r in resources:
            config = find(r.obj)
            if config is not None:
                out[f"{folder}/{r.kind}/{r.name}"] = config
    return out


@pytest.mark.parametrize("method", ["helm", "istioctl"])
def test_mesh_wide_registry_only(method: str) -> None:
    """meshConfig.outboundTrafficPolicy for the whole mesh, in every cluster's install input."""
    mesh = Mesh(f"registry-only-{method}", clusters=[Cluster("east"), Cluster("west")], outbound="REGISTRY_ONLY",
                install=IstioInstall(method=method), argocd=ArgoCD(repo_url="https://example.com/mesh.git"),
                external_services=[ExternalService("httpbin", hosts=["httpbin.org"], ports=[Port(80)])])
    COMPILED[mesh.name] = mesh
    configs = mesh_configs(compile_mesh(mesh))
    assert len(configs) == 2, configs  # one istiod install per cluster
    for config in configs.values():
        assert config["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    default = mesh_configs(compile_mesh(Mesh("allow", clusters=[Cluster("east")], install=IstioInstall(method=method),
                                             argocd=ArgoCD(repo_url="https://example.com/mesh.git"))))
    assert default and all("outboundTrafficPolicy" not in c for c in default.values())  # Istio's ALLOW_ANY


def test_external_routing_in_an_ambient_namespace_is_refused() -> None:
    api = ExternalService("api", namespace="amb", hosts=["api.example.com"], ports=[Port(80)], timeout="1s")
    line = here() - 1
    mesh = Mesh("m", clusters=[Cluster("prod")], external_services=[api],
                data_plane=[DataPlane("ambient", namespace="amb")])
    found = errors(mesh)
    assert any(n == line and "is ambient" in msg for n, msg in found), found


# ---- mesh-internal virtual hosts ------------------------------------------------------------------
DNS = IstioInstall(proxy=ProxyOptions(dns_capture=True, dns_auto_allocate=True))


def test_mesh_internal_virtual_host_routes_paths_to_services() -> None:
    """The VirtualService reference's example: bookinfo.com with /reviews → reviews, /ratings →
    ratings, for sidecars (no gateway); each service keeps its own split."""
    rev = Service("reviews", namespace="bookinfo", ports=[Port(9080)], versions=["v1", "v2"],
                  routes=[Route(to={"v1": 75, "v2": 25})])
    rat = Service("ratings", namespace="bookinfo", ports=[Port(9080)])
    vh = VirtualHost("bookinfo-com", namespace="bookinfo", hosts=["bookinfo.com"], routes=[
        Route(match=Match(uri=Prefix("/reviews")), to=rev), Route(match=Match(uri=Prefix("/ratings")), to=rat)])
    objs = compiled(Mesh("vhost", clusters=[Cluster("prod")], services=[rev, rat], virtual_hosts=[vh], install=DNS))
    vs = objs[("VirtualService", "bookinfo", "bookinfo-com")]
    assert vs["spec"]["hosts"] == ["bookinfo.com"] and "gateways" not in vs["spec"]  # mesh: every sidecar
    assert split(http_rule(vs, uri="/reviews/1")) == {f"{rev.host}/v1": 75, f"{rev.host}/v2": 25}
    assert split(http_rule(vs, uri="/ratings/1")) == {rat.host: 100}
    with pytest.raises(AssertionError, match="no rule"):
        http_rule(vs, uri="/details")
    se = objs[("ServiceEntry", "bookinfo", "bookinfo-com")]["spec"]
    assert se["hosts"] == ["bookinfo.com"] and se["location"] == "MESH_INTERNAL"
    assert se["ports"] == [{"number": 80, "name": "http-80", "protocol": "HTTP"}]


def test_virtual_host_needs_a_way_to_resolve() -> None:
    rat = Service("ratings", ports=[Port(9080)])
    vh = VirtualHost("ratings-com", hosts=["ratings.com"], routes=[Route(to=rat)])
    line = here() - 1
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], services=[rat], virtual_hosts=[vh]))
    assert err[0] == line and "dns_auto_allocate=True" in err[1]
    with_vip = VirtualHost("ratings-com", hosts=["ratings.com"], routes=[Route(to=rat)], addresses=["240.0.0.10"])
    objs = compiled(Mesh("vhost-vip", clusters=[Cluster("prod")], services=[rat], virtual_hosts=[with_vip]))
    assert objs[("ServiceEntry", "default", "ratings-com")]["spec"]["addresses"] == ["240.0.0.10"]


def test_virtual_host_claiming_a_service_host_is_refused() -> None:
    rat = Service("ratings", ports=[Port(9080)])
    vh = VirtualHost("dup", hosts=[rat.host], routes=[Route(to=rat)])
    line = here() - 1
    found = errors(Mesh("m", clusters=[Cluster("prod")], services=[rat], virtual_hosts=[vh], install=DNS))
    assert any(n == line and "claimed twice" in msg for n, msg in found)


# ---- namespaces as intent --------------------------------------------------------------------------
def test_declared_namespaces_are_written_with_their_labels() -> None:
    mesh = Mesh("namespaces", clusters=[Cluster("east"), Cluster("west", revision="1-30-3")], namespaces=[
        Namespace("tools", labels={"team": "ops"}, annotations={"owner": "ops@example.com"}),
        Namespace("legacy", injection=False, clusters=["east"])])
    plan = compile_mesh(mesh)
    COMPILED[mesh.name] = mesh
    east = {r.name: r.obj["metadata"] for r in plan.folders["east"] if r.kind == "Namespace"}
    west = {r.name: r.obj["metadata"] for r in plan.folders["west"] if r.kind == "Namespace"}
    assert east["tools"]["labels"]["istio-injection"] == "enabled" and east["tools"]["labels"]["team"] == "ops"
    assert west["tools"]["labels"]["istio.io/rev"] == "1-30-3" and "istio-injection" not in west["tools"]["labels"]
    assert east["tools"]["annotations"]["owner"] == "ops@example.com"
    assert not {"istio-injection", "istio.io/rev"} & set(east["legacy"]["labels"])  # outside the mesh
    assert "legacy" not in west  # clusters=["east"]
    # nothing else is generated in them
    assert not [r for r in plan.folders["east"] if r.namespace in ("tools", "legacy")]


def test_namespace_intent_errors() -> None:
    with pytest.raises(IntentError, match="written by meshcode"):
        Namespace("tools", labels={"istio-injection": "disabled"})
    legacy = Namespace("legacy", injection=False)
    line = here() - 1
    svc = Service("app", namespace="legacy", ports=[Port(80)])
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], services=[svc], namespaces=[legacy]))
    assert err[0] == line and "needs a proxy" in err[1]


# ---- local rate limiting -------------------------------------------------------------------------
def bucket_verdicts(config: dict[str, Any], times: list[float]) -> list[int]:
    """Status codes Envoy's token bucket gives requests at `times` (seconds): 200 or 429."""
    bucket = config["token_bucket"]
    tokens, interval = bucket["max_tokens"], float(bucket["fill_interval"].removesuffix("s"))
    last_fill, out = 0.0, []
    for t in times:
        while t >= last_fill + interval:
            last_fill += interval
            tokens = min(bucket["max_tokens"], tokens + bucket["tokens_per_fill"])
        if tokens > 0:
            tokens -= 1
            out.append(200)
        else:
            out.append(429)
    return out


def test_local_rate_limit_for_the_whole_workload() -> None:
    """Istio's local rate limit task: 4 requests per 60 s on productpage's sidecar, 429 after."""
    pp = Service("productpage", namespace="bookinfo", ports=[Port(9080)], rate_limit=LocalRateLimit(4, "1m"))
    objs = compiled(Mesh("ratelimit", clusters=[Cluster("prod")], services=[pp]))
    ef = objs[("EnvoyFilter", "bookinfo", "productpage-local-ratelimit")]["spec"]
    assert ef["workloadSelector"] == {"labels": {"app": "productpage"}}
    (patch,) = ef["configPatches"]
    assert patch["applyTo"] == "HTTP_FILTER" and patch["match"]["context"] == "SIDECAR_INBOUND"
    assert patch["patch"]["operation"] == "INSERT_BEFORE"
    value = patch["patch"]["value"]
    assert value["name"] == "envoy.filters.http.local_ratelimit"
    config = value["typed_config"]["value"]
    assert config["token_bucket"] == {"max_tokens": 4, "tokens_per_fill": 4, "fill_interval": "60s"}
    assert bucket_verdicts(config, [0, 1, 2, 3, 4, 59, 60, 61]) == [200, 200, 200, 200, 429, 429, 200, 200]


def test_local_rate_limit_per_port_goes_in_the_route_config() -> None:
    svc = Service("reviews", ports=[Port(9080), Port(9090, "GRPC")], rate_limit=LocalRateLimit(10, "1s", port=9090))
    ef = compiled(Mesh("ratelimit-port", clusters=[Cluster("prod")], services=[svc]))[
        ("EnvoyFilter", "default", "reviews-local-ratelimit")]["spec"]
    chain, route = ef["configPatches"]
    assert "token_bucket" not in chain["patch"]["value"]["typed_config"]["value"]  # filter on, no global bucket
    assert route["applyTo"] == "HTTP_ROUTE"
    assert route["match"]["routeConfiguration"]["vhost"]["name"] == "inbound|http|9090"
    per_route = route["patch"]["value"]["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]["value"]
    assert per_route["token_bucket"]["max_tokens"] == 10


def test_local_rate_limit_errors() -> None:
    limit = LocalRateLimit(5, "1s", port=9999)
    line = here() - 1
    svc = Service("app", ports=[Port(80)], rate_limit=limit)
    (err,) = errors(Mesh("m", clusters=[Cluster("prod")], services=[svc]))
    assert err[0] == line and "not an HTTP port" in err[1]
    with pytest.raises(IntentError, match="more than the bucket holds"):
        LocalRateLimit(5, "1s", tokens_per_fill=6)


# ---- trust between meshes ---------------------------------------------------------------------------
def test_imported_service_goes_through_the_other_mesh_gateway_with_its_sni() -> None:
    """Istio's multi-mesh model: httpbin of mesh B, called as httpbin.bar.global in mesh A, reaches B's
    east-west gateway (AUTO_PASSTHROUGH on 15443) with Istio mTLS whose SNI names the service in B."""
    imp = ImportedService("httpbin-bar", namespace="shop", host="httpbin.bar.global",
                          remote_host="httpbin.bar.svc.cluster.local", ports=[Port(8000)], gateway="203.0.113.10",
                          trust_domain="mesh-b.example", service_account="httpbin", address="240.0.0.2")
    mesh = Mesh("mesh-a", clusters=[Cluster("prod")], trust_domain="mesh-a.example",
                trust_domain_aliases=["mesh-b.example"], imported_services=[imp],
                install=IstioInstall(method="istioctl"))
    objs = compiled(mesh)
    se = objs[("ServiceEntry", "shop", "httpbin-bar")]["spec"]
    assert se["hosts"] == ["httpbin.bar.global"] and se["location"] == "MESH_INTERNAL"
    (endpoint,) = se["endpoints"]
    (port,) = se["ports"]
    assert endpoint["address"] == "203.0.113.10" and endpoint["ports"][port["name"]] == 15443
    (level,) = objs[("DestinationRule", "shop", "httpbin-bar")]["spec"]["trafficPolicy"]["portLevelSettings"]
    assert level["port"] == {"number": 8000}
    assert level["tls"] == {"mode": "ISTIO_MUTUAL", "sni": "outbound_.8000_._.httpbin.bar.svc.cluster.local",
                            "subjectAltNames": ["spiffe://mesh-b.example/ns/bar/sa/httpbin"]}
    (op,) = [o for k, o in objs.items() if k[0] == "IstioOperator"]
    assert op["spec"]["meshConfig"]["trustDomain"] == "mesh-a.example"
    assert op["spec"]["meshConfig"]["trustDomainAliases"] == ["mesh-b.example"]


def test_imported_service_errors() -> None:
    with pytest.raises(IntentError, match="shadow a local Kubernetes service"):
        ImportedService("x", host="a.b.svc.cluster.local", remote_host="a.b.svc.cluster.local", ports=[Port(80)],
                        gateway="gw.example.com", trust_domain="b.example")
    clash = ImportedService("x", host="ratings.default.svc.cluster.local", remote_host="ratings.b.svc.cluster.local",
                            ports=[Port(80)], gateway="gw.example.com", trust_domain="b.example")
    line = here() - 2
    found = errors(Mesh("m", clusters=[Cluster("prod")], services=[Service("ratings", ports=[Port(80)])],
                        imported_services=[clash]))
    assert any(n == line and "claimed twice" in msg for n, msg in found)


# ---- every object compiled above passes the schemas --------------------------------------------
def test_every_edge_task_passes_the_crds(tmp_path: Path) -> None:
    if len(COMPILED) < 3:
        pytest.skip("checks the meshes the other tests compiled: run the whole module")
    for name, mesh in COMPILED.items():
        write_plan(compile_mesh(mesh), tmp_path / name)
    code, output = crdcheck(tmp_path)
    assert code == 0, output
    summary = re.search(r"crdcheck: (\d+) objects, (\d+) checked against a CRD, (\d+) errors", output)
    assert summary and int(summary[3]) == 0 and int(summary[2]) > 5, output
