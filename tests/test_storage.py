"""Writing files durably in the mirror: ``place_bytes`` (a small file's disk work in one call)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cellar.tree.storage import make_directories, place_bytes


def test_place_bytes_makes_its_directories_and_renames_into_place(tmp_path: Path) -> None:
    parent = tmp_path / "packages" / "ab" / "cd" / "0123"
    final = parent / "demo-1.0-py3-none-any.whl"
    temp = parent / ".demo.part"
    missing = (tmp_path / "packages", tmp_path / "packages" / "ab", parent.parent, parent)
    mtime_ns = place_bytes(temp, final, b"wheel bytes", missing)
    assert final.read_bytes() == b"wheel bytes"
    assert not temp.exists()
    assert stat.S_IMODE(final.stat().st_mode) == 0o644
    assert final.stat().st_mtime_ns == mtime_ns


def test_place_bytes_makes_a_parent_it_was_not_told_of(tmp_path: Path) -> None:
    # Another thread may not have made a parent yet: it is made here instead.
    final = tmp_path / "a" / "b" / "file"
    place_bytes(tmp_path / "a" / "b" / ".file.part", final, b"x", (tmp_path / "a" / "b",))
    assert final.read_bytes() == b"x"


def test_place_bytes_that_fails_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"in the way")
    final = tmp_path / "a-file" / "below"
    with pytest.raises(OSError):  # NotADirectoryError: a file where a directory should be
        place_bytes(tmp_path / "a-file" / ".below.part", final, b"x")
    assert (tmp_path / "a-file").read_bytes() == b"in the way"


def test_a_failed_rename_removes_the_temporary_file(tmp_path: Path) -> None:
    final = tmp_path / "target"
    final.mkdir()  # a directory holding a file: a file cannot replace it
    (final / "inside").write_bytes(b"kept")
    temp = tmp_path / ".target.part"
    with pytest.raises(OSError):
        place_bytes(temp, final, b"x")
    assert not temp.exists()
    assert (final / "inside").read_bytes() == b"kept"


def test_make_directories_tolerates_existing_ones(tmp_path: Path) -> None:
    make_directories([tmp_path, tmp_path / "new", tmp_path / "new"])
    assert (tmp_path / "new").is_dir()


def test_a_large_file_beside_a_small_one_still_in_flight_gets_its_directory(
    tmp_path: Path,
) -> None:
    # A small file's write promises its parents (made later, in a worker thread); a large
    # file in the same new parent, streamed on the loop meanwhile, must not trust the promise.
    from cellar.sync.fetch import FileFetcher  # noqa: PLC0415

    web = tmp_path / "web"
    web.mkdir()
    fetcher = FileFetcher(client=None, state=None, web_root=web)  # type: ignore[arg-type]
    promised = fetcher._to_make(web / "packages" / "ab" / "cd" / "small-hash")
    assert promised[0] == web / "packages"  # parents first, none of them made yet
    assert not (web / "packages").exists()
    large = web / "packages" / "ab" / "cd" / "large-hash"
    fetcher._make_directory(large)
    assert large.is_dir()
    make_directories(promised)  # the worker thread, later: finds them made
    assert promised[-1].is_dir()
