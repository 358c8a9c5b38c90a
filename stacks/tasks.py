"""Istio's traffic, ingress and egress tasks as one stack (its output is generated/tasks/).

- tcp-echo shifts 20% of its TCP connections to v2, mesh and ingress alike (TCP traffic
  shifting through the ingress gateway on 31400); my-nginx is reached by TLS passthrough on SNI.
- reviews declares versions for per-version policy only: default traffic keeps going to every
  pod (ALL_PODS), and jason goes to v2. pay has no versions: its timeout routes to its host.
- httpbin.org gets a 3 s timeout (the egress task); edition.cnn.com leaves through the egress
  gateway, which originates TLS (the egress-gateway TLS origination task).
- bookinfo.com is a mesh-internal virtual host (/reviews, /ratings), resolved by the proxies'
  DNS with auto-allocated addresses; ratings is rate limited per pod.
- The mesh is REGISTRY_ONLY: only services and the declared external services are reachable.
- It trusts mesh-b's identities (a trust-domain alias) and calls mesh-b's httpbin through
  mesh-b's east-west gateway as httpbin.bar.global (Istio's multi-mesh model).
"""
from meshcode import (
    ALL_PODS,
    ArgoCD,
    Cluster,
    EgressGateway,
    ExternalService,
    ImportedService,
    Ingress,
    IstioInstall,
    LocalRateLimit,
    Match,
    Mesh,
    Namespace,
    OriginateTLS,
    Port,
    Prefix,
    ProxyOptions,
    Route,
    Service,
    VirtualHost,
)

NS = "tasks"

tcp_echo = Service("tcp-echo", namespace=NS, ports=[Port(9000, "TCP")], versions=["v1", "v2"],
                   routes=[Route(to={"v1": 80, "v2": 20})])
nginx = Service("my-nginx", namespace=NS, ports=[Port(443, "HTTPS")])
reviews = Service("reviews", namespace=NS, ports=[Port(9080)], versions=["v1", "v2", "v3"], default_to=ALL_PODS,
                  routes=[Route(match=Match(headers={"end-user": "jason"}), to="v2")])
ratings = Service("ratings", namespace=NS, ports=[Port(9080)], rate_limit=LocalRateLimit(100, "1s"))
pay = Service("pay", namespace=NS, ports=[Port(8080)], timeout="2s")

httpbin = ExternalService("httpbin", namespace=NS, hosts=["httpbin.org"], ports=[Port(80)], timeout="3s")
cnn = ExternalService("cnn", namespace=NS, hosts=["edition.cnn.com"], ports=[Port(80), Port(443, "HTTPS")],
                      originate_tls=OriginateTLS(port=80, target_port=443,
                                                 ca_certificates="/etc/ssl/certs/ca-certificates.crt"),
                      egress_gateway=EgressGateway())

httpbin_b = ImportedService("httpbin-bar", namespace=NS, host="httpbin.bar.global",
                            remote_host="httpbin.bar.svc.cluster.local", ports=[Port(8000)], gateway="203.0.113.10",
                            trust_domain="mesh-b.example", service_account="httpbin")

mesh = Mesh(
    "tasks",
    clusters=[Cluster("tasks")],
    services=[tcp_echo, nginx, reviews, ratings, pay],
    ingresses=[
        Ingress("tcp-echo-gateway", namespace=NS, hosts=["*"], protocol="TCP", port=31400, routes=[Route(to=tcp_echo)]),
        Ingress("nginx-gateway", namespace=NS, hosts=["nginx.example.com"], protocol="TLS", routes=[Route(to=nginx)]),
    ],
    external_services=[httpbin, cnn],
    virtual_hosts=[VirtualHost("bookinfo-com", namespace=NS, hosts=["bookinfo.com"], routes=[
        Route(match=Match(uri=Prefix("/reviews")), to=reviews),
        Route(match=Match(uri=Prefix("/ratings")), to=ratings),
    ])],
    namespaces=[Namespace("tools", labels={"team": "platform"}), Namespace("legacy", injection=False)],
    imported_services=[httpbin_b],
    trust_domain="mesh-a.example",
    trust_domain_aliases=["mesh-b.example"],
    outbound="REGISTRY_ONLY",
    install=IstioInstall(proxy=ProxyOptions(dns_capture=True, dns_auto_allocate=True)),
    argocd=ArgoCD(),
)
