"""Remove from the test folders named on the command line what needs the items example, for a
fork that removes it (docs/forking.md, step 6): each test, fixture, helper or module-level
value whose code names the example (a name imported from app/items/ or app/imports/, or one
of their URLs, paths, modules or tables) or something this removed before it, a fixture of
conftest.py taking its users in the folder along; each row of a table of cases that does; then
each test file left without a test. Run `ruff check --fix` after it: it drops the imports left
unused.

    python3 tools/remove_example_tests.py tests/unit tests/contract
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

GONE_MODULES = re.compile(r"^(app\.(items|imports)|tests\.support\.imports)(\.|$)")
# Their URLs, their files or modules, their tables in SQL.
GONE_TEXT = re.compile(
    r"/api/(items|imports|stats)\b|\bapp[/.](items|imports)\b"
    r"|\b(FROM|INTO|TABLE|UPDATE)\s+(items|items_count|imports)\b"
)
# module -> the names whose definitions were removed
removed: dict[str, set[str]] = {}


def names_any(node: ast.AST, gone: set[str]) -> bool:
    """NODE uses a name of GONE (as a value or a parameter: a fixture) or the example's text."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in gone:
            return True
        if isinstance(sub, ast.arg) and sub.arg in gone:
            return True
        if isinstance(sub, ast.Constant) and GONE_TEXT.search(str(sub.value)):
            return True
    return False


def defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return {target.id for target in targets if isinstance(target, ast.Name)}


def table_rows(node: ast.stmt, gone: set[str]) -> list[ast.expr]:
    """The rows of a list or tuple NODE assigns that use GONE, when each has lines of its own."""
    if not isinstance(node, ast.Assign) or not isinstance(node.value, (ast.List, ast.Tuple)):
        return []
    elements = node.value.elts
    lines = [set(range(e.lineno, (e.end_lineno or e.lineno) + 1)) for e in elements]
    own = [
        element.lineno > node.lineno
        and not any(mine & theirs for theirs in lines[:i] + lines[i + 1 :])
        and (element.end_lineno or element.lineno) < (node.end_lineno or node.lineno)
        for i, (element, mine) in enumerate(zip(elements, lines, strict=True))
    ]
    rows = [i for i, element in enumerate(elements) if names_any(element, gone)]
    return [elements[i] for i in rows] if rows and all(own[i] for i in rows) else []


def prune(path: Path) -> bool:
    """One pass over PATH; True if it removed anything."""
    module = ".".join(path.with_suffix("").parts)
    conftest = f"{module.rsplit('.', 1)[0]}.conftest"
    gone = removed.get(module, set()) | removed.get(conftest, set())
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    cuts: list[tuple[int, int, str]] = []  # first line, last line, what replaces them
    for node in ast.parse(text).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        last = node.end_lineno or node.lineno
        if isinstance(node, ast.ImportFrom) and node.module:
            whole = GONE_MODULES.match(node.module)
            out = [a for a in node.names if whole or a.name in removed.get(node.module, ())]
            if out:
                gone |= {alias.asname or alias.name for alias in out}
                kept = [ast.unparse(alias) for alias in node.names if alias not in out]
                again = f"from {node.module} import {', '.join(kept)}\n" if kept else ""
                cuts.append((first, last, again))
        elif isinstance(node, ast.Import):
            continue
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        elif rows := table_rows(node, gone):  # a table of cases: the example's rows go
            cuts.extend((row.lineno, row.end_lineno or row.lineno, "") for row in rows)
        elif names_any(node, gone):
            removed.setdefault(module, set()).update(defined(node))
            cuts.append((first, last, ""))
    for first, last, replacement in sorted(cuts, reverse=True):
        lines[first - 1 : last] = [replacement]
    if cuts:
        path.write_text("".join(lines))
    return bool(cuts)


def has_a_test(path: Path) -> bool:
    return any(
        getattr(node, "name", "").startswith("test_") for node in ast.parse(path.read_text()).body
    )


def main(folders: list[str]) -> int:
    files = [path for folder in folders for path in sorted(Path(folder).glob("*.py"))]
    # Until a pass removes nothing: a removed fixture or helper takes its users along.
    while any([prune(path) for path in files if path.exists()]):
        pass
    for path in files:
        if path.name.startswith("test_") and path.exists() and not has_a_test(path):
            path.unlink()
            print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
