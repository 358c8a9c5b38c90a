"""bookinfo's mesh: the intent the cdk8s app's MeshChart and `meshcode compile` both compile."""
from meshcode import Canary, Cluster, Delay, Fault, Ingress, Match, Mesh, Port, Prefix, Retries, Route, Service

NS = "bookinfo"
jason = Match(headers={"end-user": "jason"})

productpage = Service("productpage", namespace=NS, ports=[Port(9080, name="http")], versions=["v1"],
                      service_account="bookinfo-productpage")
details = Service("details", namespace=NS, ports=[Port(9080, name="http")], versions=["v1"],
                  service_account="bookinfo-details")
reviews = Service(
    "reviews", namespace=NS, ports=[Port(9080, name="http")], versions=["v1", "v2", "v3"],
    service_account="bookinfo-reviews", timeout="0.5s",
    canary=Canary(stable="v1", candidate="v3", weight=10, testers=[jason]),
)
ratings = Service(
    "ratings", namespace=NS, ports=[Port(9080, name="http")], versions=["v1"],
    service_account="bookinfo-ratings",
    routes=[Route(match=jason, to="v1", fault=Fault(delay=Delay("7s", percent=100)))],
    retries=Retries(3, per_try_timeout="2s"),
)
gateway = Ingress(
    "bookinfo-gateway", namespace=NS, hosts=["bookinfo.example.com"],
    routes=[Route(match=[Match(uri="/productpage"), Match(uri=Prefix("/static"))], to=productpage)],
)

mesh = Mesh("bookinfo", clusters=[Cluster("prod")], services=[productpage, details, reviews, ratings],
            ingresses=[gateway])
