"""A pinned rendering of a bookinfo-like mesh (defined here, so stack edits elsewhere do not
move it). The snapshot is the whole rendered tree as one YAML text file under
tests/__snapshots__/; update it with `pytest --snapshot-update` after an intended change.

The scenario tests (test_core_scenarios.py) assert what these objects mean; this one pins
the exact bytes: key order, formatting, file layout and the kustomization.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from meshcode import (
    Abort,
    Canary,
    CircuitBreaker,
    Cluster,
    Delay,
    Dest,
    ExternalService,
    Fault,
    Ingress,
    LoadBalancer,
    Match,
    Mesh,
    Mirror,
    OriginateTLS,
    OutlierDetection,
    Port,
    Prefix,
    Retries,
    Route,
    ServerTLS,
    Service,
    SidecarScope,
    Version,
    compile_mesh,
)
from meshcode.render import render_tree
from meshcode.compile import CONCERNS, traffic
from tests.support.paths import ROOT


class YamlText(SingleFileSnapshotExtension):
    """One readable .yaml file per snapshot."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


@pytest.fixture
def snapshot_yaml(snapshot: Any) -> Any:
    return snapshot.use_extension(YamlText)


def bookinfo_like() -> Mesh:
    ns = "books"
    jason = Match(headers={"end-user": "jason"})
    productpage = Service("productpage", namespace=ns, ports=[Port(9080)], versions=["v1"])
    details = Service("details", namespace=ns, ports=[Port(9080)], versions=["v1", "v2"],
                      load_balancer=LoadBalancer(hash_cookie="user", hash_cookie_ttl="60s"))
    reviews = Service(
        "reviews", namespace=ns, ports=[Port(9080)], versions=["v1", "v2", "v3"], timeout="0.5s",
        routes=[Route(match=Match(headers={"end-user": "qa"}, uri=Prefix("/reviews")), to="v2")],
        canary=Canary(stable="v1", candidate="v3", weight=10, testers=[jason]),
    )
    ratings = Service(
        "ratings", namespace=ns, ports=[Port(9080)],
        versions=[Version("v1"), Version("v2", load_balancer=LoadBalancer("LEAST_REQUEST"))],
        retries=Retries(3, per_try_timeout="2s", retry_on=["5xx"]),
        routes=[
            Route(match=jason, fault=Fault(delay=Delay("7s"))),
            Route(match=Match(headers={"end-user": "kim"}), fault=Fault(abort=Abort(500, percent=50))),
        ],
    )
    httpbin = Service(
        "httpbin", namespace=ns, ports=[Port(8000)], versions=["v1", "v2"], mirror=Mirror("v2"),
        circuit_breaker=CircuitBreaker(max_connections=1, max_pending_requests=1, max_requests_per_connection=1),
        outlier_detection=OutlierDetection(consecutive_5xx_errors=1, interval="1s", base_ejection_time="3m",
                                           max_ejection_percent=100),
    )
    tcp_echo = Service("tcp-echo", namespace=ns, ports=[Port(9000, "TCP")], versions=["v1", "v2"],
                       routes=[Route(to={"v1": 80, "v2": 20})])
    front = Ingress("bookinfo", namespace=ns, hosts=["bookinfo.com"], tls=ServerTLS("bookinfo-cert"),
                    http_redirect=True, routes=[
                        Route(match=Match(uri="/productpage"), to=productpage),
                        Route(match=Match(uri=Prefix("/reviews")), to=reviews),
                        Route(match=Match(uri=Prefix("/ratings")), to=Dest(ratings, version="v1")),
                    ])
    partners = Ingress("partners", namespace=ns, hosts=["partners.bookinfo.com"],
                       tls=ServerTLS("partners-ca", mode="MUTUAL"), routes=[Route(to=details)])
    api = ExternalService("httpbin-org", namespace=ns, hosts=["httpbin.org"], ports=[Port(443, "HTTPS")],
                          originate_tls=OriginateTLS())
    return Mesh("books", clusters=[Cluster("prod")],
                services=[productpage, details, reviews, ratings, httpbin, tcp_echo],
                ingresses=[front, partners], external_services=[api], sidecars=[SidecarScope(ns)])


def traffic_only(plan: Any) -> Any:
    """Keep the Namespace and the traffic objects: concerns other issues add are snapshotted there."""
    kinds = {"Namespace", "VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar"}
    for folder, items in plan.folders.items():
        plan.folders[folder] = [r for r in items if r.kind in kinds]
    return plan


def test_bookinfo_like_tree(snapshot_yaml: Any) -> None:
    assert traffic in CONCERNS
    files = render_tree(traffic_only(compile_mesh(bookinfo_like(), root=str(ROOT))))  # stable annotation
    # semantics the snapshot alone would not guard: every object is listed, files parse as YAML
    listed = yaml.safe_load(files["prod/kustomization.yaml"])["resources"]
    assert sorted(f"prod/{p}" for p in listed) == sorted(p for p in files if p != "prod/kustomization.yaml")
    for path in listed:
        doc = yaml.safe_load(files[f"prod/{path}"])
        assert path == f"{doc['metadata'].get('namespace', '_cluster')}/{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
    text = "".join(f"# ==> {path} <==\n{data.decode()}" for path, data in files.items())
    assert text == snapshot_yaml
