"""Lint parses each distinct file once and shares its documents across clusters (issue 22).

Sharing must not change a single finding: an output folder whose clusters hold the same files
gives, per cluster, exactly the findings that linting that cluster's folder alone gives (same
codes, messages, locations), named by its cluster.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from meshcode.analyze.lint import MANIFEST, lint
from meshcode.analyze.loader import ParseCache, load_paths, yaml_files
from tests.support.lint import shared_crds
from tests.support.paths import ROOT

ANALYZERS = ROOT / "tests" / "data" / "istio-analyzers"
CASES = ["virtualservice_destinationhosts.yaml", "conflicting-gateways.yaml", "authorizationpolicies.yaml",
         "virtualservice_dupmatches.yaml"]


def _fleet(tmp_path: Path) -> Path:
    """generated/ with three clusters: the same files in each, plus one file only east has."""
    out = tmp_path / "generated"
    for cluster in ("east", "west", "north"):
        for case in CASES:
            target = out / cluster / "team" / case
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ANALYZERS / case, target)
    shutil.copyfile(ANALYZERS / "virtualservice_overlappingmatches.yaml", out / "east" / "extra.yaml")
    for cluster in ("east", "west", "north"):  # a schema error in a file every cluster has
        (out / cluster / "bad.yaml").write_text(BAD_SCHEMA)
    (out / MANIFEST).write_text("")
    return out


BAD_SCHEMA = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: team}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}, weight: many}]}]
"""


@pytest.mark.parametrize("schemas", [False, True])
def test_shared_files_give_each_cluster_its_own_findings(tmp_path: Path, schemas: bool) -> None:
    out = _fleet(tmp_path)
    crds = shared_crds() if schemas else None
    together = lint([out], schemas=crds, validate_schemas=schemas).findings
    alone = [dataclasses.replace(f, cluster=cluster)
             for cluster in ("east", "north", "west")
             for f in lint([out / cluster], schemas=crds, validate_schemas=schemas).findings]
    assert together and together == sorted(alone, key=type(together[0]).sort_key)
    assert ("IST0106" in {f.code for f in together}) is schemas
    by_cluster = {c: [f for f in together if f.cluster == c] for c in ("east", "west", "north")}
    assert all(f.location and f.location.file.startswith(str(out / c)) for c, fs in by_cluster.items() for f in fs)
    # the same files give the same findings in every cluster, at that cluster's paths
    def relative(fs: list) -> list:
        return [(f.code, f.message, Path(f.location.file).relative_to(out / f.cluster), f.location.line) for f in fs]
    assert relative(by_cluster["west"]) == relative(by_cluster["north"])
    assert set(relative(by_cluster["west"])) < set(relative(by_cluster["east"]))


def test_a_cache_shares_documents_but_not_resources(tmp_path: Path) -> None:
    out = _fleet(tmp_path)
    cache = ParseCache()
    east, _ = load_paths([out / "east"], cache)
    west, _ = load_paths([out / "west"], cache)
    east_by_file = {(Path(r.origin.file).relative_to(out / "east"), r.origin.line): r for r in east}
    shared = 0
    for r in west:
        twin = east_by_file[(Path(r.origin.file).relative_to(out / "west"), r.origin.line)]
        assert r is not twin and r.obj == twin.obj
        shared += r.obj is twin.obj
    assert shared == len(west)
    fresh, _ = load_paths([out / "west"])
    assert [(r.obj, r.origin) for r in fresh] == [(r.obj, r.origin) for r in west]


def test_the_cache_keeps_only_what_the_last_two_clusters_used(tmp_path: Path) -> None:
    out = _fleet(tmp_path)
    cache = ParseCache()
    load_paths([out / "east"], cache)
    load_paths([ANALYZERS / "analyze-list-type.yaml"], cache)  # shares nothing with east
    assert len(cache._current) == 1 and not cache._previous


def test_listing_is_what_rglob_gives(tmp_path: Path) -> None:
    """Sorted as paths (part by part, so 'a/b.yaml' before 'a-b.yaml'), hidden parts and symlinked
    folders skipped, symlinked files kept."""
    for name in ["a/b.yaml", "a-b.yaml", "a/.hidden.yaml", ".git/x.yaml", "c/d/e.yml", "f.json", "g.txt",
                 "h.yaml/i.yaml"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a: 1\n")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "f.json")
    (tmp_path / "linked").symlink_to(tmp_path / "c", target_is_directory=True)
    expected = sorted(p for p in tmp_path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(tmp_path).parts))
    assert yaml_files(tmp_path) == expected
    assert [str(p) for p in yaml_files(tmp_path)] == [str(p) for p in expected]


def _loaded(cache: ParseCache) -> tuple[list, list]:
    resources, findings = load_paths([ROOT / "tests" / "data"], cache)
    return [(r.obj, r.origin) for r in resources], findings


def test_forked_workers_parse_what_one_process_parses(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    import meshcode.analyze.loader as loader

    alone = _loaded(ParseCache(workers=1))
    assert alone[0] and alone[1]  # objects, and findings for what is not one
    forks: list[int] = []
    fork = os.fork

    def counted() -> int:
        pid = fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    monkeypatch.setattr(loader.threading, "active_count", lambda: 1)  # threads other tests left behind
    assert _loaded(ParseCache(workers=3, parallel_min=1)) == alone
    assert len(forks) == 2


def test_no_fork_while_other_threads_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A lock another thread holds at the fork stays held in the child: parse in-process instead."""
    import os
    import threading

    alone = _loaded(ParseCache(workers=1))
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked with another thread alive"))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert _loaded(ParseCache(workers=3, parallel_min=1)) == alone
    finally:
        stop.set()
        other.join()


def test_a_failing_worker_leaves_its_share_to_the_parent(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pickle

    import meshcode.analyze.loader as loader

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the pipe broke")

    alone = _loaded(ParseCache(workers=1))
    monkeypatch.setattr(loader.threading, "active_count", lambda: 1)  # threads other tests left behind
    monkeypatch.setattr(loader.pickle, "dump", broken)  # the children cannot send anything back
    assert _loaded(ParseCache(workers=2, parallel_min=1)) == alone
    assert pickle.dump is broken
