"""ZeroTrust contradictions: `meshcode compile` refuses them at the stack line, writes nothing, exits 1.

Each case has a twin that differs in the one detail that removes the contradiction and compiles,
so the checks are shown to be about that detail, not about the shape of the stack.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable

import pytest

from tests.support.core import fingerprint, line_of, run_cli

HEAD = """\
from meshcode import (
    AllowRule, Call, ClientTLS, Cluster, DenyRule, Header, Ingress, IngressGateway, Jwt, Match, Mesh, MtlsMigration,
    Port, Prefix, Route, Service, SidecarScope, Version, ZeroTrust,
)
"""
GOOD = HEAD + """\
web = Service("web", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], zero_trust=[ZeroTrust(namespace="shop")])
"""

# name → (code, message fragment, bad body, the fix: (old, new) applied to the body)
CASES: dict[str, tuple[str, str, str, tuple[str, str]]] = {
    "deny-blocks-declared-call": ("MC2502", "blocks the declared call from shop/reviews", """
ratings = Service("ratings", namespace="shop", ports=[Port(9080)])
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], calls=[Call(ratings, methods=["GET"])])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings, reviews], zero_trust=[
    ZeroTrust(namespace="shop", deny=[
        DenyRule(principals=[reviews], methods=["GET", "DELETE"]),  # <- here
    ]),
])
""", ('methods=["GET", "DELETE"]', 'methods=["DELETE"]')),
    "deny-not-namespaces-blocks-a-caller-elsewhere": ("MC2502", "blocks the declared call from web/frontend", """
ratings = Service("ratings", namespace="shop", ports=[Port(9080)])
frontend = Service("frontend", namespace="web", ports=[Port(8080)], versions=["v1"], calls=[ratings])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings, frontend], zero_trust=[
    ZeroTrust(namespace="shop", deny=[
        DenyRule(not_namespaces=["shop", "istio-system"]),  # <- here
    ]),
])
""", ('not_namespaces=["shop", "istio-system"]', 'not_namespaces=["shop", "web", "istio-system"]')),
    "deny-without-istio-system-blocks-the-ingress": ("MC2502", "blocks the declared ingress shop/edge", """
web = Service("web", namespace="shop", ports=[Port(8080)])
edge = Ingress("edge", namespace="shop", hosts=["shop.example.com"], routes=[Route(to=web)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], ingresses=[edge], zero_trust=[
    ZeroTrust(namespace="shop", deny=[DenyRule(not_namespaces=["shop"])]),  # <- here
])
""", ('not_namespaces=["shop"]', 'not_namespaces=["shop", "istio-system"]')),
    "tls-disable-toward-strict": ("MC2503", "TLS DISABLE toward ratings", """
ratings = Service(
    "ratings", namespace="shop", ports=[Port(9080)],
    tls=ClientTLS("DISABLE"),  # <- here
)
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings], zero_trust=[ZeroTrust(namespace="shop")])
""", ('ZeroTrust(namespace="shop")', 'ZeroTrust(namespace="shop", mtls="PERMISSIVE")')),
    "sidecar-hides-a-dependency": ("MC2504", "hides data/ratings.data.svc.cluster.local", """
ratings = Service("ratings", namespace="data", ports=[Port(9080)])
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], calls=[ratings])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings, reviews],
            sidecars=[SidecarScope("shop", egress_hosts=["./*", "istio-system/*"])],  # <- here
            zero_trust=[ZeroTrust(namespace="shop", egress_lockdown=False)])
""", ('egress_lockdown=False', 'egress_lockdown=True')),
    "sidecar-hides-a-dependency-without-zero-trust": ("MC2504", "hides data/ratings.data.svc.cluster.local", """
ratings = Service("ratings", namespace="data", ports=[Port(9080)])
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], calls=[ratings])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings, reviews],
            sidecars=[SidecarScope("shop", egress_hosts=["./*", "istio-system/*"])])  # <- here
""", ('"./*", "istio-system/*"', '"./*", "data/*", "istio-system/*"')),
    "jwt-on-a-tcp-only-service": ("MC2505", "JWT rule on mongodb, which has only TCP ports", """
mongodb = Service("mongodb", namespace="shop", ports=[Port(27017, "MONGO")])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[mongodb], zero_trust=[
    ZeroTrust(service=mongodb,
              jwt=Jwt("https://issuer.example.com", "https://issuer.example.com/jwks.json")),  # <- here
])
""", ('Port(27017, "MONGO")', 'Port(27017, "MONGO"), Port(8080)')),
    "ingress-exposure-without-an-ingress-allow": ("MC2506", "exposed through ingress edge but default deny", """
web = Service("web", namespace="shop", ports=[Port(8080)])
edge = Ingress("edge", namespace="shop", hosts=["shop.example.com"], selector={"istio": "edge"},
               routes=[Route(to=web)])  # <- here
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], ingresses=[edge], zero_trust=[
    ZeroTrust(namespace="shop"),
])
""", ('ZeroTrust(namespace="shop")', ('ZeroTrust(namespace="shop", gateways=[IngressGateway('
                                     'selector={"istio": "edge"}, namespace="edge", service_account="edge")])'))),
    "mtls-migration-jump": ("MC2507", "jumps DISABLE → STRICT", """
web = Service("web", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], zero_trust=[
    ZeroTrust(namespace="shop",
              mtls=MtlsMigration("DISABLE", "STRICT")),  # <- here
])
""", ('"DISABLE", "STRICT"', '"DISABLE", "PERMISSIVE"')),
    "call-to-an-undeclared-service": ("MC2501", "calls 'ratngs', which is not a service", """
reviews = Service(
    "reviews", namespace="shop", ports=[Port(9080)],
    calls=[Call("ratngs")],  # <- here
)
ratings = Service("ratings", namespace="shop", ports=[Port(9080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[reviews, ratings], zero_trust=[ZeroTrust(namespace="shop")])
""", ('"ratngs"', '"ratings"')),
    "http-conditions-on-a-tcp-call": ("MC2501", "HTTP conditions cannot apply", """
mongodb = Service("mongodb", namespace="shop", ports=[Port(27017, "MONGO")])
ratings = Service(
    "ratings", namespace="shop", ports=[Port(9080)],
    calls=[Call(mongodb, methods=["GET"])],  # <- here
)
mesh = Mesh("m", clusters=[Cluster("prod")], services=[mongodb, ratings], zero_trust=[ZeroTrust(namespace="shop")])
""", ('Call(mongodb, methods=["GET"])', 'Call(mongodb)')),
    "version-calls-with-a-shared-account": ("MC2508", "shares service account 'ratings' with v1", """
mongodb = Service("mongodb", namespace="shop", ports=[Port(27017, "MONGO")])
ratings = Service("ratings", namespace="shop", ports=[Port(9080)], versions=[
    "v1",
    Version("v2", calls=[mongodb]),  # <- here
])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[mongodb, ratings], zero_trust=[ZeroTrust(namespace="shop")])
""", ('Version("v2", calls', 'Version("v2", service_account="ratings-v2", calls')),
    "default-deny-lifted-for-one-service": ("MC2509", "sets default_deny=False inside a namespace", """
web = Service("web", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], zero_trust=[
    ZeroTrust(namespace="shop"),
    ZeroTrust(service=web, default_deny=False),  # <- here
])
""", ('ZeroTrust(service=web, default_deny=False)', 'ZeroTrust(service=web, egress_lockdown=False)')),
    "zero-trust-for-an-unknown-service": ("MC2509", "ZeroTrust for service 'wbe'", """
web = Service("web", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], zero_trust=[
    ZeroTrust(service="wbe"),  # <- here
])
""", ('"wbe"', '"web"')),
    # -- the sources and conditions of AllowRule/DenyRule, versions and gateways --------------------
    "version-deny-blocks-a-declared-call": ("MC2502", "blocks the declared call from web/frontend", """
ratings = Service("ratings", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"])
frontend = Service("frontend", namespace="web", ports=[Port(8080)], calls=[ratings])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings, frontend], zero_trust=[
    ZeroTrust(namespace="shop"),
    ZeroTrust(service=ratings, version="v1", deny=[
        DenyRule(not_namespaces=["shop"]),  # <- here
    ]),
])
""", ('not_namespaces=["shop"]', 'not_namespaces=["shop", "web"]')),
    "deny-anyone-blocks-every-call": ("MC2502", "blocks the declared call from shop/reviews", """
ratings = Service("ratings", namespace="shop", ports=[Port(9080)])
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], calls=[ratings])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[ratings, reviews], zero_trust=[
    ZeroTrust(service=ratings, deny=[DenyRule(anyone=True)]),  # <- here
])
""", ('DenyRule(anyone=True)', 'DenyRule(methods=["DELETE"], when=[Header("x-token", not_values="admin")])')),
    "allow-any-in-a-strict-namespace": ("MC2510", "which is marked strict", """
web = Service("web", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[web], zero_trust=[
    ZeroTrust(namespace="shop", strict=True),
    ZeroTrust(service=web, allow=[
        AllowRule(anyone=True, methods=["GET"], paths=["/docs/*"]),  # <- here
    ]),
])
""", ('anyone=True', 'namespaces=["partners"]')),
    "allow-with-methods-on-a-tcp-port": ("MC2512", "Istio never matches such an ALLOW rule", """
db = Service("db", namespace="shop", ports=[Port(5432, "TCP"), Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[db], zero_trust=[
    ZeroTrust(service=db, allow=[
        AllowRule(namespaces=["ops"], ports=[5432], methods=["GET"]),  # <- here
    ]),
])
""", ('ports=[5432], methods=["GET"]', 'ports=[5432]')),
    "allow-on-a-port-the-service-lacks": ("MC2512", "which is not a port of db", """
db = Service("db", namespace="shop", ports=[Port(5432, "TCP")])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[db], zero_trust=[
    ZeroTrust(service=db, allow=[
        AllowRule(namespaces=["ops"], ports=[5433]),  # <- here
    ]),
])
""", ('ports=[5433]', 'ports=[5432]')),
    "jwt-subject-with-nothing-validating-tokens": ("MC2512", "no RequestAuthentication validates tokens", """
api = Service("api", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], zero_trust=[
    ZeroTrust(service=api, allow=[
        AllowRule(request_principals=["https://issuer.example.com/batch"]),  # <- here
    ]),
])
""", ('ZeroTrust(service=api, allow', 'ZeroTrust(service=api, jwt=Jwt("https://issuer.example.com", '
      '"https://issuer.example.com/jwks.json"), allow')),
    "jwt-subject-of-another-issuer": ("MC2512", "is not of issuer 'https://issuer.example.com'", """
api = Service("api", namespace="shop", ports=[Port(8080)])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], zero_trust=[
    ZeroTrust(service=api, jwt=Jwt("https://issuer.example.com", "https://issuer.example.com/jwks.json"), allow=[
        AllowRule(request_principals=["https://other.example.com/batch"]),  # <- here
    ]),
])
""", ('https://other.example.com/batch', 'https://issuer.example.com/batch')),
    "gateway-removes-the-token-a-service-requires": ("MC2513", "set forward_original_token=True", """
api = Service("api", namespace="shop", ports=[Port(8080)])
edge = Ingress("edge", namespace="shop", hosts=["api.example.com"], routes=[Route(to=api)])
keys = "https://issuer.example.com/jwks.json"
gateway = IngressGateway(jwt=Jwt("https://issuer.example.com", keys))  # <- here
mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], ingresses=[edge], zero_trust=[
    ZeroTrust(namespace="shop", gateways=[gateway],
              jwt=Jwt("https://issuer.example.com", "https://issuer.example.com/jwks.json")),
])
""", ('keys))', 'keys, forward_original_token=True))')),
    "tls-disabled-toward-a-strict-version": ("MC2503", "whose v2 pods accept only mTLS", """
api = Service("api", namespace="shop", ports=[Port(8080)], versions=["v1", "v2"],
              tls=ClientTLS("DISABLE"))  # <- here
mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], zero_trust=[
    ZeroTrust(service=api, version="v2", mtls="STRICT"),
])
""", ('mtls="STRICT"', 'mtls="PERMISSIVE"')),
    "gateway-deny-blocks-a-route": ("MC2502", "blocks the declared ingress shop/edge", """
api = Service("api", namespace="shop", ports=[Port(8080)])
edge = Ingress("edge", namespace="shop", hosts=["api.example.com"], routes=[Route(match=Match(uri=Prefix("/v1/")), to=api)])
gateway = IngressGateway(deny=[
    DenyRule(paths=["/v1/admin/*"]),  # <- here
])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], ingresses=[edge], zero_trust=[
    ZeroTrust(namespace="shop", gateways=[gateway]),
])
""", ('DenyRule(paths=["/v1/admin/*"])', 'DenyRule(paths=["/v1/admin/*"], not_remote_ip_blocks=["10.0.0.0/8"])')),
    "gateway-allow-list-admits-no-route": ("MC2514", "admit no request of the declared ingress shop/edge", """
api = Service("api", namespace="shop", ports=[Port(8080)])
edge = Ingress("edge", namespace="shop", hosts=["api.example.com"], routes=[Route(match=Match(uri=Prefix("/v1/")), to=api)])
gateway = IngressGateway(allow=[
    AllowRule(remote_ip_blocks=["192.0.2.0/24"], paths=["/v2/*"]),  # <- here
])
mesh = Mesh("m", clusters=[Cluster("prod")], services=[api], ingresses=[edge], zero_trust=[
    ZeroTrust(namespace="shop", gateways=[gateway]),
])
""", ('paths=["/v2/*"]', 'paths=["/v1/*"]')),
}


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    root = make_project(zt=GOOD)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize("case", sorted(CASES))
def test_contradiction_is_refused_at_its_line(project: Path, case: str) -> None:
    code, message, body, _ = CASES[case]
    source = HEAD + textwrap.dedent(body).lstrip("\n")
    (project / "stacks" / "zt.py").write_text(source)
    before = fingerprint(project / "generated")
    result = run_cli("compile", "--root", str(project))
    assert result.exit_code == 1, result.output
    assert f"stacks/zt.py:{line_of(source, '# <- here')}: error {code}" in result.output, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert fingerprint(project / "generated") == before


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fixed_twin_compiles(project: Path, case: str) -> None:
    _, _, body, (old, new) = CASES[case]
    assert body.count(old) == 1
    source = HEAD + textwrap.dedent(body.replace(old, new)).lstrip("\n")
    (project / "stacks" / "zt.py").write_text(source)
    result = run_cli("compile", "--root", str(project))
    assert result.exit_code == 0, result.output


def test_mtls_moves_one_stage_at_a_time_against_what_generated_holds(project: Path) -> None:
    """generated/ is what Argo CD applies: DISABLE there, STRICT in the stack is a jump."""
    stack = project / "stacks" / "zt.py"

    def compile_with(mode: str) -> tuple[int, str, str]:
        source = GOOD.replace('ZeroTrust(namespace="shop")', f'ZeroTrust(namespace="shop", mtls="{mode}")')
        stack.write_text(source)
        result = run_cli("compile", "--root", str(project))
        return result.exit_code, result.output, source

    pa = project / "generated" / "prod" / "shop" / "peerauthentication-default.yaml"
    assert "mode: STRICT" in pa.read_text()
    code, out, source = compile_with("DISABLE")
    assert code == 1 and "error MC2507" in out and "jumps STRICT → DISABLE" in out, out
    assert f"stacks/zt.py:{line_of(source, 'ZeroTrust(')}:" in out
    assert "mode: STRICT" in pa.read_text()  # nothing written
    assert compile_with("PERMISSIVE")[0] == 0
    assert compile_with("DISABLE")[0] == 0
    before = fingerprint(project / "generated")
    code, out, _ = compile_with("STRICT")
    assert code == 1 and "jumps DISABLE → STRICT" in out and "set PERMISSIVE first" in out, out
    assert fingerprint(project / "generated") == before
    assert compile_with("PERMISSIVE")[0] == 0
    assert compile_with("STRICT")[0] == 0
    assert "mode: STRICT" in pa.read_text()
