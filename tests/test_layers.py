"""The package's layers, enforced: every import (at the top or inside a function) points down or sideways.

Bottom to top: the currency (findings, causes, redaction, safe files, time bounds), the spec (parameters,
scenarios), readers (config, logs), probes, sources (S3, metrics, GitLab), the session and reports, the lab,
the CLI. The lab depends on the product, never the reverse. Modules of one package may import each other,
but no import may close a cycle, so an import moved into a function cannot hide one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "runbooklib"

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("currency", frozenset({"__init__", "findings", "causes", "markdown", "redact", "safefile", "resources",
                            "figures", "tables", "tokens", "timebounds", "errors", "defaults"})),
    ("spec", frozenset({"params", "scenarios"})),
    ("readers", frozenset({"config", "logs"})),
    ("probes", frozenset({"probes"})),
    ("sources", frozenset({"s3", "metrics", "gitlab"})),
    ("session", frozenset({"session", "labref", "picture", "discover", "kernel", "workbench", "report"})),
    ("lab", frozenset({"lab"})),
    ("cli", frozenset({"cli"})),
)

# Cycles inside the lab (components <-> control) are the lab's own business: it is test infrastructure that
# nothing in the product imports. Every other cycle fails.
CYCLES_ALLOWED_IN = ("lab",)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def import_edges(root: Path) -> list[tuple[str, str, int]]:
    """(importer, imported module, line) for every import of the package's own modules, wherever it sits."""
    modules = {module_name(p, root) for p in root.rglob("*.py")}

    def resolve(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rsplit(".", 1)[0]
        return name

    edges = []
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        type_only = {id(n) for block in ast.walk(tree) if _is_type_checking_block(block)
                     for stmt in block.body for n in ast.walk(stmt)}  # annotations only: no import at run time
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                if target == root.name or target.startswith(root.name + "."):
                    dest = resolve(target)
                    if dest != me and not me.startswith(dest + "."):  # a package's own __init__ is no edge
                        edges.append((me, dest, node.lineno))
    return edges


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str) -> int:
    for rank, (_, names) in enumerate(LAYERS):
        if area(module) in names:
            return rank
    raise LookupError(module)


def upward_imports(edges: list[tuple[str, str, int]]) -> list[str]:
    return [f"{src}:{line} imports {dst} ({LAYERS[layer_of(src)][0]} -> {LAYERS[layer_of(dst)][0]})"
            for src, dst, line in edges if layer_of(dst) > layer_of(src)]


def cycles(edges: list[tuple[str, str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst, _ in edges:
        graph[src].add(dst)
        graph.setdefault(dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in list(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def forbidden_cycles(edges: list[tuple[str, str, int]]) -> list[list[str]]:
    return [c for c in cycles(edges) if not all(area(m) in CYCLES_ALLOWED_IN for m in c)]


def test_every_module_has_a_layer():
    unplaced = sorted({m for m in (module_name(p, ROOT) for p in ROOT.rglob("*.py"))
                       if not any(area(m) in names for _, names in LAYERS)})
    assert not unplaced, f"place these in a layer (tests/test_layers.py LAYERS): {unplaced}"


def test_every_import_points_down_the_layers():
    assert upward_imports(import_edges(ROOT)) == []


def test_no_import_closes_a_cycle():
    assert forbidden_cycles(import_edges(ROOT)) == []


def test_the_product_never_imports_the_lab():
    edges = import_edges(ROOT)
    assert [(s, d) for s, d, _ in edges if area(d) == "lab" and area(s) not in ("lab", "cli")] == []


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of the package's shape with one violation planted per test."""
    pkg = tmp_path / "runbooklib"
    for sub in ("logs", "report", "probes"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "findings.py").write_text("X = 1\n")
    (pkg / "report" / "html.py").write_text("from ..findings import X\n")
    return pkg


def test_a_function_level_import_of_a_higher_layer_is_caught(planted: Path):
    (planted / "logs" / "scan.py").write_text("def f():\n    from ..report.html import X\n    return X\n")
    assert upward_imports(import_edges(planted)) == [
        "runbooklib.logs.scan:2 imports runbooklib.report.html (readers -> session)"]


def test_a_cycle_hidden_in_a_function_is_caught(planted: Path):
    (planted / "probes" / "a.py").write_text("from .b import Y\nZ = 1\n")
    (planted / "probes" / "b.py").write_text("Y = 2\ndef f():\n    from .a import Z\n    return Z\n")
    assert forbidden_cycles(import_edges(planted)) == [["runbooklib.probes.a", "runbooklib.probes.b"]]


def test_an_import_only_for_type_checking_closes_no_cycle(planted: Path):
    (planted / "probes" / "a.py").write_text("from .b import Y\nZ = 1\n")
    (planted / "probes" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import Z\nY = 2\n")
    assert forbidden_cycles(import_edges(planted)) == []


def test_an_unplaced_module_is_named(planted: Path):
    (planted / "newthing.py").write_text("")
    modules = {module_name(p, planted) for p in planted.rglob("*.py")}
    assert [m for m in modules if not any(area(m) in names for _, names in LAYERS)] == ["runbooklib.newthing"]
