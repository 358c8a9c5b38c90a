"""No false positives on Istio's own samples (tests/data/istio-samples, see its README).

The networking samples are linted together with the Services they route to. Two samples carry
findings that istioctl analyze reports as well; they are asserted exactly, not ignored.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from meshcode.analyze.lint import lint
from tests.support.paths import ROOT

SAMPLES = ROOT / "tests" / "data" / "istio-samples"
SERVICES = [SAMPLES / "bookinfo/platform/kube/bookinfo.yaml", SAMPLES / "httpbin/httpbin.yaml",
            SAMPLES / "tcp-echo/tcp-echo-services.yaml"]
# (file, code, object name): what istioctl analyze reports on these samples too
KNOWN = {
    ("bookinfo/networking/egress-rule-google-apis.yaml", "IST0129", "originate-tls-for-googleapis"),
    ("bookinfo/networking/fault-injection-details-v1.yaml", "IST0130", "details"),
    # the ingress VirtualService routes to productpage without a subset, so virtual-service-all-v1's
    # subset routing does not apply to requests through the gateway
    ("bookinfo/networking/bookinfo-gateway.yaml", "IST0140", "bookinfo"),
}
# findings that show only when two samples are applied together
TOGETHER = {("bookinfo/networking/bookinfo-gateway.yaml", "IST0140", "bookinfo"): "virtual-service-all-v1.yaml"}


def _key(f) -> tuple[str, str, str]:
    return (str(Path(f.location.file).relative_to(SAMPLES)), f.code, f.name)


def test_all_samples_together_have_only_the_known_findings() -> None:
    result = lint([SAMPLES])
    assert result.objects > 50
    serious = [f for f in result.findings if f.level in ("error", "warning")]
    assert {_key(f) for f in serious} == KNOWN, "\n".join(f.describe() for f in serious)
    assert len(serious) == len(KNOWN)


NETWORKING = sorted(p.name for p in (SAMPLES / "bookinfo/networking").glob("*.yaml"))


@pytest.mark.parametrize("sample", NETWORKING)
def test_each_bookinfo_sample_as_applied_in_istio_tasks(sample: str) -> None:
    """Each task applies the services, all destination rules, the gateway and one sample."""
    net = SAMPLES / "bookinfo/networking"
    paths = [*SERVICES, net / "destination-rule-all.yaml", net / "bookinfo-gateway.yaml", net / sample]
    serious = {_key(f) for f in lint(paths).findings if f.level in ("error", "warning")}
    assert serious == {k for k in KNOWN if k[0].endswith("/" + sample) and k not in TOGETHER
                       or TOGETHER.get(k) == sample}


@pytest.mark.parametrize("sample", ["httpbin/httpbin-gateway.yaml", "tcp-echo/tcp-echo-all-v1.yaml",
                                    "tcp-echo/tcp-echo-20-v2.yaml"])
def test_httpbin_and_tcp_echo(sample: str) -> None:
    result = lint([*SERVICES, SAMPLES / "tcp-echo/tcp-echo-all-v1.yaml", SAMPLES / sample])
    assert [f.describe() for f in result.findings if f.level != "info"] == []


def test_the_samples_fail_without_their_services() -> None:
    """The same files without the Services: every destination is now unresolved."""
    result = lint([SAMPLES / "bookinfo/networking/virtual-service-all-v1.yaml"])
    missing = sorted(f.message for f in result.findings if f.code == "IST0101")
    hosts = ("details", "productpage", "ratings", "reviews")
    # like istioctl (DestinationHostAnalyzer and DestinationRuleAnalyzer): the host, and its subset
    assert missing == sorted([f'Referenced host not found: "{h}" (http[0].route[0])' for h in hosts]
                             + [f'Referenced host+subset in destinationrule not found: "{h}+v1" (http[0].route[0])'
                                for h in hosts])
