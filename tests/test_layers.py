"""Import layering: orthomtl's imports must only point down the stack.

The project's design rule orders the package in layers, from the bottom up: the foundation
modules (``tasks``, ``registry``, ``typecheck``); the building blocks (``data``, ``nn``,
``losses``, ``pooling``, ``metrics``, ``discovery``); ``config``; ``engine``; ``methods``;
``diagnostics``; the entry points ``api`` and ``cli``; and the root ``orthomtl/__init__.py``
on top. A module may import from its own layer or any layer below it, never from one above,
so each layer can be understood and tested without the ones that use it. On top of that no
two modules may import each other (even through a chain), a package's ``_private`` modules
are for that package alone, and only the engine and above may touch Lightning Fabric.

The walker reads the source with ``ast`` (every import, including those inside functions and
under ``if TYPE_CHECKING:``) from the tree that ``import orthomtl`` finds, so pointing
``PYTHONPATH`` at another checkout tests that checkout.
"""

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import orthomtl

LAYERS: tuple[tuple[str, ...], ...] = (
    ("tasks", "registry", "typecheck"),
    ("data", "nn", "losses", "pooling", "metrics", "discovery"),
    ("config",),
    ("engine",),
    ("methods",),
    ("diagnostics",),
    ("api", "cli"),
)
ROOT_RANK = len(LAYERS)
BUILDING_BLOCKS = 1
FABRIC = frozenset({"lightning_fabric", "lightning"})
Graph = tuple[dict[str, Path], list["Edge"]]


@dataclass(frozen=True)
class Edge:
    """``importer`` imports module ``imported`` (a top-level name when not ``internal``)."""

    importer: str
    imported: str
    file: str
    line: int
    internal: bool

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.file}:{self.line})"


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Map every module's dotted name under the package directory ``root`` to its file."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def collect_imports(root: Path, package: str) -> Graph:
    """All modules of the package at ``root`` and every import statement in them."""
    modules = find_modules(root, package)
    edges: list[Edge] = []
    for name, path in modules.items():
        file = path.relative_to(root.parent).as_posix()
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

        def add(target: str, line: int, file: str = file, name: str = name) -> None:
            internal = under(target, package)
            imported = target if internal else target.split(".")[0]
            edges.append(Edge(name, imported, file, line, internal))

        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here[: len(here) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    add(full if full in modules else base, node.lineno)
    return modules, edges


def rank(module: str, package: str) -> int | None:
    """The layer index of ``module`` (the root package is highest); None if unassigned."""
    if module == package:
        return ROOT_RANK
    top = module.removeprefix(package + ".").split(".")[0]
    return next((i for i, layer in enumerate(LAYERS) if top in layer), None)


def low_layer_violations(edges: Iterable[Edge], package: str) -> list[Edge]:
    """Foundation or building-block imports of config and above, the root, or Fabric."""
    bad = []
    for edge in edges:
        low = rank(edge.importer, package)
        if low is None or low > BUILDING_BLOCKS:
            continue
        too_high = edge.internal and (rank(edge.imported, package) or 0) > BUILDING_BLOCKS
        if too_high or (not edge.internal and edge.imported in FABRIC):
            bad.append(edge)
    return bad


def upward_imports(edges: Iterable[Edge], package: str) -> list[Edge]:
    """Internal edges whose target sits in a higher layer than their importer."""
    bad = []
    for edge in edges:
        low, high = rank(edge.importer, package), rank(edge.imported, package)
        if edge.internal and low is not None and high is not None and high > low:
            bad.append(edge)
    return bad


def under(name: str, prefix: str) -> bool:
    """Whether the dotted ``name`` is ``prefix`` itself or inside it."""
    return name == prefix or name.startswith(prefix + ".")


def imports_into(edges: Iterable[Edge], importer: str, targets: list[str]) -> list[Edge]:
    """Edges from ``importer`` (or its submodules) into any of ``targets`` (or theirs)."""
    return [
        e
        for e in edges
        if under(e.importer, importer) and any(under(e.imported, t) for t in targets)
    ]


def private_imports(edges: Iterable[Edge]) -> list[Edge]:
    """Internal imports of a ``_private`` module from outside the package that holds it."""
    bad = []
    for edge in edges:
        parts = edge.imported.split(".")
        private = [i for i, part in enumerate(parts) if part.startswith("_") and part[-1] != "_"]
        if edge.internal and private and not under(edge.importer, ".".join(parts[: private[0]])):
            bad.append(edge)
    return bad


def import_cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """Strongly connected components of the internal import graph that contain a cycle."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.internal:
            graph.setdefault(edge.importer, set()).add(edge.imported)

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for succ in graph.get(todo.pop(), set()) - seen:
                seen.add(succ)
                todo.append(succ)
        return seen

    reachable = {node: reach(node) for node in graph}
    components = {
        frozenset({node} | {m for m in reachable[node] if node in reachable.get(m, set())})
        for node in graph
        if node in reachable[node]
    }
    return sorted(sorted(component) for component in components)


def report(what: str, edges: Iterable[Edge]) -> str:
    lines = sorted({str(edge) for edge in edges})
    return f"{len(lines)} {what}:\n  " + "\n  ".join(lines)


@pytest.fixture(scope="module")
def graph() -> Graph:
    return collect_imports(Path(orthomtl.__file__).parent, "orthomtl")


def test_walker_sees_the_package(graph: Graph) -> None:
    modules, edges = graph
    assert len(modules) >= 40, sorted(modules)
    pairs = {(e.importer, e.imported) for e in edges}
    assert ("orthomtl.api", "orthomtl.engine") in pairs
    assert ("orthomtl.api", "lightning_fabric") in pairs


def test_every_module_has_a_layer(graph: Graph) -> None:
    unassigned = sorted(name for name in graph[0] if rank(name, "orthomtl") is None)
    assert not unassigned, f"modules outside every layer (add them to LAYERS): {unassigned}"


def test_building_blocks_import_only_foundation_and_each_other(
    graph: Graph,
) -> None:
    bad = low_layer_violations(graph[1], "orthomtl")
    assert not bad, report("imports from a building block or foundation module upward", bad)


def test_no_module_imports_a_higher_layer(graph: Graph) -> None:
    bad = upward_imports(graph[1], "orthomtl")
    assert not bad, report("imports of a higher layer", bad)


def test_engine_does_not_import_methods_or_entry_points(
    graph: Graph,
) -> None:
    targets = [f"orthomtl.{name}" for name in ("methods", "diagnostics", "api", "cli")]
    bad = imports_into(graph[1], "orthomtl.engine", targets)
    assert not bad, report("imports from the engine upward", bad)


def test_methods_do_not_import_diagnostics_or_entry_points(
    graph: Graph,
) -> None:
    targets = [f"orthomtl.{name}" for name in ("diagnostics", "api", "cli")]
    bad = imports_into(graph[1], "orthomtl.methods", targets)
    assert not bad, report("imports from the methods upward", bad)


def test_no_import_cycles(graph: Graph) -> None:
    cycles = import_cycles(graph[1])
    members = {name for cycle in cycles for name in cycle}
    inside = [e for e in graph[1] if e.importer in members and e.imported in members]
    shown = "\n".join(f"cycle: {', '.join(cycle)}" for cycle in cycles)
    assert not cycles, f"{shown}\n{report('edges inside the cycles', inside)}"


def test_private_modules_stay_in_their_package(graph: Graph) -> None:
    bad = private_imports(graph[1])
    assert not bad, report("imports of another package's private module", bad)


def test_detector_on_a_fake_package(tmp_path: Path) -> None:
    files = {
        "__init__.py": "",
        "methods.py": "",
        "engine.py": "def f() -> None:\n    import fakepkg.methods\n",
        "data/__init__.py": "from . import _hidden\nfrom .. import VERSION\n",
        "data/_hidden.py": "",
        "data/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import b\n",
        "data/b.py": "from .a import thing\nimport lightning_fabric.utilities\n",
        "config.py": "from fakepkg.data import _hidden\n",
    }
    for name, text in files.items():
        (tmp_path / "fakepkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fakepkg" / name).write_text(text)
    modules, edges = collect_imports(tmp_path / "fakepkg", "fakepkg")
    assert len(modules) == 8
    wrong = {(e.importer, e.imported, e.line) for e in upward_imports(edges, "fakepkg")}
    assert wrong == {("fakepkg.engine", "fakepkg.methods", 2), ("fakepkg.data", "fakepkg", 2)}
    assert import_cycles(edges) == [["fakepkg.data.a", "fakepkg.data.b"]]
    assert [str(e) for e in private_imports(edges)] == [
        "fakepkg.config -> fakepkg.data._hidden (fakepkg/config.py:1)"
    ]
    fabric = [(e.importer, e.imported) for e in low_layer_violations(edges, "fakepkg")]
    assert sorted(fabric) == [("fakepkg.data", "fakepkg"), ("fakepkg.data.b", "lightning_fabric")]
