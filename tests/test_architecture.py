"""The layers of docs/architecture.md, enforced: no import cycle between packages, no upward import.

A package is a first-level unit of meshcode (`meshcode/<pkg>/` or `meshcode/<mod>.py`). Every
import of another package counts — at module level or inside a function — except those under
`if TYPE_CHECKING:`. The rule: a package imports only packages of a lower layer, or of its own
layer when both are listed in SAME_LAYER_ALLOWED (one direction each).
"""
from __future__ import annotations

import ast
from pathlib import Path

import meshcode

PACKAGE = Path(meshcode.__file__).parent

# low → high; keep in step with docs/architecture.md
LAYERS: list[set[str]] = [
    {"_version", "errors", "codes", "redact", "gcpause"},  # 0 base: errors, codes, redaction, version, gc pauses
    {"istio", "regex", "safeyaml", "plan", "state"},  # 1 pure data, Istio semantics, RE2, bounded YAML
    {"intent"},                                 # 2 the SDK models
    {"compile", "analyze", "render", "inference", "importer"},  # 3 pure core: intent → plan → findings → YAML
    {"delivery", "gitops", "loader", "settings"},   # 4 edges: canary decisions and I/O, tree and git, stacks, settings
    {"app"},                                    # 5 application workflows
    {"cli", "integrations", "entry"},           # 6 entry points
]
# imports between two packages of one layer, allowed in this direction only
SAME_LAYER_ALLOWED = {
    ("codes", "errors"),  # a code's level is the errors' Level type; errors never import codes
    ("inference", "analyze"),  # workloads → Service source reads them with the analysis' loader
    ("render", "compile"),  # the mesh graph (render.graph) reuses the compile context's lookups
    ("importer", "inference"),  # Istio YAML → stack: Service facts and escaping from the workload importer
    ("importer", "compile"),  # each imported candidate is compiled and compared with its input
    ("entry", "cli"),  # the console script runs the CLI when the compile is not a no-op
}
ENTRY = {"__init__", "__main__"}  # meshcode/__init__.py (the public SDK surface) and `python -m meshcode`


def layer_of(pkg: str) -> int:
    for i, layer in enumerate(LAYERS):
        if pkg in layer:
            return i
    raise AssertionError(f"package meshcode.{pkg} is in no layer: add it to LAYERS and docs/architecture.md")


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _pkg(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def import_edges() -> dict[tuple[str, str], list[str]]:
    """(from package, to package) → where the import is written."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_nodes(tree)
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules]
            for t in targets:
                if t != "meshcode" and not t.startswith("meshcode."):
                    continue
                a, b = _pkg(name), _pkg(t)
                if a != b and not (t == "meshcode" and len(targets) > 1):
                    edges.setdefault((a, b), []).append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    return edges


def module_edges() -> dict[str, dict[str, str]]:
    """module → {imported meshcode module: where}; `from pkg import sub` counts as importing `pkg.sub` only."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, dict[str, str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_nodes(tree)
        is_pkg = path.name == "__init__.py"
        found = out.setdefault(name, {})
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in modules:
                        found.setdefault(a.name, where)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if mod not in modules:
                    continue
                subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules]
                plain = [a for a in node.names if f"{mod}.{a.name}" not in modules]
                for sub in subs:
                    found.setdefault(sub, where)
                if plain:
                    found.setdefault(mod, where)
                    private = [a.name for a in plain if a.name.startswith("_") and not a.name.startswith("__")]
                    other_package = mod.split(".")[:2] != name.split(".")[:2]
                    from_own_package = modules[mod].name == "__init__.py" and name.startswith(mod + ".")
                    if private and (other_package or from_own_package):
                        found.setdefault(f"PRIVATE {mod}.{','.join(private)}", where)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_no_module_cycles_inside_a_package() -> None:
    """Inside compile/, intent/, cli/, …: modules import one way (a cache on the context, not a private
    helper imported back from the package; forward references, not lazy imports)."""
    edges = module_edges()
    for pkg in sorted({_pkg(m) for m in edges} - ENTRY):
        graph = {m: {t for t in ts if not t.startswith("PRIVATE") and _pkg(t) == pkg and t != m}
                 for m, ts in edges.items() if _pkg(m) == pkg}
        cycle = _cycle(graph)
        assert cycle is None, f"module import cycle in meshcode.{pkg}: " + " → ".join(cycle or [])


def test_no_private_name_imported_from_a_parent_or_another_package() -> None:
    bad = [f"{m} imports {t[len('PRIVATE '):]} at {where}" for m, ts in module_edges().items()
           for t, where in ts.items() if t.startswith("PRIVATE ")]
    assert not bad, "private names imported across modules' boundaries:\n" + "\n".join(bad)


def test_no_upward_or_sideways_imports() -> None:
    bad = []
    for (a, b), where in sorted(import_edges().items()):
        if a in ENTRY:
            continue
        if b in ENTRY:
            bad.append(f"meshcode.{a} imports meshcode (the public surface), at {where[0]}")
            continue
        la, lb = layer_of(a), layer_of(b)
        if lb > la or (lb == la and (a, b) not in SAME_LAYER_ALLOWED):
            bad.append(f"meshcode.{a} (layer {la}) imports meshcode.{b} (layer {lb}), at {', '.join(where[:3])}")
    assert not bad, "imports against the layers of docs/architecture.md:\n" + "\n".join(bad)


def test_no_package_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for (a, b) in import_edges():
        if a not in ENTRY:
            graph.setdefault(a, set()).add(b)
    cycle = _cycle(graph)
    assert cycle is None, "package import cycle: " + " → ".join(cycle or [])


def test_every_package_is_in_a_layer() -> None:
    for path in PACKAGE.iterdir():
        if path.name.startswith((".", "_crds")) or path.name in ("__pycache__", "py.typed"):
            continue
        name = path.stem if path.suffix == ".py" else path.name
        if name in ENTRY or not (path.suffix == ".py" or (path / "__init__.py").exists()):
            continue
        layer_of(name)
