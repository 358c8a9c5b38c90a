"""How committed canary state shapes the compiled routes (the compiler's side of the loop)."""
from __future__ import annotations

from meshcode import Canary, Cluster, Match, Mesh, Port, Service
from meshcode.state.canary import CanaryState
from tests.support.meshes import compiled

HOST = "reviews.shop.svc.cluster.local"


def mesh() -> Mesh:
    reviews = Service("reviews", namespace="shop", ports=[Port(9080)], versions=["v1", "v2"],
                      canary=Canary(stable="v1", candidate="v2", weight=10,
                                    testers=[Match(headers={"end-user": "jason"})]))
    return Mesh("shop", clusters=[Cluster("prod")], services=[reviews])


def http(state: CanaryState | None) -> list[dict]:
    states = {"shop/shop/reviews": state} if state else {}
    return compiled(mesh(), states=states)[("VirtualService", "shop", "reviews")]["spec"]["http"]


def split(rule: dict) -> dict[str, int]:
    return {d["destination"]["subset"]: d.get("weight", 100) for d in rule["route"]}


def test_without_state_the_stack_weight_and_testers_apply():
    rules = http(None)
    assert rules[0]["match"] == [{"headers": {"end-user": {"exact": "jason"}}}]
    assert split(rules[0]) == {"v2": 100}
    assert split(rules[-1]) == {"v1": 90, "v2": 10}


def test_progressing_state_sets_the_weight():
    rules = http(CanaryState(name="reviews", stable="v1", candidate="v2", phase="progressing", step=1, weight=25))
    assert split(rules[-1]) == {"v1": 75, "v2": 25}
    assert split(rules[0]) == {"v2": 100}


def test_rollback_sends_everyone_to_stable_testers_included():
    rules = http(CanaryState(name="reviews", stable="v1", candidate="v2", phase="failed", weight=0))
    assert len(rules) == 1 and "match" not in rules[0]
    assert split(rules[0]) == {"v1": 100, "v2": 0}


def test_promotion_sends_everyone_to_the_candidate():
    rules = http(CanaryState(name="reviews", stable="v1", candidate="v2", phase="succeeded", weight=100))
    assert split(rules[-1]) == {"v1": 0, "v2": 100}


def test_state_for_an_older_candidate_is_ignored():
    rules = http(CanaryState(name="reviews", stable="v1", candidate="v3", phase="progressing", weight=50))
    assert split(rules[-1]) == {"v1": 90, "v2": 10}
