"""The error hierarchy drawn in ``cellar/errors.py`` is the one in the code: every exception
class Cellar defines is drawn, under its real parent and module, each deliberate one is a
``CellarError``, and the exit code it ends the command with is the one drawn."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import cellar
from cellar import errors
from cellar.exit_codes import EXIT_FAILURES, EXIT_USAGE

_LINE = re.compile(
    r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?:\s+(?P<module>cellar(?:\.\w+)*)\b)?(?P<rest>.*)$"
)
_EXIT = re.compile(r"exit code (\d+)")


@dataclass(frozen=True)
class Drawn:
    name: str
    parent: str | None
    module: str | None
    exit_code: int | None


def drawing(text: str) -> tuple[dict[str, Drawn], dict[str, Drawn]]:
    """Return the classes drawn under ``CellarError`` and the internal signals, by name."""
    tree_text, _, signals_text = text.partition("Internal signals")
    tree: dict[str, Drawn] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in tree_text.splitlines():
        match = _LINE.match(line.removeprefix("    "))
        if match is None or (not stack and match["name"] != "CellarError"):
            continue
        column = len(match["indent"])
        while stack and stack[-1][0] >= column:
            stack.pop()
        exit_code = _EXIT.search(match["rest"])
        tree[match["name"]] = Drawn(
            match["name"],
            stack[-1][1] if stack else None,
            match["module"],
            int(exit_code[1]) if exit_code else None,
        )
        stack.append((column, match["name"]))
    signals = {
        m["name"]: Drawn(m["name"], None, m["module"], None)
        for line in signals_text.splitlines()
        if (m := _LINE.match(line.removeprefix("    "))) and m["module"]
    }
    return tree, signals


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package, but module-private ones."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(cellar.__path__, "cellar."):
        if module_info.name == "cellar.__main__":
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[name] = value
    return found


#: The classes drawn under ``CellarError``, and the internal signals.
Drawing = tuple[dict[str, Drawn], dict[str, Drawn]]
#: Every exception class of the package, by name.
Classes = dict[str, type[BaseException]]


@pytest.fixture(scope="module")
def drawn() -> Drawing:
    assert errors.__doc__ is not None
    return drawing(errors.__doc__)


@pytest.fixture(scope="module")
def classes() -> Classes:
    return defined_exceptions()


def test_every_exception_class_is_drawn_once(drawn: Drawing, classes: Classes) -> None:
    tree, signals = drawn
    assert set(tree) & set(signals) == set()
    assert set(classes) == set(tree) | set(signals)


def test_each_class_is_under_the_parent_drawn(drawn: Drawing, classes: Classes) -> None:
    tree, _ = drawn
    for name, shown in tree.items():
        cls = classes[name]
        if shown.parent is None:
            assert cls is errors.CellarError
            continue
        parents = [base.__name__ for base in cls.__bases__ if issubclass(base, errors.CellarError)]
        assert parents == [shown.parent], name


def test_each_class_is_in_the_module_drawn(drawn: Drawing, classes: Classes) -> None:
    tree, signals = drawn
    for name, shown in {**tree, **signals}.items():
        if shown.module is not None:
            assert classes[name].__module__ == shown.module, name


def test_deliberate_errors_are_cellar_errors_and_signals_are_not(
    drawn: Drawing, classes: Classes
) -> None:
    tree, signals = drawn
    assert all(issubclass(classes[name], errors.CellarError) for name in tree)
    assert not any(issubclass(classes[name], errors.CellarError) for name in signals)


def test_each_error_knows_its_exit_code_as_drawn(drawn: Drawing, classes: Classes) -> None:
    tree, _ = drawn
    for name, shown in tree.items():
        code = getattr(classes[name], "exit_code", None)
        assert code in (EXIT_FAILURES, EXIT_USAGE), name
        if shown.exit_code is not None:
            assert code == shown.exit_code, name


def test_the_drawing_is_read_as_drawn() -> None:
    """The reader above can fail: nesting, modules and exit codes come out of a small tree."""
    tree, signals = drawing(
        """
    CellarError
    ├── AError                 cellar.a (exit code 1)
    │   └── BError             cellar.b: words
    └── CError                 no module here

Internal signals
    Signal                     cellar.s: words
"""
    )
    assert tree == {
        "CellarError": Drawn("CellarError", None, None, None),
        "AError": Drawn("AError", "CellarError", "cellar.a", 1),
        "BError": Drawn("BError", "AError", "cellar.b", None),
        "CError": Drawn("CError", "CellarError", None, None),
    }
    assert signals == {"Signal": Drawn("Signal", None, "cellar.s", None)}


def test_the_cli_exits_with_the_errors_own_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A set-up error ends the command with the code its class carries (here: no mirror yet)."""
    from cellar.cli import main  # noqa: PLC0415 - the entry point under test

    config = tmp_path / "cellar.toml"
    config.write_text(f'[mirror]\ndirectory = "{tmp_path / "mirror"}"\n')
    from cellar.state import MirrorStateError  # noqa: PLC0415

    assert main(["status", "-c", str(config)]) == MirrorStateError.exit_code == EXIT_USAGE
    assert "mirror" in capsys.readouterr().err
