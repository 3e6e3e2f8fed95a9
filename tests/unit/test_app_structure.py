"""The app's modules, read as source: none imports a module that imports it back (a function's
deferred import included), and the shared machinery needs nothing of the example resource
(app/items/, app/imports/) but the factory that registers it, so a fork can remove the example
(docs/forking.md, step 6)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ("app.items", "app.imports")
REGISTERS_THE_BLUEPRINTS = "app.factory"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / "app").rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The app's modules that PATH imports, anywhere in it: `from a.b import c` is a.b.c when
    that is a module, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return found & known


def graph() -> dict[str, set[str]]:
    """Each module's imports, less those of its own enclosing packages: a blueprint's routes
    take `bp` from the package that imports them, the pattern Flask's guide gives."""
    known = set(modules())
    return {
        name: {
            imported
            for imported in imports_of(path, known)
            if imported != name and not name.startswith(f"{imported}.")
        }
        for name, path in modules().items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_app_imports_one_that_imports_it_back():
    assert cycles(graph()) == []


def test_the_shared_machinery_needs_nothing_of_the_example_but_its_registration():
    needs = {
        name: sorted(i for i in imported if i.startswith(EXAMPLE))
        for name, imported in graph().items()
        if not name.startswith(EXAMPLE) and name != REGISTERS_THE_BLUEPRINTS
    }
    assert {name: found for name, found in needs.items() if found} == {}
