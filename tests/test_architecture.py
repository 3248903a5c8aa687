"""What a newcomer relies on when reading the code: small modules, imports that only go down
(no cycle), no private name taken from another module, no lookups through ``globals()``."""

from __future__ import annotations

import ast

import pytest
from conftest import REPO

PACKAGES = ("msinn", "msinn_app")
MODULES = {
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
    for package in PACKAGES
    for path in sorted((REPO / package).glob("*.py"))
}
MAX_LINES = 350


def imports(name: str) -> list[tuple[str, list[str]]]:
    """(imported first-party module, names taken from it) for each import in module ``name``."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package if node.level else ""
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            module = ".".join(p for p in (base, node.module) if p)
            names = [a.name for a in node.names]
            if module in MODULES:
                found.append((module, names))
            found += [(f"{module}.{n}", []) for n in names if f"{module}.{n}" in MODULES]
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name in MODULES]
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_350_lines(name):
    assert len(MODULES[name].read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(name):
    private = [(m, n) for m, names in imports(name) for n in names if n.startswith("_") and m != name]
    assert private == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_nothing_is_looked_up_through_globals(name):
    calls = [n for n in ast.walk(ast.parse(MODULES[name].read_text())) if isinstance(n, ast.Call)]
    assert not [c for c in calls if isinstance(c.func, ast.Name) and c.func.id in ("globals", "locals")]


def test_imports_have_no_cycle_and_the_library_never_imports_the_demo():
    graph = {name: {m for m, _ in imports(name) if m != name} for name in MODULES}
    assert not [n for n in graph if n.startswith("msinn.") and any(m.startswith("msinn_app") for m in graph[n])]
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' → '.join((*path, name))}"
        if name not in done:
            for other in graph[name]:
                if other not in ("msinn", "msinn_app"):  # a package's __init__ re-exports from below
                    visit(other, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())
