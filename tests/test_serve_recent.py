"""Answers sent again to repeated requests: never stale, never through a link put in the way.

``RecentAnswers`` on real files, then the running server (``tests/support/server.py``): a page
or file asked for over and over and then replaced, removed or swapped for a symlink is looked
up afresh on the next request. The server's short way for pages and files (``dispatch.py``)
answers like the application does, which the rest of the serve tests and the conformance suite
check; here the cases that only a kept answer could get wrong.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellar.serve.recent import RecentAnswers
from cellar.tree.local import LocalStorage
from cellar.tree.paths import lstat_within
from cellar.tree.storage import Resource
from tests.support.accept import PIP
from tests.support.server import (
    WHEEL,
    WHEEL_BYTES,
    Served,
    ask,
    make_web_root,
    project_json,
    serving,
)

PAGE = "/simple/foo-bar/"
HEADERS = {"Content-Type": "text/plain"}


def version_of(path: Path) -> Resource:
    """The version of the page at ``path`` as a server finds it (a final link not followed)."""
    found = LocalStorage(path.parent).find(path.name, links=False)
    assert found is not None
    return found


def replace(path: Path, body: bytes) -> None:
    """Replace ``path`` as the mirror does: a new file renamed over it."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(body)
    temporary.replace(path)


# --- RecentAnswers on real files ---------------------------------------------------------------


def test_a_kept_answer_is_sent_while_its_file_is_unchanged(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"one")
    recent = RecentAnswers()
    recent.put("key", version_of(page), HEADERS, b"one")
    kept = recent.get("key")
    assert kept is not None
    assert (kept.body, kept.headers) == (b"one", HEADERS)
    assert recent.get("other") is None


@pytest.mark.parametrize("change", ["replaced", "same size", "removed", "a directory"])
def test_a_kept_answer_is_dropped_once_its_file_changes(tmp_path: Path, change: str) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"one")
    recent = RecentAnswers()
    recent.put("key", version_of(page), HEADERS, b"one")
    if change == "replaced":
        replace(page, b"two, longer")
    elif change == "same size":
        replace(page, b"two")  # a new inode, whatever the size and the clock say
    elif change == "removed":
        page.unlink()
    else:
        page.unlink()
        page.mkdir()
    assert recent.get("key") is None
    assert len(recent) == 0


def test_a_page_swapped_for_a_symlink_is_not_sent_again(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"one")
    recent = RecentAnswers()
    recent.put("key", version_of(page), HEADERS, b"one")
    target = tmp_path / "elsewhere"
    page.rename(target)  # the very same inode, now reached through a link
    page.symlink_to(target)
    assert recent.get("key") is None


def test_a_kept_answer_expires(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"one")
    recent = RecentAnswers(ttl=0.0)
    recent.put("key", version_of(page), HEADERS, b"one")
    assert recent.get("key") is None


def test_recent_answers_are_bounded_in_entries_and_bytes(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"x")
    version = version_of(page)
    by_count = RecentAnswers(limit=3)
    for key in range(10):
        by_count.put(key, version, HEADERS, b"x")
        assert len(by_count) <= 3
    assert by_count.get(9) is not None
    by_size = RecentAnswers(max_bytes=800)
    by_size.put("large", version, HEADERS, bytes(101))  # more than an eighth: not kept
    assert by_size.get("large") is None
    for key in range(20):
        by_size.put(key, version, HEADERS, bytes(100))
    assert 1 <= len(by_size) <= 8
    assert by_size.get(19) is not None


# --- lstat_within ------------------------------------------------------------------------------


def test_lstat_within_follows_only_links_that_stay_inside(tmp_path: Path) -> None:
    root = tmp_path / "web"
    (root / "simple" / "real").mkdir(parents=True)
    (root / "simple" / "real" / "index.html").write_bytes(b"page")
    (root / "simple" / "inside").symlink_to(root / "simple" / "real")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "index.html").write_bytes(b"secret")
    (root / "simple" / "escape").symlink_to(tmp_path / "outside")
    (root / "simple" / "real" / "link.html").symlink_to(root / "simple" / "real" / "index.html")

    def look(*parts: str, follow_last: bool = True) -> os.stat_result | None:
        return lstat_within(str(root), parts, follow_last=follow_last)

    page = (root / "simple" / "real" / "index.html").stat()
    found = look("simple", "real", "index.html")
    assert found is not None and found.st_ino == page.st_ino
    through = look("simple", "inside", "index.html")
    assert through is not None and through.st_ino == page.st_ino
    assert look("simple", "escape", "index.html") is None
    assert look("simple", "missing", "index.html") is None
    followed = look("simple", "real", "link.html")
    assert followed is not None and followed.st_ino == page.st_ino
    link = look("simple", "real", "link.html", follow_last=False)
    assert link is not None and link.st_ino != page.st_ino  # the link itself


# --- the running server ------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    web_root = make_web_root(tmp_path / "mirror" / "web")
    with serving(web_root) as server:
        yield server, web_root


def test_a_hot_page_replaced_is_sent_new_at_once(served: tuple[Served, Path]) -> None:
    server, web_root = served
    first = [ask(server, PAGE, headers={"Accept": PIP}) for _ in range(3)]
    assert {(reply.status, reply.body) for reply in first} == {(200, project_json("foo-bar"))}
    replace(web_root / "simple" / "foo-bar" / "index.v1_json", project_json("foo-bar", 41))
    after = ask(server, PAGE, headers={"Accept": PIP})
    assert (after.status, after.body) == (200, project_json("foo-bar", 41))
    assert after.headers["ETag"] != first[0].headers["ETag"]


def test_a_hot_file_removed_is_not_found_at_once(served: tuple[Served, Path]) -> None:
    server, web_root = served
    for _ in range(3):
        reply = ask(server, f"/{WHEEL}")
        assert (reply.status, reply.body) == (200, WHEEL_BYTES)
    (web_root / WHEEL).unlink()
    assert ask(server, f"/{WHEEL}").status == 404


def test_a_hot_file_swapped_for_a_link_outside_is_refused(
    served: tuple[Served, Path], tmp_path: Path
) -> None:
    server, web_root = served
    assert ask(server, f"/{WHEEL}").body == WHEEL_BYTES
    secret = tmp_path / "secret.whl"
    secret.write_bytes(b"outside the web root")
    (web_root / WHEEL).unlink()
    (web_root / WHEEL).symlink_to(secret)
    reply = ask(server, f"/{WHEEL}")
    assert reply.status == 404
    assert b"outside" not in reply.body


def test_a_kept_answer_is_not_sent_for_a_conditional_request(
    served: tuple[Served, Path],
) -> None:
    server, _ = served
    first = ask(server, PAGE, headers={"Accept": PIP})
    again = ask(server, PAGE, headers={"Accept": PIP, "If-None-Match": first.headers["ETag"]})
    assert (again.status, again.body) == (304, b"")
    ranged = ask(server, f"/{WHEEL}", headers={"Range": "bytes=0-9"})
    ask(server, f"/{WHEEL}")
    assert ask(server, f"/{WHEEL}", headers={"Range": "bytes=0-9"}).body == WHEEL_BYTES[:10]
    assert ranged.status == 206


def test_short_way_answers_name_the_server_as_the_application_does(
    served: tuple[Served, Path],
) -> None:
    server, _ = served
    for path in (PAGE, f"/{WHEEL}", "/simple/nothing/", "/simple/Foo_Bar/", "/packages/ab/no.whl"):
        for _ in range(2):  # the second time from what was kept, where anything was
            reply = ask(server, path, headers={"Accept": PIP})
            assert reply.headers["Server"] == "cellar", (path, reply.status)
