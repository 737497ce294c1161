"""The walk `cellar verify` takes of the tree: every file under packages/ with its size and
mtime, the temporary files elsewhere, links treated as os.walk treats them.

Real trees on disk (symlinks, a FIFO, a broken link), compared with what os.walk and os.stat
say of the same tree.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from cellar.tree.inventory import orphans_in, page_marks_of, take_inventory

TEMP = ".index.html.0123456789ab.part"


def _write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    _write(web / "packages/ab/cd/ef/alpha-1.0.whl", b"wheel bytes")
    _write(web / "packages/ab/cd/ef/alpha-1.0.whl.metadata", b"meta")
    _write(web / "packages/12/34/56/beta-1.0.tar.gz", b"")
    _write(web / "packages/loose.whl", b"right below packages/")
    _write(web / f"packages/12/34/56/{TEMP}")
    outside = _write(tmp_path / "outside" / "secret.whl", b"not the mirror's")
    (web / "packages/ab/link-to-dir").symlink_to(outside.parent, target_is_directory=True)
    (web / "packages/ab/link-to-file.whl").symlink_to(web / "packages/loose.whl")
    (web / "packages/ab/broken.whl").symlink_to(web / "packages/nowhere")
    os.mkfifo(web / "packages/ab/fifo")
    _write(web / "simple/alpha/index.html", b"<html>")
    _write(web / f"simple/alpha/{TEMP}")
    _write(web / f"simple/{TEMP}")
    _write(web / TEMP)
    _write(web / "robots.txt")
    return web


def test_files_under_packages_with_their_size_and_mtime(tree: Path) -> None:
    inventory = take_inventory(tree)
    wheel = (tree / "packages/ab/cd/ef/alpha-1.0.whl").stat()
    linked = (tree / "packages/loose.whl").stat()
    assert inventory.files == {
        "packages/ab/cd/ef/alpha-1.0.whl": (wheel.st_size, wheel.st_mtime_ns),
        "packages/ab/cd/ef/alpha-1.0.whl.metadata": (
            4,
            _mtime(tree, "ab/cd/ef/alpha-1.0.whl.metadata"),
        ),
        "packages/12/34/56/beta-1.0.tar.gz": (0, _mtime(tree, "12/34/56/beta-1.0.tar.gz")),
        f"packages/12/34/56/{TEMP}": (1, _mtime(tree, f"12/34/56/{TEMP}")),
        "packages/loose.whl": (linked.st_size, linked.st_mtime_ns),
        # A link to a file is seen through, as os.stat does; a broken one and a FIFO are
        # files that are not regular files: looked at again by the caller.
        "packages/ab/link-to-file.whl": (linked.st_size, linked.st_mtime_ns),
        "packages/ab/broken.whl": None,
        "packages/ab/fifo": None,
    }
    # Nothing of what the link to a directory leads to; only temporary files elsewhere.
    assert inventory.temporaries == (TEMP, f"simple/{TEMP}", f"simple/alpha/{TEMP}")


def _mtime(tree: Path, below: str) -> int:
    return (tree / "packages" / below).stat().st_mtime_ns


def test_orphans_are_the_unlisted_files_and_every_temporary_file(tree: Path) -> None:
    listed = {"packages/ab/cd/ef/alpha-1.0.whl", "packages/ab/fifo", "packages/loose.whl"}
    assert orphans_in(take_inventory(tree), listed) == [
        (TEMP, "a temporary file left by an interrupted run"),
        (
            "packages/12/34/56/.index.html.0123456789ab.part",
            "a temporary file left by an interrupted run",
        ),
        ("packages/12/34/56/beta-1.0.tar.gz", "no page lists it"),
        ("packages/ab/broken.whl", "no page lists it"),
        ("packages/ab/cd/ef/alpha-1.0.whl.metadata", "no page lists it"),
        ("packages/ab/link-to-file.whl", "no page lists it"),
        (f"simple/{TEMP}", "a temporary file left by an interrupted run"),
        (f"simple/alpha/{TEMP}", "a temporary file left by an interrupted run"),
    ]


def test_a_missing_tree_is_empty(tmp_path: Path) -> None:
    inventory = take_inventory(tmp_path / "nothing")
    assert inventory.files == {}
    assert inventory.temporaries == ()
    assert orphans_in(inventory, set()) == []


def test_same_files_as_os_walk_on_a_random_tree(tmp_path: Path) -> None:
    """A tree of a few hundred files in the mirror's layout and at other depths: the same
    files as os.walk finds, each with what os.stat says of it."""
    rng = random.Random(5)  # noqa: S311 - a reproducible tree, not a secret
    web = tmp_path / "web"
    for number in range(300):
        depth = rng.choice([1, 2, 4, 4, 4])
        parts = [f"{rng.randrange(40):02x}" for _ in range(depth - 1)]
        _write(web.joinpath("packages", *parts, f"f{number}"), b"y" * rng.randrange(50))
    expected = {}
    for directory, _, names in os.walk(web / "packages"):
        for name in names:
            found = (Path(directory) / name).stat()
            relative = (Path(directory) / name).relative_to(web).as_posix()
            expected[relative] = (found.st_size, found.st_mtime_ns)
    assert take_inventory(web).files == expected
    assert len(expected) == 300


def test_packages_on_another_disk_through_a_link_is_walked(tmp_path: Path) -> None:
    """A site that keeps packages/ elsewhere links it: the files are the mirror's all the same."""
    web = tmp_path / "web"
    elsewhere = tmp_path / "big-disk" / "packages"
    _write(elsewhere / "ab/cd/ef/alpha-1.0.whl", b"wheel")
    web.mkdir()
    (web / "packages").symlink_to(elsewhere, target_is_directory=True)
    assert list(take_inventory(web).files) == ["packages/ab/cd/ef/alpha-1.0.whl"]


def test_page_marks_of_each_directory_holding_every_page_file(tree: Path) -> None:
    page = (tree / "simple/alpha/index.html").stat()
    assert take_inventory(tree, ("index.html",)).pages == {"simple/alpha": page_marks_of([page])}
    assert take_inventory(tree, ("index.html", "index.v1_json")).pages == {}  # one is missing
    assert take_inventory(tree).pages == {}


def test_no_page_marks_when_simple_is_a_link(tmp_path: Path) -> None:
    """Pages reached through a link are not trusted on a walk's word: read as usual."""
    web = tmp_path / "web"
    _write(tmp_path / "elsewhere/simple/alpha/index.html", b"<html>")
    web.mkdir()
    (web / "simple").symlink_to(tmp_path / "elsewhere/simple", target_is_directory=True)
    assert take_inventory(web, ("index.html",)).pages == {}
