"""Bad topology is a compile error naming the stack file and the line of the wrong object."""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshcode.cli import app
from meshcode.errors import CompileError, Finding
from meshcode.app.project import Project

HEADER = """\
from meshcode import (Call, Cluster, Ingress, LoadBalancer, Locality, LocalityDistribute,
                      LocalityFailover, Match, Mesh, Port, Prefix, Route, Service)
"""
MARK = "# <- error"


def line_of(source: str, marker: str = MARK) -> int:
    (n,) = [i for i, line in enumerate(source.splitlines(), 1) if marker in line]
    return n


def findings(make_project: Callable[..., Path], body: str) -> tuple[list[Finding], int]:
    """Compile a one-stack project; return its error findings and the marked line."""
    source = HEADER + textwrap.dedent(body)
    root = make_project(bad=source)
    with pytest.raises(CompileError) as e:
        Project.open(root).build()
    return e.value.findings, line_of(source)


CASES = {
    "remote-of-missing-primary": ("MC2301", "names primary 'nowhere'", """
        mesh = Mesh("m", clusters=[
            Cluster("a"),
            Cluster("r", role="remote", primary="nowhere", remote_pilot_address="1.2.3.4"),  # <- error
        ])
    """),
    "remote-of-remote": ("MC2302", "is itself a remote", """
        mesh = Mesh("m", clusters=[
            Cluster("a"),
            Cluster("r1", role="remote", primary="a", remote_pilot_address="1.2.3.4"),
            Cluster("r2", role="remote", primary="r1", remote_pilot_address="1.2.3.4"),  # <- error
        ])
    """),
    "service-in-unknown-cluster": ("MC2303", "cluster 'west'", """
        web = Service("web", ports=[Port(80)], clusters=["east", "west"])  # <- error
        mesh = Mesh("m", clusters=[Cluster("east")], services=[web])
    """),
    "ingress-in-unknown-cluster": ("MC2303", "cluster 'edge'", """
        web = Service("web", ports=[Port(80)], versions=["v1"])
        door = Ingress("door", hosts=["a.example.com"], routes=[Route(to=web)], clusters=["edge"])  # <- error
        mesh = Mesh("m", clusters=[Cluster("east")], services=[web], ingresses=[door])
    """),
    "failover-from-unknown-region": ("MC2304", "failover from region 'mars'", """
        lb = LoadBalancer(locality=Locality(failover=[
            LocalityFailover("mars", "us-west1"),  # <- error
        ]))
        web = Service("web", ports=[Port(80)], load_balancer=lb)
        mesh = Mesh("m", clusters=[Cluster("e", region="us-east1"), Cluster("w", region="us-west1")],
                    services=[web])
    """),
    "failover-to-unknown-region": ("MC2304", "failover to region 'eu-west9'", """
        lb = LoadBalancer(locality=Locality(failover=[
            LocalityFailover("us-east1", "eu-west9"),  # <- error
        ]))
        web = Service("web", ports=[Port(80)], load_balancer=lb)
        mesh = Mesh("m", clusters=[Cluster("e", region="us-east1"), Cluster("w", region="us-west1")],
                    services=[web])
    """),
    "failover-to-region-without-the-service": ("MC2304", "where web does not run", """
        lb = LoadBalancer(locality=Locality(failover=[
            LocalityFailover("us-east1", "us-west1"),  # <- error
        ]))
        web = Service("web", ports=[Port(80)], load_balancer=lb, clusters=["e"])
        mesh = Mesh("m", clusters=[Cluster("e", region="us-east1"), Cluster("w", region="us-west1")],
                    services=[web])
    """),
    "failover-to-itself": ("MC2305", "to itself", """
        lb = LoadBalancer(locality=Locality(failover=[
            LocalityFailover("us-east1", "us-east1"),  # <- error
        ]))
        web = Service("web", ports=[Port(80)], load_balancer=lb)
        mesh = Mesh("m", clusters=[Cluster("e", region="us-east1")], services=[web])
    """),
    "distribute-to-unknown-region": ("MC2304", "'us-central1/*'", """
        lb = LoadBalancer(locality=Locality(distribute=[
            LocalityDistribute("us-east1/*", {"us-east1/*": 50, "us-central1/*": 50}),  # <- error
        ]))
        web = Service("web", ports=[Port(80)], load_balancer=lb)
        mesh = Mesh("m", clusters=[Cluster("e", region="us-east1")], services=[web])
    """),
    "distribute-to-unknown-zone": ("MC2304", "zone 'us-east1-z'", """
        lb = LoadBalancer(locality=Locality(distribute=[
            LocalityDistribute("us-east1/us-east1-b/*", {"us-east1/us-east1-z/*": 100}),  # <- error
        ]))
        web = Service("web", ports=[Port(80)], load_balancer=lb)
        mesh = Mesh("m", clusters=[Cluster("e", region="us-east1", zones=["us-east1-b"])], services=[web])
    """),
    "two-clusters-one-name": ("MC2003", "declared twice", """
        mesh = Mesh("m", clusters=[
            Cluster("a"),
            Cluster("a", network="other"),  # <- error
        ])
    """),
    "remote-without-pilot-address": ("MC2306", "needs remote_pilot_address", """
        mesh = Mesh("m", clusters=[
            Cluster("a"),
            Cluster("r", role="remote", primary="a"),  # <- error
        ])
    """),
    "config-cluster-without-address": ("MC2306", "external control plane", """
        mesh = Mesh("m", clusters=[
            Cluster("c", role="config"),  # <- error
        ])
    """),
    "primary-with-pilot-address": ("MC2306", "runs its own istiod", """
        mesh = Mesh("m", clusters=[
            Cluster("a", remote_pilot_address="1.2.3.4"),  # <- error
        ])
    """),
    "bad-revision-name": ("MC2307", "not a valid revision name", """
        mesh = Mesh("m", clusters=[
            Cluster("a", revision="1.30.3"),  # <- error
        ])
    """),
    "tag-named-like-a-revision": ("MC2307", "has the name of a revision", """
        mesh = Mesh("m", clusters=[
            Cluster("a", revision="1-30-3", revision_tags={"1-31-0": "1-30-3", "x": "1-31-0"}),  # <- error
        ])
    """),
    "remote-revision-not-served": ("MC2308", "does not run", """
        mesh = Mesh("m", clusters=[
            Cluster("a", revision="1-30-3"),
            Cluster("r", role="remote", primary="a", revision="1-29-0", remote_pilot_address="1.2.3.4"),  # <- error
        ])
    """),
    "zones-without-region": ("MC2304", "zones but no region", """
        mesh = Mesh("m", clusters=[
            Cluster("a", zones=["z1"]),  # <- error
        ])
    """),
    "call-to-cluster-local-elsewhere": ("MC2309", "does not run in b", """
        cache = Service("cache", ports=[Port(6379, "TCP")], cluster_local=True, clusters=["a"])
        web = Service("web", ports=[Port(80)], calls=[
            Call(cache),  # <- error
        ])
        mesh = Mesh("m", clusters=[Cluster("a"), Cluster("b")], services=[web, cache])
    """),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_topology_is_an_error_at_its_line(make_project: Callable[..., Path], case: str) -> None:
    code, text, body = CASES[case]
    errors, line = findings(make_project, body)
    hits = [f for f in errors if f.code == code]
    assert hits, f"expected {code}, got {[f.describe() for f in errors]}"
    assert hits[0].location is not None
    assert (hits[0].location.file, hits[0].location.line) == ("stacks/bad.py", line)
    assert text in hits[0].message


def test_cli_reports_topology_errors_and_writes_nothing(make_project: Callable[..., Path]) -> None:
    body = CASES["remote-of-missing-primary"][2]
    source = HEADER + textwrap.dedent(body)
    root = make_project(bad=source)
    result = CliRunner().invoke(app, ["compile", "--root", str(root)])
    assert result.exit_code == 1
    assert f"stacks/bad.py:{line_of(source)}: error MC2301" in result.output
    assert not (root / "generated").exists()


def test_every_topology_error_is_reported_at_once(make_project: Callable[..., Path]) -> None:
    errors, _ = findings(make_project, """
        web = Service("web", ports=[Port(80)], clusters=["nowhere"])
        mesh = Mesh("m", clusters=[
            Cluster("a"),
            Cluster("r", role="remote", primary="ghost", remote_pilot_address="1.2.3.4"),  # <- error
        ], services=[web])
    """)
    assert {"MC2301", "MC2303"} <= {f.code for f in errors}
