"""Checks stay linear when many objects share one host, certificate or namespace (issue 22).

Thousands of Gateways serving one host with one certificate made IST0145 and IST0138 compare
every pair and IST0138 name every other Gateway in each finding (findings growing with the
square of the input). Each now names the first MAX_LISTED and counts the rest, as IST0109 does.
"""
from __future__ import annotations

from meshcode.analyze import analyze_resources
from meshcode.errors import MAX_LISTED
from meshcode.plan import Resource


def _gateway(i: int, selector: dict[str, str]) -> Resource:
    return Resource({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": f"gw-{i:04d}", "namespace": "edge"},
        "spec": {"selector": selector, "servers": [{
            "port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["shop.example.com"],
            "tls": {"mode": "SIMPLE", "credentialName": "shop-cert"}}]}})


def test_many_gateways_on_one_host_and_certificate_name_ten_and_count_the_rest() -> None:
    n = 1500
    wide = {"istio": "ingressgateway"}
    narrow = {"istio": "ingressgateway", "zone": "a"}  # selects a subset of what `wide` selects
    gateways = [_gateway(i, narrow if i % 3 == 0 else wide) for i in range(n)]
    findings = analyze_resources(gateways, "c")
    conflicts = {f.name: f.message for f in findings if f.code == "IST0145"}
    certificates = {f.name: f.message for f in findings if f.code == "IST0138"}
    assert len(conflicts) == n and len(certificates) == n

    wides = [f"edge/gw-{i:04d}" for i in range(n) if i % 3]
    narrows = [f"edge/gw-{i:04d}" for i in range(n) if i % 3 == 0]
    # IST0145: the same selector and port, overlapping hosts: the other gateways of its selector
    assert conflicts["gw-0001"] == (
        f"Conflict with gateways {','.join(wides[1:MAX_LISTED + 1])} and {len(wides) - 1 - MAX_LISTED} more "
        "(workload selector istio=ingressgateway, port 443, hosts shop.example.com).")
    # IST0138: the gateways whose selector holds all of this one's (selects a subset of its workloads)
    everyone = [f"edge/gw-{i:04d}" for i in range(n)]
    assert certificates["gw-0001"] == (
        f"Duplicate certificate in multiple gateways [edge/gw-0001 {' '.join(everyone[:1] + everyone[2:MAX_LISTED + 1])} "
        f"and {n - 1 - MAX_LISTED} more] may cause 404s if clients re-use HTTP2 connections (credentialName shop-cert).")
    assert certificates["gw-0000"].startswith(
        f"Duplicate certificate in multiple gateways [edge/gw-0000 {' '.join(narrows[1:MAX_LISTED + 1])} and "
        f"{len(narrows) - 1 - MAX_LISTED} more]")
    assert max(len(m) for m in [*conflicts.values(), *certificates.values()]) < 600


def test_a_few_gateways_are_all_named() -> None:
    gateways = [_gateway(i, {"istio": "ingressgateway"}) for i in range(3)]
    found = [f.message for f in analyze_resources(gateways, "c") if f.code == "IST0138" and f.name == "gw-0001"]
    assert found == ["Duplicate certificate in multiple gateways [edge/gw-0001 edge/gw-0000 edge/gw-0002] may cause "
                     "404s if clients re-use HTTP2 connections (credentialName shop-cert)."]
