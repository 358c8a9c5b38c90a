"""What a set of Istio objects *means*, for comparing an import with its input (not bytes).

Routing: for a grid of requests, where each goes — per mesh host (sidecar routing: the first
matching VirtualService rule, `tests/support/core.http_rule`) and per ingress gateway server (the
Gateway that selects the pods on that port and host, then its bound VirtualService) — as
{(host, pod labels of the subset): weight} plus the rule's timeout, retries, fault, mirror and
rewrite; subsets are resolved to pod labels through the DestinationRules, so names may differ.
Policy: the verdict of `tests/support/authz.Authorizer` for a grid of workloads and requests, and
each workload port's effective PeerAuthentication mode.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

from meshcode.istio import fqdn, matches, service_key
from tests.support.authz import Authorizer, Request, Token, Workload
from tests.support.core import http_rule

Obj = dict[str, Any]


def _ns(o: Obj) -> str:
    return (o.get("metadata") or {}).get("namespace") or "default"


def _kind(objs: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind]


def applied(objs: Iterable[Obj]) -> list[Obj]:
    """The objects as applying them in order leaves them: a later definition replaces an earlier one."""
    out: dict[tuple[str, str, str], Obj] = {}
    for o in objs:
        out[(o["kind"], _ns(o), o["metadata"]["name"])] = o
    return list(out.values())


def _labels(objs: list[Obj], host: str, subset: str | None) -> tuple[tuple[str, str], ...]:
    if subset is None:
        return ()
    for dr in _kind(objs, "DestinationRule"):
        if fqdn(dr["spec"]["host"], _ns(dr)) == host:
            for s in dr["spec"].get("subsets") or []:
                if s["name"] == subset:
                    return tuple(sorted((s.get("labels") or {}).items()))
    return (("missing-subset", subset),)


def _one_port(objs: list[Obj], host: str) -> bool:
    key = service_key(host, "")
    for s in _kind(objs, "Service"):
        if key == (_ns(s), s["metadata"]["name"]):
            return len(s["spec"].get("ports") or []) == 1
    return False


def _dest(objs: list[Obj], d: Obj, ns: str) -> tuple[Any, ...]:
    host = fqdn(d["host"], ns)
    port = None if _one_port(objs, host) else (d.get("port") or {}).get("number")
    return host, _labels(objs, host, d.get("subset")), port


def outcome(objs: list[Obj], rule: Obj | None, ns: str) -> Any:
    """Where a rule sends a request and what it does on the way, in canonical form."""
    if rule is None:
        return "no route (404)"
    split: dict[Any, int] = {}
    routes = rule.get("route") or []
    for r in routes:
        key = _dest(objs, r["destination"], ns)
        split[key] = split.get(key, 0) + r.get("weight", 100 if len(routes) == 1 else 0)
    extras = {k: rule.get(k) for k in ("timeout", "retries", "fault", "rewrite") if rule.get(k) is not None}
    if rule.get("mirror"):
        extras["mirror"] = (_dest(objs, rule["mirror"], ns), (rule.get("mirrorPercentage") or {"value": 100})["value"])
    for f in (extras.get("fault") or {}).values():
        f.setdefault("percentage", {"value": 100.0})
        f["percentage"]["value"] = float(f["percentage"]["value"])
    return sorted((k, w) for k, w in split.items() if w), sorted(extras.items())


def _first(rules: list[Obj], req: dict[str, Any]) -> Obj | None:
    try:
        return http_rule({"metadata": {"name": "?"}, "spec": {"http": rules}}, **req)
    except AssertionError:
        return None


def requests(objs: Iterable[Obj]) -> list[dict[str, Any]]:
    """One request per match of every VirtualService rule (and a plain one), so each rule is hit."""
    out: list[dict[str, Any]] = [{"uri": "/"}, {"uri": "/", "headers": {"end-user": "someone"}}]
    for vs in _kind(objs, "VirtualService"):
        for rule in vs["spec"].get("http") or []:
            for m in rule.get("match") or []:
                req: dict[str, Any] = {"uri": "/"}
                uri = m.get("uri") or {}
                if "exact" in uri:
                    req["uri"] = uri["exact"]
                elif "prefix" in uri:
                    req["uri"] = uri["prefix"] + "x"
                headers = {k: v.get("exact") or (v.get("prefix", "") + "x") for k, v in (m.get("headers") or {}).items()}
                if headers:
                    req["headers"] = headers
                if "port" in m:
                    req["port"] = m["port"]
                out.append(req)
    unique = {repr(sorted(r.items())): r for r in out}
    return list(unique.values())


def mesh_routing(objs: list[Obj], hosts: Iterable[str], grid: list[dict[str, Any]]) -> dict[Any, Any]:
    """(host, request) → outcome, through sidecars (VirtualServices bound to the mesh)."""
    out: dict[Any, Any] = {}
    for host in hosts:
        vss = [vs for vs in _kind(objs, "VirtualService") if vs["spec"].get("gateways") in (None, [], ["mesh"])
               and any(matches(fqdn(h, _ns(vs)), host) for h in vs["spec"].get("hosts") or [])]
        vss.sort(key=lambda vs: (vs["metadata"]["name"]))
        for i, req in enumerate(grid):
            if not vss:
                out[(host, i)] = "every pod of the host"
                continue
            vs = vss[0]
            if vs["spec"].get("http"):
                out[(host, i)] = outcome(objs, _first(vs["spec"]["http"], req), _ns(vs))
            else:
                rules = vs["spec"].get("tcp") or vs["spec"].get("tls") or []
                out[(host, i)] = outcome(objs, rules[0] if rules else None, _ns(vs))
    return out


def ingress_routing(objs: list[Obj], servers: Iterable[tuple[tuple[tuple[str, str], ...], int, str]],
                    grid: list[dict[str, Any]]) -> dict[Any, Any]:
    """(gateway pods, port, host, request) → outcome, through the Gateway serving it and its VirtualService."""
    out: dict[Any, Any] = {}
    for selector, port, host in servers:
        gws = [g for g in _kind(objs, "Gateway") if tuple(sorted((g["spec"].get("selector") or {}).items())) == selector
               and any((s.get("port") or {}).get("number") == port and any(matches(h.split("/")[-1], host) for h in s.get("hosts") or [])
                       for s in g["spec"].get("servers") or [])]
        refs = {(_ns(g), g["metadata"]["name"]) for g in gws}
        protocols = {str(s["port"].get("protocol")).upper() for g in gws for s in g["spec"]["servers"]
                     if s["port"].get("number") == port}
        bound = []
        for vs in _kind(objs, "VirtualService"):
            for ref in vs["spec"].get("gateways") or []:
                ns, _, name = ref.rpartition("/")
                if (ns or _ns(vs), name) in refs and any(matches(h, host) for h in vs["spec"].get("hosts") or []):
                    bound.append(vs)
        for i, req in enumerate(grid):
            key = (selector, port, host, i)
            if not bound:
                out[key] = "no route (404)"
                continue
            vs = bound[0]
            if protocols & {"HTTP", "HTTPS", "HTTP2"}:
                out[key] = outcome(objs, _first(vs["spec"].get("http") or [], {**req, "port": port}), _ns(vs))
            else:
                rules = [r for r in vs["spec"].get("tcp") or vs["spec"].get("tls") or []
                         if not r.get("match") or any(m.get("port") in (None, port) for m in r["match"])]
                out[key] = outcome(objs, rules[0] if rules else None, _ns(vs))
    return out


def gateway_servers(objs: Iterable[Obj]) -> list[tuple[tuple[tuple[str, str], ...], int, str]]:
    return sorted({(tuple(sorted((g["spec"].get("selector") or {}).items())), s["port"]["number"],
                    h.split("/")[-1].replace("*", "any.example.com") if h != "*" else "bookinfo.example.com")
                   for g in _kind(objs, "Gateway") for s in g["spec"].get("servers") or []
                   for h in s.get("hosts") or []})


# ---- policy -----------------------------------------------------------------------------------------
def workloads(objs: Iterable[Obj]) -> list[Workload]:
    """Pods the policies could concern: every selector's labels (plus a version), and a plain pod, per namespace."""
    spaces = {_ns(o) for o in objs} | {"default"}
    labels: list[dict[str, str]] = [{"app": "other"}]
    for o in objs:
        sel = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if sel:
            labels += [dict(sel), {**sel, "version": "v1"}, {**sel, "version": "v2"}]
        if o.get("kind") == "Service" and (o.get("spec") or {}).get("selector"):
            labels.append(dict(o["spec"]["selector"]))
    unique = {tuple(sorted(x.items())): x for x in labels}
    return [Workload(ns, lab) for ns in sorted(spaces) for lab in unique.values()]


def policy_grid(objs: Iterable[Obj]) -> list[Request]:
    objs = list(objs)
    spaces = sorted({_ns(o) for o in objs} | {"default", "other"})
    principals: list[str | None] = [None] + [f"cluster.local/ns/{ns}/sa/{sa}" for ns in spaces
                                            for sa in ("default", "curl", "sleep", "bookinfo-productpage",
                                                       "bookinfo-reviews", "istio-ingressgateway-service-account")]
    issuers = {r.get("issuer") for ra in _kind(objs, "RequestAuthentication") for r in ra["spec"].get("jwtRules") or []}
    tokens: list[Token | None] = [None] + [Token(i, sub, {"groups": ["group1"]}) for i in sorted(issuers)
                                           for sub in (i, "someone")]
    out = []
    for p, port, (method, path), token in itertools.product(principals, (80, 8000, 8080, 9000, 9001, 9080),
                                                             (("GET", "/"), ("GET", "/ip"), ("POST", "/headers"),
                                                              ("DELETE", "/admin")), tokens):
        ns = p.split("/")[2] if p else None
        out.append(Request(p, ns, port, "tcp" if port in (9000, 9001) else "http", method, path, token=token,
                           ip="10.0.0.1", headers={"x-token": "admin"}))
    return out


def verdicts(objs: list[Obj], cases: list[Workload], grid: list[Request]) -> dict[Any, Any]:
    authz = Authorizer(objs)
    return {(j, i): authz.decide(w, r)[0] for j, w in enumerate(cases) for i, r in enumerate(grid)}


def mtls_modes(objs: list[Obj], cases: list[Workload], ports: Iterable[int]) -> dict[Any, str]:
    """Each workload port's mTLS mode: its own PeerAuthentication, else its namespace's, else the mesh's."""
    pas = _kind(objs, "PeerAuthentication")
    out: dict[Any, str] = {}
    for (j, w), port in itertools.product(enumerate(cases), ports):
        chosen = None
        for scope in ("workload", "namespace", "mesh"):
            for pa in pas:
                sel = ((pa["spec"].get("selector") or {}).get("matchLabels"))
                if scope == "workload" and _ns(pa) == w.namespace and sel and all(w.labels.get(k) == v for k, v in sel.items()):
                    chosen = pa
                elif scope == "namespace" and _ns(pa) == w.namespace and not sel:
                    chosen = pa
                elif scope == "mesh" and _ns(pa) == "istio-system" and not sel:
                    chosen = pa
            if chosen:
                break
        mode = "PERMISSIVE"
        if chosen:
            mode = ((chosen["spec"].get("portLevelMtls") or {}).get(str(port)) or chosen["spec"].get("mtls") or {}).get("mode", mode)
        out[(j, port)] = mode
    return out
