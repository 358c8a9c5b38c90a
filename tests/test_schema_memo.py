"""The schema validator's memo of valid sub-structures (meshcode/analyze/schema.py, Node.check)
never changes a result: verdicts, messages and CEL counts are those of validating afresh."""
from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest

from meshcode.analyze import schema
from meshcode.analyze.loader import load_paths
from meshcode.analyze.schema import BUNDLED_CRDS, CrdSchemas, lazy_crds
from tests.support.paths import ROOT


def _fresh(monkeypatch: pytest.MonkeyPatch, memo: bool) -> CrdSchemas:
    """Bundled CRDs whose schema nodes (built lazily, as objects need them) memoise or not."""
    crds = lazy_crds(BUNDLED_CRDS)
    validate = crds.validate

    def validate_with_setting(obj: dict[str, Any]) -> list[str] | None:
        monkeypatch.setattr(schema, "NODE_MEMO", memo)
        return validate(obj)

    crds.validate = validate_with_setting  # type: ignore[method-assign]
    return crds


def _dr(name: str, policy: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": name},
            "spec": {"host": f"{name}.shop.svc.cluster.local", "trafficPolicy": policy, **spec}}


POLICY = {"connectionPool": {"tcp": {"maxConnections": 100}, "http": {"http1MaxPendingRequests": 50}},
          "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"}}


def test_objects_sharing_a_sub_structure_keep_their_own_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    crds = _fresh(monkeypatch, memo=True)
    for i in range(200):  # the shared policy is valid, and remembered as such
        assert crds.validate(_dr(f"s{i}", copy.deepcopy(POLICY))) == []
    # Same policy, invalid elsewhere: the error is found; the policy's own rules still count.
    run = crds.cel.run
    assert crds.validate(_dr("bad", copy.deepcopy(POLICY), subsets=[{"name": "v1", "bogus": 1}])) == [
        "spec.subsets[0].bogus: unknown field (not declared in the schema)"]
    assert crds.cel.run - run == 2  # interval and baseEjectionTime: durations of at least 1ms
    # The policy itself invalid (one value differs): found, at its path, every time.
    broken = copy.deepcopy(POLICY)
    broken["outlierDetection"]["interval"] = "0.5ms"
    for i in range(3):
        assert crds.validate(_dr(f"b{i}", copy.deepcopy(broken))) == [
            "spec.trafficPolicy.outlierDetection.interval: Invalid value: must be a valid duration greater than 1ms"]
    # Equal as Python values but not as JSON: 100 and 100.0, 5 and True are not the same policy.
    as_float = copy.deepcopy(POLICY)
    as_float["connectionPool"]["tcp"]["maxConnections"] = 100.5
    assert crds.validate(_dr("f", as_float)) == [
        "spec.trafficPolicy.connectionPool.tcp.maxConnections: must be of type integer, got number"]
    as_bool = copy.deepcopy(POLICY)
    as_bool["outlierDetection"]["consecutive5xxErrors"] = True
    assert crds.validate(_dr("t", as_bool)) == [
        "spec.trafficPolicy.outlierDetection.consecutive5xxErrors: must be of type integer, got boolean"]


def _variants(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The object, and copies with one value replaced or removed (invalid in many ways)."""
    yield obj
    paths: list[tuple[Any, ...]] = []

    def walk(v: Any, p: tuple[Any, ...]) -> None:
        items = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, list) else ()
        for k, c in items:
            paths.append(p + (k,))
            walk(c, p + (k,))

    walk(obj, ())
    for i, path in enumerate(paths[:40]):
        for replacement in ([None, 7, "x", {"bogus": 1}, [], 1.5][i % 6], "remove"):
            copied = copy.deepcopy(obj)
            target = copied
            for k in path[:-1]:
                target = target[k]
            if replacement == "remove":
                del target[path[-1]]
            else:
                target[path[-1]] = replacement
            yield copied


def test_the_memo_never_changes_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """generated/ and tests/data, each object twice (the second time from the memo) and mutated."""
    resources, _ = load_paths([ROOT / "generated", ROOT / "tests" / "data"])
    with_memo, without = _fresh(monkeypatch, memo=True), _fresh(monkeypatch, memo=False)
    objects = [v for r in resources[::2] for v in _variants(r.obj)] + [r.obj for r in resources]
    assert len(objects) >= 5000
    invalid = 0
    for obj in objects:  # twice each: the second time, what was valid comes from the memo
        ours = _result(with_memo, obj)
        assert ours == _result(without, obj) == _result(with_memo, obj) == _result(without, obj)
        invalid += bool(ours)
    assert invalid >= 1000
    assert (with_memo.cel.run, with_memo.cel.skipped) == (without.cel.run, without.cel.skipped)
    assert sum(n.memo_hits for n in _nodes(with_memo)) > 0  # the memo was used
    assert all(n.memo is None for n in _nodes(without))


def _result(crds: CrdSchemas, obj: dict[str, Any]) -> Any:
    try:
        return crds.validate(obj)
    except Exception as e:  # noqa: BLE001 - a broken envelope (check_schemas reports it as such)
        return type(e).__name__


def _nodes(crds: CrdSchemas) -> Iterator[schema.Node]:
    seen: set[int] = set()
    todo = list(crds._compiled.values())
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        yield n
        if n.props is not None:
            todo += n.props.built.values()
        todo += [x for x in (n.items, n.additional) if isinstance(x, schema.Node)]
