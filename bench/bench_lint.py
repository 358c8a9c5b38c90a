"""`meshcode lint` at scale: load and check 7,500 / 15,000 / 30,000 objects, show it is linear.

    python bench/bench_lint.py                 # sizes 7500 15000 30000, best of 3
    python bench/bench_lint.py --sizes 30000 --repeat 5

Generates a realistic mesh as YAML (one multi-document file per namespace): per service a
Service, a Deployment, a DestinationRule with subsets, a VirtualService with a canary split,
a header route and calls to other teams' services, and an AuthorizationPolicy naming other
namespaces; per namespace a Namespace, Sidecar, PeerAuthentication, Telemetry, an ingress
Gateway with its bound VirtualService, and two ServiceEntries. Every reference resolves, so the
run must report no findings (a false positive would show here).

Times are process CPU seconds (steadier than wall time on a shared machine), best of --repeat.
Prints a table to stdout; writes nothing outside a temporary folder.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshcode.analyze import analyze_resources  # noqa: E402
from meshcode.analyze.loader import load_paths  # noqa: E402

SERVICES_PER_NAMESPACE = 25
OBJECTS_PER_NAMESPACE = SERVICES_PER_NAMESPACE * 5 + 8


def namespace_objects(t: int, teams: int) -> list[dict[str, Any]]:
    """Every object of team `t`'s namespace, referring to its own and two other teams' services."""
    ns = f"team-{t:04d}"
    others = [f"team-{(t + k) % teams:04d}" for k in (1, 2)]
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": ns, "labels": {"istio-injection": "enabled"}}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "default", "namespace": ns},
         "spec": {"egress": [{"hosts": ["./*", "istio-system/*", *(f"{o}/*" for o in others)]}]}},
        {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
         "metadata": {"name": "default", "namespace": ns}, "spec": {"mtls": {"mode": "STRICT"}}},
        {"apiVersion": "telemetry.istio.io/v1", "kind": "Telemetry", "metadata": {"name": "default", "namespace": ns},
         "spec": {"accessLogging": [{"providers": [{"name": "envoy"}]}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "edge", "namespace": ns},
         "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
             {"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": [f"{ns}.example.com"],
              "tls": {"mode": "SIMPLE", "credentialName": f"{ns}-cert"}}]}},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "edge", "namespace": ns},
         "spec": {"hosts": [f"{ns}.example.com"], "gateways": ["edge"], "http": [
             {"match": [{"uri": {"prefix": f"/s{i}"}}], "route": [{"destination": {
                 "host": f"s{i}.{ns}.svc.cluster.local", "port": {"number": 8080}}}]} for i in range(3)]}},
    ]
    for k, proto in ((0, "HTTPS"), (1, "TLS")):
        objs.append({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                     "metadata": {"name": f"ext-{k}", "namespace": ns},
                     "spec": {"hosts": [f"api{k}.{ns}.partner.example"], "location": "MESH_EXTERNAL",
                              "resolution": "DNS", "ports": [{"number": 443, "name": f"tls-{k}", "protocol": proto}]}})
    for i in range(SERVICES_PER_NAMESPACE):
        name = f"s{i}"
        host = f"{name}.{ns}.svc.cluster.local"
        calls = [f"s{(i + 1) % SERVICES_PER_NAMESPACE}.{o}.svc.cluster.local" for o in others]
        labels = {"app": name}
        objs += [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels},
             "spec": {"selector": labels, "ports": [{"name": "http", "port": 8080, "targetPort": 8080},
                                                    {"name": "grpc-admin", "port": 9090}]}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{name}-v1", "namespace": ns},
             "spec": {"selector": {"matchLabels": {**labels, "version": "v1"}}, "template": {
                 "metadata": {"labels": {**labels, "version": "v1"}},
                 "spec": {"containers": [{"name": name, "image": f"example/{name}:1"}]}}}},
            {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
             "metadata": {"name": name, "namespace": ns},
             "spec": {"host": host, "trafficPolicy": {
                 "connectionPool": {"tcp": {"maxConnections": 100}},
                 "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"},
                 "loadBalancer": {"simple": "LEAST_REQUEST", "localityLbSetting": {"enabled": True}}},
                 "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]}},
            {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": name, "namespace": ns},
             "spec": {"hosts": [host], "http": [
                 {"match": [{"headers": {"end-user": {"exact": "qa"}}}],
                  "route": [{"destination": {"host": host, "subset": "v2", "port": {"number": 8080}}}]},
                 {"match": [{"uri": {"prefix": "/partner"}}],
                  "route": [{"destination": {"host": calls[0], "port": {"number": 8080}}}],
                  "mirror": {"host": calls[1], "port": {"number": 8080}}},
                 {"route": [{"destination": {"host": host, "subset": "v1", "port": {"number": 8080}}, "weight": 90},
                            {"destination": {"host": host, "subset": "v2", "port": {"number": 8080}}, "weight": 10}],
                  "timeout": "3s", "retries": {"attempts": 3, "perTryTimeout": "1s"}}]}},
            {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
             "metadata": {"name": name, "namespace": ns},
             "spec": {"selector": {"matchLabels": labels}, "action": "ALLOW", "rules": [
                 {"from": [{"source": {"namespaces": [ns, *others, "istio-system"]}}],
                  "to": [{"operation": {"methods": ["GET", "POST"]}}]}]}},
        ]
    return objs


def write_mesh(folder: Path, objects: int) -> int:
    """Write about `objects` objects (whole namespaces) under `folder`; returns the exact count."""
    teams = max(1, round(objects / OBJECTS_PER_NAMESPACE))
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    count = 0
    for t in range(teams):
        docs = namespace_objects(t, teams)
        count += len(docs)
        (folder / f"team-{t:04d}.yaml").write_text(
            yaml.dump_all(docs, Dumper=dumper, sort_keys=False, default_flow_style=False))
    return count


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        result = fn()
        times.append(time.process_time() - t0)
    return min(times), result


def measure(folder: Path, objects: int, repeat: int) -> tuple[int, int, float, float, int]:
    """(objects written, objects loaded, load s, analyze s, findings) for one size."""
    n = write_mesh(folder, objects)
    load_s, (resources, notes) = best(lambda: load_paths([folder]), repeat)
    analyze_s, findings = best(lambda: analyze_resources(resources), repeat)
    for f in (notes + findings)[:10]:
        print(f.describe(), file=sys.stderr)
    return n, len(resources), load_s, analyze_s, len(notes) + len(findings)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[7500, 15000, 30000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="meshcode-bench-lint-") as tmp:
        for size in args.sizes:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            rows.append(measure(folder, size, args.repeat))  # one size's objects are freed before the next
    print(f"meshcode lint benchmark (process CPU seconds, best of {args.repeat}; Python {sys.version.split()[0]})")
    print()
    print("| objects | load YAML (s) | analyze (s) | total (s) | analyze µs/object | findings |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, loaded, load_s, analyze_s, found in rows:
        print(f"| {n:,} | {load_s:.2f} | {analyze_s:.3f} | {load_s + analyze_s:.2f} | "
              f"{analyze_s / loaded * 1e6:.1f} | {found} |")
    if len(rows) > 1:
        (n0, _, l0, a0, _), (n1, _, l1, a1, _) = rows[0], rows[-1]
        print()
        print(f"scaling {n0:,} → {n1:,} objects (×{n1 / n0:.2f}): load ×{l1 / l0:.2f}, analyze ×{a1 / a0:.2f} "
              "(linear ≈ the object ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
