"""The Python services' modules, read as source: none imports a module that imports it back
(a function's deferred import included), and the shared machinery needs nothing of the
example resource (app/items/, app/imports/) but the factory that registers it, so a fork can
remove the example (docs/forking.md, step 6)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ("app.items", "app.imports")
REGISTERS_THE_BLUEPRINTS = "app.factory"


# Where each Python service's modules live, and the package they form (None: a folder of
# top-level modules run as scripts). The app's is checked for the example's reach too.
SOURCES = {
    "app": ("", "app"),
    "pyservice": ("", "pyservice"),
    "acme": ("acme", "acmeloop"),
    "backup": ("backup", "pgbackup"),
    "bench": ("bench", None),
    "k8s tools": ("deploy/k8s/tools", None),
}


def module_name(path: Path, base: Path) -> str:
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(source: str = "app") -> dict[str, Path]:
    folder, package = SOURCES[source]
    base = ROOT / folder
    paths = (base / package).rglob("*.py") if package else base.glob("*.py")
    return {module_name(path, base): path for path in sorted(paths)}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of KNOWN that module NAME (at PATH) imports, anywhere in it: `from a.b
    import c` is a.b.c when that is a module, else a.b; `from . import c` is read from NAME's
    package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*parent, module] if module else parent)
            for alias in node.names:
                child = f"{module}.{alias.name}" if module else alias.name
                found.add(child if child in known else module)
    return found & known


def graph(source: str = "app") -> dict[str, set[str]]:
    """Each module's imports, less those of its own enclosing packages: a blueprint's routes
    take `bp` from the package that imports them, the pattern Flask's guide gives."""
    found = modules(source)
    known = set(found)
    return {
        name: {
            imported
            for imported in imports_of(name, path, known)
            if imported != name and not name.startswith(f"{imported}.")
        }
        for name, path in found.items()
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


@pytest.mark.parametrize("source", SOURCES)
def test_no_module_imports_one_that_imports_it_back(source: str):
    assert modules(source), f"no module found for {source}"
    assert cycles(graph(source)) == []


def test_the_shared_machinery_needs_nothing_of_the_example_but_its_registration():
    needs = {
        name: sorted(i for i in imported if i.startswith(EXAMPLE))
        for name, imported in graph().items()
        if not name.startswith(EXAMPLE) and name != REGISTERS_THE_BLUEPRINTS
    }
    assert {name: found for name, found in needs.items() if found} == {}
