"""Where the project, the shared CRDs and the independent checker live."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CRDS = SHARED / "crds"
CRDCHECK = SHARED / "tools" / "crdcheck.py"
