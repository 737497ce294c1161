"""The mirror's tree as ``LocalStorage`` keeps it: staged writes committed whole (a small one's
disk work in one call, directories and all), pages put together and only when they change,
removals that leave no empty directory, and no key that leads out of the tree."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cellar.tree.local import LocalStorage
from cellar.tree.paths import OutsideTreeError


def test_a_spooled_stage_makes_its_directories_and_renames_into_place(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    key = "packages/ab/cd/0123/demo-1.0-py3-none-any.whl"
    staged = storage.stage(key, spool=1 << 20)
    staged.begin(0)
    staged.write(b"wheel ")
    staged.write(b"bytes")
    staged.end()
    assert not (tmp_path / "packages").exists()  # nothing on disk before the commit
    info = staged.commit()
    final = tmp_path / key
    assert final.read_bytes() == b"wheel bytes"
    assert stat.S_IMODE(final.stat().st_mode) == 0o644
    assert info == storage.stat(key)  # what a later stat sees, ctime of the rename included
    assert _names(final.parent) == [final.name]


def test_a_commit_under_another_key_moves_it_there(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for spool in (0, 1 << 20):  # streamed to a file, then held in memory
        staged = storage.stage("packages/demo.whl", spool=spool)
        staged.begin(0)
        staged.write(b"x" * 10)
        staged.end()
        info = staged.commit(f"packages/ab/{spool}/demo.whl")
        assert (tmp_path / info.key).read_bytes() == b"x" * 10
    assert _names(tmp_path / "packages") == ["ab"]  # no temporary file left


def test_a_failed_commit_leaves_nothing_and_keeps_what_was_there(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    (tmp_path / "target").mkdir()  # a directory holding a file: a file cannot replace it
    (tmp_path / "target" / "inside").write_bytes(b"kept")
    staged = storage.stage("target", spool=100)
    staged.begin(0)
    staged.write(b"x")
    with pytest.raises(OSError):
        staged.commit()
    assert _names(tmp_path) == ["target"]
    assert (tmp_path / "target" / "inside").read_bytes() == b"kept"


def test_discard_keeps_a_resumable_partial_only_when_asked_and_large_enough(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    big = storage.stage("p/big.whl", resume="ab" * 32)
    big.begin(0)
    big.write(b"b" * (1 << 20))
    partial = big.discard(keep=True)
    assert partial is not None
    assert (tmp_path / partial).stat().st_size == 1 << 20
    assert storage.stage("p/big.whl", resume="ab" * 32).held() == 1 << 20  # resumed from it
    small = storage.stage("p/small.whl", resume="cd" * 32)
    small.begin(0)
    small.write(b"s")
    assert small.discard(keep=True) is None
    unwanted = storage.stage("p/other.whl", resume="ef" * 32)
    unwanted.begin(0)
    unwanted.write(b"o" * (1 << 20))
    assert unwanted.discard() is None
    assert _names(tmp_path / "p") == [Path(partial).name]
    assert storage.drop_partials([partial, "p/big.whl"]) == 1  # never an object
    assert _names(tmp_path / "p") == []


def test_put_writes_only_what_changed_and_syncs_it_whole(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    assert storage.put({"simple/a/index.html": b"one", "simple/a/index.v1_json": b"{}"}) == [
        "simple/a/index.html",
        "simple/a/index.v1_json",
    ]
    before = storage.stat("simple/a/index.v1_json")
    assert storage.put({"simple/a/index.html": b"two", "simple/a/index.v1_json": b"{}"}) == [
        "simple/a/index.html"
    ]
    assert storage.stat("simple/a/index.v1_json") == before  # its version (and ETag) kept
    assert storage.read("simple/a/index.html") == b"two"
    assert storage.put({"simple/a/index.v1_json": b"{}"}, unchanged=True) == [
        "simple/a/index.v1_json"
    ]
    assert _names(tmp_path / "simple" / "a") == ["index.html", "index.v1_json"]


def test_delete_removes_files_leftovers_and_the_directories_left_empty(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put({"packages/ab/cd/x.whl": b"12345", "packages/ab/ef/y.whl": b"1"})
    (tmp_path / "packages" / "ab" / "cd" / ".x.whl.0123456789ab.part").write_bytes(b"cut")
    removed, size = storage.delete(["packages/ab/cd/x.whl", "packages/missing.whl", "../out"])
    assert (removed, size) == (["packages/ab/cd/x.whl"], 5)
    assert _names(tmp_path / "packages" / "ab") == ["ef"]
    assert (tmp_path / "packages").is_dir()  # a top-level directory stays


def test_objects_and_folders(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put(
        {"simple/b/index.html": b"b", "simple/a/index.html": b"a", "simple/index.html": b""}
    )
    (tmp_path / "simple" / "a" / ".index.html.0123456789ab.part").write_bytes(b"cut")
    assert storage.folders("simple/") == ["a", "b"]
    assert storage.folders("nowhere/") == []
    assert [info.key for info in storage.objects("simple/")] == [
        "simple/a/index.html",
        "simple/b/index.html",
        "simple/index.html",
    ]


def test_no_key_leads_out_of_the_tree(tmp_path: Path) -> None:
    root = tmp_path / "web"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "simple").mkdir(parents=True)
    (root / "simple" / "evil").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(root)
    for key in ("../outside/secret", "/etc/passwd", "simple/evil/secret", "a\x00b", "a/./b"):
        with pytest.raises(OutsideTreeError):
            storage.read(key)
        with pytest.raises(OutsideTreeError):
            storage.stat(key)  # refused before any look at the disk, missing or not
        with pytest.raises(OutsideTreeError):
            storage.put({key: b"x"})
        with pytest.raises(OutsideTreeError):
            storage.stage(key)
    assert storage.folders("simple/") == []  # a link is not followed
    assert (outside / "secret").read_bytes() == b"secret"
    assert _names(outside) == ["secret"]


def test_a_large_file_beside_a_small_one_still_in_flight_gets_its_directory(
    tmp_path: Path,
) -> None:
    # A small file's commit promises its parents (made later, in a worker thread); a large
    # file in the same new parent, streamed on the loop meanwhile, must not trust the promise.
    storage = LocalStorage(tmp_path)
    promised = storage.to_make(tmp_path / "packages" / "ab" / "cd" / "small-hash")
    assert promised[0] == tmp_path / "packages"  # parents first, none of them made yet
    assert not (tmp_path / "packages").exists()
    large = storage.stage("packages/ab/cd/large-hash/large.whl")
    large.begin(0)
    large.write(b"L")
    large.end()
    assert large.temp.parent.is_dir()
    small = storage.stage("packages/ab/cd/small-hash/small.whl", spool=10)
    small.begin(0)
    small.write(b"s")
    small.commit()  # the worker thread, later: finds them made
    assert (tmp_path / "packages" / "ab" / "cd" / "small-hash" / "small.whl").read_bytes() == b"s"


def _names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


# --- what a server finds -----------------------------------------------------------------------


def test_find_answers_only_for_regular_files_a_client_may_ask_for(tmp_path: Path) -> None:
    root = tmp_path / "web"
    (root / "simple" / "demo").mkdir(parents=True)
    (root / "simple" / "demo" / "index.html").write_bytes(b"page")
    (root / "simple" / ".hidden").write_bytes(b"hidden")
    (root / "simple" / "link.html").symlink_to(root / "simple" / "demo" / "index.html")
    (root / "simple" / "inside").symlink_to(root / "simple" / "demo")
    (tmp_path / "secret").write_bytes(b"secret")
    (root / "simple" / "out.html").symlink_to(tmp_path / "secret")
    os.mkfifo(root / "simple" / "fifo")
    storage = LocalStorage(root)
    found = storage.find("simple/demo/index.html")
    assert found is not None
    assert (found.key, found.size, found.location) == ("simple/demo/index.html", 4, None)
    assert found.path == str(root / "simple" / "demo" / "index.html")
    for key in (
        "simple/.hidden",
        "simple/../../secret",
        "/simple/demo/index.html",
        "simple//demo/index.html",
        "simple/demo\\index.html",
        "simple/demo/index.html\x00",
        "simple/demo",  # a directory
        "simple/fifo",
        "simple/out.html",  # a link leading out
        "simple/missing",
    ):
        assert storage.find(key) is None, key
    assert storage.find("simple/link.html") is not None  # a link that stays inside
    assert storage.find("simple/link.html", links=False) is None  # a page is never a link
    assert storage.find("simple/inside/index.html", links=False) is not None


def test_a_found_version_knows_when_it_is_replaced(tmp_path: Path) -> None:
    page = tmp_path / "simple" / "index.html"
    page.parent.mkdir()
    page.write_bytes(b"one")
    storage = LocalStorage(tmp_path)
    found = storage.find("simple/index.html", links=False)
    assert found is not None and found.current()
    assert b"".join(found.chunks(1, 3)) == b"ne"
    storage.put({"simple/index.html": b"two, longer"})
    assert not found.current()
    read = found.read()
    assert read is not None
    newer, body = read
    assert (body, newer.size, newer.current()) == (b"two, longer", 11, True)
    assert newer.tag != found.tag
    with pytest.raises(OSError, match="replaced"):
        list(found.chunks(0, 3))  # never the bytes of another version
    page.unlink()
    assert newer.read() is None
    assert not newer.current()
    assert storage.free_bytes() is not None
