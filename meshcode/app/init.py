"""`meshcode init`: a project that compiles right away, in an empty folder or an existing repository.

Never overwrites: a file that exists is left alone, except that `pyproject.toml` gains a
`[tool.meshcode]` table when it has none and `.gitignore` gains the lines it lacks (appended,
nothing existing changed). `plan_init` is pure (what would be written, and why); `apply_init`
writes it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from meshcode.redact import credential_problem

GITIGNORE = (".venv/", "__pycache__/", ".meshcode/", "/generated.meshcode-*", "/.meshcode-staging-*")
Action = str  # "create" | "append" | "keep"


@dataclass(frozen=True)
class InitFile:
    path: str
    action: Action
    text: str  # the whole file (create) or what is appended (append)
    why: str


def _template(name: str) -> str:
    return (resources.files("meshcode") / "_templates" / "init" / name).read_text(encoding="utf-8")


def starter_stack(mesh: str) -> str:
    """A first stack: one cluster, one versioned service behind an ingress, zero trust on."""
    return f'''"""The {mesh} mesh. Run `meshcode compile` to write generated/, `meshcode graph` to see it."""
from meshcode import Canary, Cluster, Ingress, Mesh, Port, Route, Service, ZeroTrust

web = Service("web", namespace="apps", ports=[Port(8080)], versions=["v1", "v2"],
              canary=Canary(stable="v1", candidate="v2", weight=0))

mesh = Mesh(
    {json.dumps(mesh)},
    clusters=[Cluster("prod")],
    services=[web],
    ingresses=[Ingress("public", namespace="apps", hosts=["web.example.com"], routes=[Route(to=web)])],
    zero_trust=[ZeroTrust(namespace="apps")],
)
'''


def settings_table(repo_url: str | None) -> str:
    url = f'repo_url = {json.dumps(repo_url)}' if repo_url else \
        '# repo_url = "https://github.com/you/mesh.git"  # where Argo CD reads generated/ from'
    return ("[tool.meshcode]\n"
            'stacks = "stacks"        # Python intent\n'
            'output = "generated"     # what Argo CD syncs, one folder per cluster\n'
            'state = "state"          # canary state, committed by the controller\n'
            f"{url}\n")


def plan_init(existing: dict[str, str | None], mesh: str, repo_url: str | None) -> list[InitFile]:
    """What `init` writes, given the current text of each file it may touch (None: absent)."""
    if repo_url and credential_problem(repo_url):
        repo_url = None  # a URL with credentials never goes into a committed file
    out: list[InitFile] = []
    pyproject = existing.get("pyproject.toml")
    if pyproject is None:
        out.append(InitFile("pyproject.toml", "create", settings_table(repo_url), "meshcode's settings"))
    elif "[tool.meshcode]" not in pyproject:
        sep = "" if pyproject.endswith("\n") else "\n"
        out.append(InitFile("pyproject.toml", "append", sep + "\n" + settings_table(repo_url),
                            "adds a [tool.meshcode] table"))
    else:
        out.append(InitFile("pyproject.toml", "keep", "", "already has [tool.meshcode]"))
    files = {
        f"stacks/{mesh}.py": (starter_stack(mesh), "a starter stack"),
        ".github/workflows/meshcode.yml": (_template("meshcode.yml"), "compile check, lint (SARIF), PR review"),
        ".github/workflows/meshcode-canary.yml": (_template("meshcode-canary.yml"), "scheduled canary steps"),
    }
    stacks_exist = any(k.startswith("stacks/") and v is not None for k, v in existing.items())
    for path, (text, why) in files.items():
        if path.startswith("stacks/") and stacks_exist:
            out.append(InitFile(path, "keep", "", "stacks/ already holds stacks"))
        elif existing.get(path) is None:
            out.append(InitFile(path, "create", text, why))
        else:
            out.append(InitFile(path, "keep", "", "exists"))
    gitignore = existing.get(".gitignore")
    have = set((gitignore or "").splitlines())
    missing = [line for line in GITIGNORE if line not in have]
    if gitignore is None:
        out.append(InitFile(".gitignore", "create", "\n".join(GITIGNORE) + "\n", "meshcode's local files"))
    elif missing:
        sep = "" if gitignore.endswith("\n") or not gitignore else "\n"
        out.append(InitFile(".gitignore", "append", sep + "\n".join(missing) + "\n", "meshcode's local files"))
    else:
        out.append(InitFile(".gitignore", "keep", "", "exists"))
    return out


def apply_init(root: Path, mesh: str, repo_url: str | None) -> list[InitFile]:
    """Plan against the folder's files, then write: create what is absent, append what is planned."""
    names = ["pyproject.toml", ".gitignore", f"stacks/{mesh}.py", ".github/workflows/meshcode.yml",
             ".github/workflows/meshcode-canary.yml"]
    existing: dict[str, str | None] = {}
    for name in names:
        path = root / name
        existing[name] = path.read_text(encoding="utf-8") if path.is_file() else None
    if (root / "stacks").is_dir():
        for p in sorted((root / "stacks").glob("*.py")):
            existing[f"stacks/{p.name}"] = p.read_text(encoding="utf-8")
    plan = plan_init(existing, mesh, repo_url)
    for f in plan:
        path = root / f.path
        if f.action == "create":
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
                out.write(f.text)
        elif f.action == "append":
            with open(path, "a", encoding="utf-8") as out:
                out.write(f.text)
    return plan
