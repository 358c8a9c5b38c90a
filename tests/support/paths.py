"""Where the project, the bundled CRDs and the independent checker live (all inside the repo)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "meshcode" / "_crds"
CRDCHECK = ROOT / "tests" / "support" / "crdcheck.py"
