"""The package's modules import each other without a cycle (every import counts, lazy or not)."""

from __future__ import annotations

import ast
from pathlib import Path

import rtsplab

PACKAGE = Path(rtsplab.__file__).resolve().parent


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = ["rtsplab", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> modules of the package it imports``, from the source (nothing is executed).

    ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``.
    Imports inside functions and under ``TYPE_CHECKING`` count like the others.
    """
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "rtsplab"
    (pkg / "lab").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lab" / "__init__.py").write_text("")
    (pkg / "lab" / "a.py").write_text("def f():\n    from rtsplab.lab.b import g\n")
    (pkg / "lab" / "b.py").write_text("from . import a\n")
    (pkg / "lab" / "c.py").write_text("from rtsplab.lab import a\nimport rtsplab\n")
    graph = import_graph(pkg)
    assert graph["rtsplab.lab.c"] == {"rtsplab.lab.a", "rtsplab"}
    assert cycles(graph) == [["rtsplab.lab.a", "rtsplab.lab.b"]]


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert "rtsplab.lab.experiment" in graph and "rtsplab.sim.server" in graph
    found = cycles(graph)
    assert not found, f"import cycles: {found}"
