"""bookinfo with cdk8s: Deployments and Services as cdk8s constructs, the mesh as meshcode intent.

`python main.py` (what `cdk8s synth` runs, see cdk8s.yaml) writes dist/workloads.k8s.yaml and
dist/mesh.k8s.yaml; the mesh chart holds exactly what `meshcode compile` writes to
generated/prod/, and is checked against the workloads chart while it is built.
"""
from cdk8s import App

from bookinfo_workloads import BookinfoWorkloads
from meshcode.integrations.cdk8s import MeshChart
from stacks.bookinfo import mesh

app = App()
workloads = BookinfoWorkloads(app, "workloads")
MeshChart(app, "mesh", mesh=mesh, cluster="prod", workloads=[workloads])
app.synth()
