"""Broken intent through the CLI: exit 1, an error naming the stack file and the offending
line, and `generated/` exactly as it was (same bytes, same mtimes, foreign files untouched).

Each bad stack marks the line of the offending object with `# <- here`; the test asserts
that exact line is reported.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.core import fingerprint, line_of, run_cli

GOOD = """\
from meshcode import *

reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
                  canary=Canary(stable="v1", candidate="v2", weight=10))
front = Ingress("front", namespace="shop", hosts=["shop.example.com"], routes=[Route(to=reviews)])
mesh = Mesh("shop", clusters=[Cluster("prod")], services=[reviews], ingresses=[front])
"""

HEAD = "from meshcode import *\n\n"
TAIL = '\nmesh = Mesh("shop", clusters=[Cluster("prod")], services=SERVICES, ingresses=INGRESSES,\n' \
       '            external_services=EXTERNALS)\n'

BAD = {
    "weights-not-100": ("weights must sum to 100, got 60 + 30 = 90", """
reviews = Service(
    "reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
    routes=[
        Route(match=Match(headers={"end-user": "jason"}), to="v2"),
        Route(to={"v1": 60, "v2": 30}),  # <- here
    ],
)
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "weights-in-a-multiline-route": ("weights must sum to 100, got 50 + 40 = 90", """
reviews = Service(
    "reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
    routes=[
        Route(  # <- here
            match=Match(uri=Prefix("/api")),
            to={
                "v1": 50,
                "v2": 40,
            },
        ),
    ],
)
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "weights-of-dests": ("weights must sum to 100, got 70 + 20 = 90", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
                  routes=[Route(to=[Dest(version="v1", weight=70),  # <- here
                                    Dest(version="v2", weight=20)])])
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "canary-unknown-version": ("canary version 'v3' is not a version of reviews (versions: v1, v2)", """
reviews = Service(
    "reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
    canary=Canary(stable="v1", candidate="v3", weight=10),  # <- here
)
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "route-unknown-version": ("version 'v9' of reviews does not exist (versions: v1, v2)", """
jason = Match(headers={"end-user": "jason"})
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
                  routes=[
                      Route(match=jason, to="v2"),
                      Route(match=Match(uri=Prefix("/beta")), to="v9"),  # <- here
                  ])
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "mirror-unknown-version": ("version 'v3' of httpbin does not exist", """
httpbin = Service("httpbin", namespace="shop", ports=[Port(8000)], versions=["v1", "v2"],
                  mirror=Mirror("v3"))  # <- here
SERVICES, INGRESSES, EXTERNALS = [httpbin], [], []
"""),
    "unknown-service": ("destination service 'ratingz' is not declared in mesh 'shop'", """
typo = Dest("ratingz", version="v1")  # <- here
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"],
                  routes=[Route(match=Match(uri=Prefix("/ratings")), to=typo)])
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "ingress-unknown-service": ("destination service 'reveiws' is not declared", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"])
front = Ingress("front", namespace="shop", hosts=["shop.example.com"],
                routes=[Route(match=Match(uri=Prefix("/")), to="reveiws")])  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [front], []
"""),
    "negative-duration": ("timeout: duration must be positive", """
reviews = Service(  # <- here
    "reviews", namespace="shop", ports=[Port(9080)], versions=["v1"],
    timeout=-1,
)
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "negative-duration-string": ("'-2s' is not a duration", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"],
                  retries=Retries(3, per_try_timeout="-2s"))  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "malformed-duration": ("'7 seconds' is not a duration (use e.g. '500ms', '2s', '3m', '1h')", """
ratings = Service("ratings", namespace="shop", ports=[Port(9080)], versions=["v1"],
                  fault=Fault(
                      delay=Delay("7 seconds"),  # <- here
                  ))
SERVICES, INGRESSES, EXTERNALS = [ratings], [], []
"""),
    "invalid-dns-name": ("'Reviews_V2' is not a valid DNS-1123 label", """
reviews = Service("Reviews_V2", namespace="shop", ports=[Port(9080)])  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "invalid-dns-version": ("Version: name: 'V2' is not a valid DNS-1123 label", """
reviews = Service("reviews",
                  namespace="shop",
                  ports=[Port(9080)],
                  versions=[Version("v1"), Version("V2")])  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "invalid-dns-namespace": ("namespace: 'Shop' is not a valid DNS-1123 label", """
reviews = Service(  # <- here
    "reviews",
    namespace="Shop",
    ports=[Port(9080)],
)
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "duplicate-service": ("service shop/reviews is declared twice (first at stacks/mesh.py:3)", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"])
details = Service("details", namespace="shop", ports=[Port(9080)])
again = Service("reviews", namespace="shop", ports=[Port(8080)])  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews, details, again], [], []
"""),
    "two-ingresses-claim-one-host": ("ingress host shop.example.com on port 80 is claimed twice", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"])
web = Ingress("web", namespace="shop", hosts=["shop.example.com"], routes=[Route(to=reviews)])
api = Ingress("api", namespace="shop", hosts=["api.example.com", "shop.example.com"],  # <- here
              routes=[Route(to=reviews)])
SERVICES, INGRESSES, EXTERNALS = [reviews], [web, api], []
"""),
    "redirect-claims-port-80": ("ingress host shop.example.com on port 80 is claimed twice", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"])
secure = Ingress("secure", namespace="shop", hosts=["shop.example.com"], tls=ServerTLS("cert"),
                 http_redirect=True, routes=[Route(to=reviews)])
plain = Ingress("plain", namespace="shop", hosts=["shop.example.com"], routes=[Route(to=reviews)])  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [secure, plain], []
"""),
    "external-claims-a-service-host": ("host reviews.shop.svc.cluster.local is claimed twice", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"])
legacy = ExternalService("legacy", namespace="shop",  # <- here
                         hosts=["reviews.shop.svc.cluster.local"], ports=[Port(80)])
SERVICES, INGRESSES, EXTERNALS = [reviews], [], [legacy]
"""),
    "route-target-of-wrong-type": ("to= must be a version or service name", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1"],
                  routes=[Route(to=42)])  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
    "exception-in-user-code": ("KeyError: 'v4'", """
weights = {"v1": 90, "v2": 10}
candidate = weights["v4"]  # <- here
SERVICES, INGRESSES, EXTERNALS = [], [], []
"""),
    "syntax-error": ("syntax error", """
reviews = Service("reviews", namespace="shop", ports=[Port(9080)]  # <- here
SERVICES, INGRESSES, EXTERNALS = [reviews], [], []
"""),
}


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    """A project with a good stack compiled into generated/, plus a file meshcode did not write."""
    root = make_project(mesh=GOOD)
    result = run_cli("compile", "--root", str(root))
    assert result.exit_code == 0, result.output
    (root / "generated" / "README.md").write_text("notes kept by the team\n")
    return root


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_intent_is_refused_at_its_line(project: Path, case: str) -> None:
    message, body = BAD[case]
    source = HEAD + body.lstrip("\n") + TAIL
    (project / "stacks" / "mesh.py").write_text(source)
    before = fingerprint(project / "generated")
    assert before  # there is something to protect

    for args in (["compile"], ["compile", "--check"]):
        result = run_cli(*args, "--root", str(project))
        assert result.exit_code == 1, result.output
        assert f"stacks/mesh.py:{line_of(source, '# <- here')}:" in result.output, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        assert fingerprint(project / "generated") == before


def test_every_error_is_reported_at_once(project: Path) -> None:
    source = HEAD + """\
reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
                  routes=[Route(to={"v1": 10, "v2": 10})])  # <- weights
ratings = Service("ratings", namespace="shop", ports=[Port(9080)], versions=["v1"],
                  canary=Canary(stable="v1", candidate="v2"))  # <- canary
SERVICES, INGRESSES, EXTERNALS = [reviews, ratings], [], []
""" + TAIL
    (project / "stacks" / "mesh.py").write_text(source)
    before = fingerprint(project / "generated")
    result = run_cli("compile", "--root", str(project))
    assert result.exit_code == 1
    lines = [line_of(source, "# <- weights"), line_of(source, "# <- canary")]
    reported = [ln for ln in result.output.splitlines() if ln.startswith("stacks/mesh.py:")]
    assert [int(r.split(":")[1]) for r in reported] == lines  # sorted by line, one per problem
    assert fingerprint(project / "generated") == before


def test_a_second_stack_file_is_named(project: Path) -> None:
    source = HEAD + 'extra = Mesh("extra", clusters=[Cluster("edge")],\n' \
                    '            services=[Service("api", ports=[Port(80)], timeout="soon")])  # <- here\n'
    (project / "stacks" / "zz_extra.py").write_text(source)
    before = fingerprint(project / "generated")
    result = run_cli("compile", "--root", str(project))
    assert result.exit_code == 1
    assert f"stacks/zz_extra.py:{line_of(source, '# <- here')}:" in result.output
    assert fingerprint(project / "generated") == before


def test_two_projects_with_same_stack_names_load_independently(make_project: Callable[..., Path],
                                                                tmp_path: Path) -> None:
    """The loader forgets a previous project's `mesh` module: no stale or 'shadowed' stack."""
    first = make_project(mesh=GOOD)
    assert run_cli("compile", "--root", str(first)).exit_code == 0
    second = tmp_path / "second"
    (second / "stacks").mkdir(parents=True)
    (second / "pyproject.toml").write_text("[tool.meshcode]\n")
    (second / "stacks" / "mesh.py").write_text(GOOD.replace('"prod"', '"staging"'))
    result = run_cli("compile", "--root", str(second))
    assert result.exit_code == 0, result.output
    assert (second / "generated" / "staging" / "kustomization.yaml").is_file()
    assert not (second / "generated" / "prod").exists()
