"""Selecting files by requirement: specifiers, prereleases, several requirements for one project."""

from __future__ import annotations

from packaging.requirements import Requirement

from cellar.select.requirements import group_requirements, select_files
from cellar.simple_api import DistFile, ProjectPage


def page(*filenames: str, name: str = "Foo_Bar.baz") -> ProjectPage:
    files = tuple(DistFile(f, f"http://127.0.0.1/files/{f}") for f in filenames)
    return ProjectPage(name=name, files=files)


FILES = (
    "foo_bar_baz-0.9-py3-none-any.whl",
    "foo_bar_baz-1.0-py3-none-any.whl",
    "foo_bar_baz-1.0.tar.gz",
    "foo_bar_baz-2.5-py3-none-any.whl",
    "foo_bar_baz-3.0rc1-py3-none-any.whl",
    "foo_bar_baz-3.0-py3-none-any.whl",
    "not-a-distribution.txt",
)


def names(selection):
    return [file.filename for file in selection.files]


def test_no_specifier_selects_every_final_release():
    selection = select_files(page(*FILES), [Requirement("foo-bar-baz")])
    assert [str(v) for v in selection.versions] == ["0.9", "1.0", "2.5", "3.0"]
    assert "foo_bar_baz-1.0.tar.gz" in names(selection)
    assert selection.passed_over == (
        ("not-a-distribution.txt", "no PEP 440 version in its file name"),
    )


def test_specifier_limits_versions():
    selection = select_files(page(*FILES), [Requirement("Foo_Bar.baz>=1.0,<3")])
    assert [str(v) for v in selection.versions] == ["1.0", "2.5"]
    assert names(selection) == [
        "foo_bar_baz-1.0-py3-none-any.whl",
        "foo_bar_baz-1.0.tar.gz",
        "foo_bar_baz-2.5-py3-none-any.whl",
    ]


def test_prereleases_when_asked_or_named():
    assert "3.0rc1" in [
        str(v)
        for v in select_files(page(*FILES), [Requirement("foo-bar-baz")], prereleases=True).versions
    ]
    named = select_files(page(*FILES), [Requirement("foo-bar-baz==3.0rc1")])
    assert [str(v) for v in named.versions] == ["3.0rc1"]


def test_only_prereleases_are_kept_when_nothing_else_exists():
    selection = select_files(page("foo_bar_baz-1.0a1.tar.gz"), [Requirement("foo-bar-baz")])
    assert [str(v) for v in selection.versions] == ["1.0a1"]


def test_requirements_for_one_project_add_up():
    reqs = [Requirement("foo-bar-baz<1"), Requirement("FOO.bar_baz>=3")]
    assert list(group_requirements(reqs)) == ["foo-bar-baz"]
    selection = select_files(page(*FILES), reqs)
    assert [str(v) for v in selection.versions] == ["0.9", "3.0"]


def test_nothing_matches():
    assert select_files(page(*FILES), [Requirement("foo-bar-baz>9")]).files == ()
