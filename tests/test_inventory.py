"""The walk `cellar verify` takes of the tree: every file under packages/ with its size and
mtime, the temporary files elsewhere, links treated as os.walk treats them.

Real trees on disk (symlinks, a FIFO, a broken link), compared with what os.walk and os.stat
say of the same tree.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cellar.keep.disk import find_orphans, take_inventory
from cellar.keep.inventory import orphans_in, take_stock

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


def test_files_under_packages_with_their_size_and_mtime(tree):
    inventory = take_inventory(tree, 2)
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


def test_orphans_are_the_unlisted_files_and_every_temporary_file(tree):
    listed = {"packages/ab/cd/ef/alpha-1.0.whl", "packages/ab/fifo", "packages/loose.whl"}
    assert find_orphans(tree, listed) == [
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


def test_a_missing_tree_is_empty(tmp_path):
    inventory = take_inventory(tmp_path / "nothing", 1)
    assert inventory.files == {}
    assert inventory.temporaries == ()
    assert orphans_in(inventory, set()) == []


@pytest.mark.parametrize("workers", [1, 3])
def test_same_files_as_os_walk_on_a_random_tree(tmp_path, workers):
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
    with ThreadPoolExecutor(workers) as pool:
        inventory = take_stock(web, pool)()
    assert inventory.files == expected
    assert len(expected) == 300
