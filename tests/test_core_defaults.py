"""The rule "no intent is ever dropped" for routing, and the documented default of a service.

A service without versions routes to its own host, so timeouts, retries, faults and mirrors on it
reach the output; an unknown version is an error at its line; HTTP-only intent on a service with
no HTTP port is refused; `default_to` chooses where default traffic goes (a version, or every pod).
Each case is checked by meaning with the first-match routing model in tests/support/core.py.
"""
from __future__ import annotations

import sys
from typing import Any

import pytest

from meshcode import (
    ALL_PODS, Abort, Canary, Cluster, CompileError, Delay, Dest, Fault, Ingress, IntentError, Match, Mesh,
    Mirror, Port, Prefix, Retries, Route, Service, compile_mesh,
)
from tests.support.core import http_rule, split
from tests.support.meshes import compiled

NS = "shop"
PAY = f"pay.{NS}.svc.cluster.local"
JASON = Match(headers={"end-user": "jason"})


def here() -> int:
    return sys._getframe(1).f_lineno


def mesh(*services: Service, **kw: Any) -> Mesh:
    return Mesh("m", clusters=[Cluster("prod")], services=list(services), **kw)


def vs(m: Mesh, name: str = "pay") -> dict[str, Any]:
    return compiled(m)[("VirtualService", NS, name)]


def errors(m: Mesh) -> list[tuple[int, str]]:
    with pytest.raises(CompileError) as info:
        compile_mesh(m)
    return [(f.location.line if f.location else 0, f.message) for f in info.value.findings]


# ---- a service without versions routes to its host ----------------------------------------------
@pytest.mark.parametrize("intent, key, emitted", [
    ({"timeout": "2s"}, "timeout", "2s"),
    ({"retries": Retries(3, per_try_timeout="1s")}, "retries", {"attempts": 3, "perTryTimeout": "1s"}),
    ({"fault": Fault(abort=Abort(503, percent=10))}, "fault",
     {"abort": {"httpStatus": 503, "percentage": {"value": 10.0}}}),
    ({"routes": [Route(timeout="3s")]}, "timeout", "3s"),
])
def test_unversioned_service_keeps_its_route_extras(intent: dict[str, Any], key: str, emitted: Any) -> None:
    v = vs(mesh(Service("pay", namespace=NS, ports=[Port(8080)], **intent)))
    assert v["spec"]["hosts"] == [PAY]
    rule = http_rule(v)
    assert split(rule) == {PAY: 100}  # every pod of the service, no subset
    assert rule[key] == emitted


def test_unversioned_service_without_routing_intent_has_no_virtual_service() -> None:
    objs = compiled(mesh(Service("pay", namespace=NS, ports=[Port(8080)])))
    assert not [k for k in objs if k[0] == "VirtualService"]


def test_unversioned_service_mirrors_to_another_service() -> None:
    shadow = Service("pay-shadow", namespace=NS, ports=[Port(8080)])
    v = vs(mesh(Service("pay", namespace=NS, ports=[Port(8080)], mirror=Mirror(shadow, percent=5)), shadow))
    rule = http_rule(v)
    assert split(rule) == {PAY: 100}
    assert rule["mirror"] == {"host": shadow.host} and rule["mirrorPercentage"] == {"value": 5.0}


def test_mirror_to_a_version_that_does_not_exist_is_an_error_at_its_line() -> None:
    mirror = Mirror("v2")
    line = here() - 1
    assert errors(mesh(Service("pay", namespace=NS, ports=[Port(8080)], mirror=mirror))) == [
        (line, "version 'v2' of pay does not exist (versions: none)")]
    versioned = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1"], mirror=mirror)
    assert errors(mesh(versioned)) == [(line, "version 'v2' of pay does not exist (versions: v1)")]


def test_route_to_an_unknown_version_is_an_error_at_its_line() -> None:
    route = Route(match=JASON, to="v9")
    line = here() - 1
    (err,) = errors(mesh(Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1"], routes=[route])))
    assert err[0] == line and "version 'v9' of pay does not exist" in err[1]


def test_route_without_to_keeps_the_default_destination_and_its_extras() -> None:
    svc = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"],
                  routes=[Route(match=JASON, fault=Fault(delay=Delay("7s"))), Route(timeout="3s")])
    v = vs(mesh(svc))
    jason, other = http_rule(v, headers={"end-user": "jason"}), http_rule(v)
    assert split(jason) == split(other) == {f"{PAY}/v1": 100}
    assert jason["fault"]["delay"]["fixedDelay"] == "7s" and "timeout" not in jason
    assert other["timeout"] == "3s" and "fault" not in other


def test_service_mirror_applies_to_every_rule() -> None:
    svc = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"], mirror=Mirror("v2", percent=50),
                  routes=[Route(match=Match(uri=Prefix("/api")), to="v1")])
    v = vs(mesh(svc))
    for rule in (http_rule(v, uri="/api/x"), http_rule(v)):
        assert rule["mirror"] == {"host": PAY, "subset": "v2"} and rule["mirrorPercentage"] == {"value": 50.0}


def test_a_matched_route_that_changes_nothing_is_refused() -> None:
    route = Route(match=JASON)
    line = here() - 1
    (err,) = errors(mesh(Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1"], routes=[route])))
    assert err[0] == line and "no destination" in err[1]


def test_http_intent_on_a_tcp_only_service_is_refused_at_each_line() -> None:
    retries = Retries(3)
    retries_line = here() - 1
    canary = Canary(stable="v1", candidate="v2", testers=[JASON])
    canary_line = here() - 1
    route = Route(to="v1", timeout="1s")
    route_line = here() - 1
    svc = Service("db", namespace=NS, ports=[Port(5432, "TCP")], versions=["v1", "v2"], retries=retries,
                  routes=[route])
    found = errors(mesh(svc))
    assert (retries_line, "retries applies to HTTP requests only; db has no HTTP port (5432/TCP)") in found
    assert (route_line, "timeout applies to HTTP requests only; db has no HTTP port (5432/TCP)") in found
    svc = Service("db", namespace=NS, ports=[Port(5432, "TCP")], versions=["v1", "v2"], canary=canary)
    assert errors(mesh(svc)) == [
        (canary_line, "canary testers (HTTP matches) applies to HTTP requests only; db has no HTTP port (5432/TCP)")]


# ---- the default of a versioned service, and all pods as a choice --------------------------------
def test_versioned_default_is_the_first_version() -> None:
    v = vs(mesh(Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"])))
    assert split(http_rule(v)) == {f"{PAY}/v1": 100}


def test_all_pods_writes_subsets_and_no_virtual_service() -> None:
    """Istio's "subsets in a DestinationRule, no VirtualService": round robin over every pod."""
    objs = compiled(mesh(Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"],
                                 default_to=ALL_PODS)))
    assert ("VirtualService", NS, "pay") not in objs
    subsets = objs[("DestinationRule", NS, "pay")]["spec"]["subsets"]
    assert [s["name"] for s in subsets] == ["v1", "v2"]


def test_all_pods_with_routes_sends_the_rest_to_the_host() -> None:
    svc = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"], default_to=ALL_PODS,
                  timeout="2s", routes=[Route(match=JASON, to="v2")])
    v = vs(mesh(svc))
    assert split(http_rule(v, headers={"end-user": "jason"})) == {f"{PAY}/v2": 100}
    rest = http_rule(v)
    assert split(rest) == {PAY: 100} and rest["timeout"] == "2s"


def test_default_to_a_version() -> None:
    svc = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"], default_to="v2")
    assert split(http_rule(vs(mesh(svc)))) == {f"{PAY}/v2": 100}


def test_ingress_follows_the_default_choice() -> None:
    svc = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"], default_to=ALL_PODS)
    ing = Ingress("front", namespace=NS, hosts=["pay.example.com"], routes=[Route(to=svc)])
    assert split(http_rule(vs(mesh(svc, ingresses=[ing]), "front"))) == {PAY: 100}
    pinned = Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"], default_to="v2")
    ing = Ingress("front", namespace=NS, hosts=["pay.example.com"], routes=[Route(to=Dest(pinned))])
    assert split(http_rule(vs(mesh(pinned, ingresses=[ing]), "front"))) == {f"{PAY}/v2": 100}


@pytest.mark.parametrize("kw, message", [
    ({"default_to": "v3"}, "neither a version of pay"),
    ({"default_to": "v1", "canary": Canary(stable="v1", candidate="v2")}, "the canary owns the default split"),
    ({"default_to": "v1", "routes": [Route(to="v2")]}, "keep one"),
])
def test_default_to_conflicts_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(IntentError, match=message) as info:
        Service("pay", namespace=NS, ports=[Port(8080)], versions=["v1", "v2"], **kw)
    assert info.value.location is not None and info.value.location.line == here() - 1
