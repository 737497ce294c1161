"""The package's layout: no import cycles between modules or between packages, and the core never
imports the bandersnatch compatibility package.

Every import counts, wherever it is written: at the top of a module, inside a function (where a
cycle hides from Python until the call), or under ``TYPE_CHECKING`` (a cycle the type checker
sees). A module's implicit import of its own package's ``__init__`` is not an edge.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Mapping
from pathlib import Path

import pytest

import cellar

SOURCE = Path(cellar.__file__).parent


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Return every module of the package at ``root`` (named ``package``) and its file."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Return, for every module of the package at ``root``, the modules of it that it imports."""
    modules = module_names(root, package)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(filter(None, (known(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = own_package.split(".")[: len(own_package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    # ``from package import module`` imports the module, ``from module import
                    # name`` the module (``known`` walks up from what is not a module).
                    target = known(f"{base}.{alias.name}")
                    if target is not None:
                        targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def packages_graph(graph: Mapping[str, set[str]], depth: int = 2) -> dict[str, set[str]]:
    """Collapse ``graph`` to its packages (``cellar.sync``; a top-level module is its own)."""
    collapsed: dict[str, set[str]] = {}
    for name, targets in graph.items():
        group = ".".join(name.split(".")[:depth])
        edges = collapsed.setdefault(group, set())
        edges.update(".".join(t.split(".")[:depth]) for t in targets)
        edges.discard(group)
    return collapsed


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """Return one cycle of ``graph`` (its first node repeated at the end), or None."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return None


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SOURCE, "cellar")


def test_no_module_imports_another_that_imports_it_back(graph: dict[str, set[str]]) -> None:
    assert find_cycle(graph) is None


def test_no_package_imports_another_that_imports_it_back(graph: dict[str, set[str]]) -> None:
    assert find_cycle(packages_graph(graph)) is None


def test_the_core_never_imports_the_bandersnatch_package(graph: dict[str, set[str]]) -> None:
    offenders = {
        (name, target)
        for name, targets in graph.items()
        if not _within(name, "cellar.bandersnatch") and not _within(name, "cellar.cli")
        for target in targets
        if _within(target, "cellar.bandersnatch")
    }
    assert offenders == set()


def test_nothing_but_the_entry_points_imports_the_cli(graph: dict[str, set[str]]) -> None:
    importers = {
        name
        for name, targets in graph.items()
        if any(_within(t, "cellar.cli") for t in targets) and not _within(name, "cellar.cli")
    }
    assert importers <= {"cellar.__main__"}


def test_the_graph_sees_every_kind_of_import_and_finds_a_cycle(tmp_path: Path) -> None:
    """The checks above can fail: a cycle through a function-local, a relative and a
    TYPE_CHECKING import is found, and ``from package import module`` is an edge to it."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (root / "sub" / "b.py").write_text("from . import c\n")
    (root / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import f\n"
    )
    (root / "d.py").write_text("import pkg.sub.c\n")
    found = import_graph(root, "pkg")
    assert found["pkg.a"] == {"pkg.sub.b"}
    assert found["pkg.sub.b"] == {"pkg.sub.c"}
    assert found["pkg.sub.c"] == {"pkg.a"}
    assert found["pkg.d"] == {"pkg.sub.c"}
    cycle = find_cycle(found)
    assert cycle is not None
    assert set(cycle) == {"pkg.a", "pkg.sub.b", "pkg.sub.c"}
    assert find_cycle(packages_graph(found)) is not None  # pkg.a <-> pkg.sub
    (root / "a.py").write_text("")
    assert find_cycle(import_graph(root, "pkg")) is None
