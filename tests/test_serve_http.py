"""HTTP done right by the built-in server: HEAD, validators and 304s, ranges, compression, caching
headers, and requests that are malformed or reach for what is outside the mirror.

The server runs for real on 127.0.0.1 (``tests/support/server.py``); requests are sent with
exactly the path and headers given. The pure rules (``cellar.serve.http``) are tested with
literal values below the server tests.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
import pytest

from cellar.serve.http import (
    FILE_CACHE_CONTROL,
    PAGE_CACHE_CONTROL,
    ByteRange,
    Coding,
    Conditions,
    Unsatisfiable,
    choose_coding,
    requested_range,
)
from cellar.serve.negotiate import PageFormat
from cellar.serve.pages import PageAnswer, PageCache, read_page
from cellar.tree.local import LocalStorage
from cellar.tree.local_resource import LocalResource
from tests.support.accept import PIP
from tests.support.server import (
    BIG_WHEEL,
    BIG_WHEEL_BYTES,
    METADATA_BYTES,
    WHEEL,
    WHEEL_BYTES,
    Reply,
    Served,
    ask,
    make_web_root,
    project_json,
    serving,
)

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PAGE = "/simple/foo-bar/"
SECRET = b"outside the web root\n"


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = make_web_root(tmp_path / "mirror" / "web")
    (tmp_path / "mirror" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "secret.whl").write_bytes(SECRET)
    (root / "packages" / "ab" / "escape.whl").symlink_to(tmp_path / "secret.whl")
    (root / "packages" / "ab" / "empty.whl").write_bytes(b"")
    return root


@pytest.fixture
def served(web_root: Path) -> Iterator[Served]:
    with serving(web_root) as server:
        yield server


def page(served: Served, method: str = "GET", **headers: str) -> Reply:
    return ask(served, PAGE, method, {"Accept": PIP, **_headers(headers)})


def _headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in headers.items()}


def replace_page(web_root: Path, body: bytes) -> None:
    directory = web_root / "simple" / "foo-bar"
    (directory / ".tmp").write_bytes(body)
    (directory / ".tmp").replace(directory / "index.v1_json")


# --- pages: headers, HEAD, validators ------------------------------------------------------------


def test_page_headers(served: Served, web_root: Path) -> None:
    reply = page(served)
    assert (reply.status, reply.body) == (200, project_json("foo-bar"))
    assert reply.headers["Content-Type"] == JSON_TYPE
    assert reply.headers["Vary"] == "Accept, Accept-Encoding"
    assert reply.headers["Cache-Control"] == PAGE_CACHE_CONTROL == "max-age=60"
    assert reply.headers["Content-Encoding"] is None
    mtime = (web_root / "simple" / "foo-bar" / "index.v1_json").stat().st_mtime
    assert reply.headers["Last-Modified"] == format_datetime(
        datetime.fromtimestamp(math.ceil(mtime), UTC), usegmt=True
    )
    assert reply.headers["ETag"].startswith('"') and reply.headers["ETag"].endswith('"')
    html = ask(served, PAGE, headers={"Accept": "text/html"})
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    v1 = ask(served, PAGE, headers={"Accept": "application/vnd.pypi.simple.v1+html"})
    assert v1.headers["Content-Type"] == "application/vnd.pypi.simple.v1+html; charset=utf-8"
    assert len({reply.headers["ETag"], html.headers["ETag"], v1.headers["ETag"]}) == 3


@pytest.mark.parametrize(
    "path",
    [
        "/simple/",
        PAGE,
        "/simple/Foo_Bar/",  # 301
        "/simple",  # 301
        "/simple/nothing/",  # 404
        f"/{WHEEL}",
        f"/{WHEEL}.metadata",
        "/health",
        "/packages/ab/cd/missing.whl",  # 404
    ],
)
@pytest.mark.parametrize("encoding", ["", "gzip", "zstd"])
def test_head_answers_like_get_without_a_body(served: Served, path: str, encoding: str) -> None:
    headers = {"Accept": PIP, "Accept-Encoding": encoding}
    get, head = ask(served, path, "GET", headers), ask(served, path, "HEAD", headers)
    assert head.status == get.status
    assert head.body == b""
    for name in ("Content-Type", "Content-Length", "Content-Encoding", "ETag", "Last-Modified"):
        assert head.headers[name] == get.headers[name], name
    for name in ("Vary", "Cache-Control", "Location"):
        assert head.headers[name] == get.headers[name], name


def test_if_none_match_gives_304(served: Served) -> None:
    etag = page(served).headers["ETag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        reply = page(served, If_None_Match=value)
        assert (reply.status, reply.body) == (304, b""), value
        assert reply.headers["ETag"] == etag
        assert reply.headers["Vary"] == "Accept, Accept-Encoding"
        assert reply.headers["Cache-Control"] == "max-age=60"
        assert reply.headers["Last-Modified"]
        head = page(served, "HEAD", If_None_Match=value)
        assert head.status == 304
    assert page(served, If_None_Match='"other"').status == 200
    # If-None-Match wins over If-Modified-Since, whatever the date says.
    last_modified = page(served).headers["Last-Modified"]
    assert page(served, If_None_Match='"other"', If_Modified_Since=last_modified).status == 200


def test_if_modified_since_gives_304(served: Served) -> None:
    last_modified = page(served).headers["Last-Modified"]
    assert page(served, If_Modified_Since=last_modified).status == 304
    later = datetime.now(UTC) + timedelta(days=1)
    assert page(served, If_Modified_Since=format_datetime(later, usegmt=True)).status == 304
    earlier = datetime(2001, 1, 1, tzinfo=UTC)
    assert page(served, If_Modified_Since=format_datetime(earlier, usegmt=True)).status == 200
    assert page(served, If_Modified_Since="not a date").status == 200


def test_failed_preconditions_give_412(served: Served) -> None:
    etag = page(served).headers["ETag"]
    assert page(served, If_Match=etag).status == 200
    assert page(served, If_Match='"other"').status == 412
    earlier = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    assert page(served, If_Unmodified_Since=earlier).status == 412


def test_a_replaced_page_has_a_new_etag(served: Served, web_root: Path) -> None:
    old = page(served).headers["ETag"]
    old_gzip = page(served, Accept_Encoding="gzip").headers["ETag"]
    replace_page(web_root, project_json("foo-bar", versions=41))
    reply = page(served, If_None_Match=old)
    assert (reply.status, reply.body) == (200, project_json("foo-bar", versions=41))
    assert reply.headers["ETag"] != old
    fresh = page(served, Accept_Encoding="gzip", If_None_Match=old_gzip)
    assert fresh.status == 200
    assert gzip.decompress(fresh.body) == project_json("foo-bar", versions=41)


# --- pages: compression ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "gzip"),
        ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "zstd"),
        ("zstd;q=0.5, gzip", "gzip"),
        ("gzip;q=0.5, zstd;q=0.9", "zstd"),
        ("br", None),
        ("identity", None),
        ("gzip;q=0", None),
        ("gzip;q=0.5, identity", None),
        ("", None),
    ],
)
def test_pages_are_compressed_as_the_client_asks(
    served: Served, accept_encoding: str, coding: str | None
) -> None:
    reply = page(served, Accept_Encoding=accept_encoding)
    assert reply.status == 200
    assert reply.headers["Content-Encoding"] == coding
    assert reply.headers["Content-Length"] == str(len(reply.body))
    decoders: dict[str | None, Callable[[bytes], bytes]] = {
        None: bytes,
        "gzip": gzip.decompress,
        "zstd": zstd.decompress,
    }
    decode = decoders[coding]
    assert decode(reply.body) == project_json("foo-bar")
    assert reply.headers["Vary"] == "Accept, Accept-Encoding"


def test_each_encoding_has_its_own_etag(served: Served) -> None:
    tags = {
        coding: page(served, Accept_Encoding=coding).headers["ETag"]
        for coding in ("identity", "gzip", "zstd")
    }
    assert len(set(tags.values())) == 3
    assert tags["gzip"] == tags["identity"][:-1] + '-gzip"'
    assert page(served, Accept_Encoding="gzip", If_None_Match=tags["gzip"]).status == 304
    # The tag of another encoding does not validate this one.
    assert page(served, Accept_Encoding="gzip", If_None_Match=tags["identity"]).status == 200
    assert page(served, Accept_Encoding="zstd", If_None_Match=tags["gzip"]).status == 200
    assert page(served, If_None_Match=tags["zstd"]).status == 200


def test_a_real_client_reads_compressed_pages(served: Served) -> None:
    async def get() -> tuple[str | None, bytes, str | None]:
        async with aiohttp.ClientSession() as session:
            headers = {"Accept": PIP, "Accept-Encoding": "gzip, zstd"}
            async with session.get(f"{served.url}simple/foo-bar/", headers=headers) as response:
                body = await response.read()
                return response.headers.get("Content-Encoding"), body, response.content_type

    encoding, body, content_type = asyncio.run(get())
    assert (encoding, body, content_type) == ("zstd", project_json("foo-bar"), JSON_TYPE)


def test_distribution_files_are_never_compressed(served: Served) -> None:
    for path, data in ((f"/{WHEEL}", WHEEL_BYTES), (f"/{WHEEL}.metadata", METADATA_BYTES)):
        reply = ask(served, path, headers={"Accept-Encoding": "gzip, zstd, br, deflate"})
        assert (reply.status, reply.body) == (200, data)
        assert reply.headers["Content-Encoding"] is None
        assert reply.headers["Vary"] is None


# --- the compressed-page cache, on real files ------------------------------------------------


def test_a_hot_page_is_compressed_once(web_root: Path) -> None:
    cache = PageCache()
    storage = LocalStorage(web_root)
    formats = (PageFormat.JSON_V1,)

    def read(coding: Coding) -> PageAnswer:
        answer = read_page(storage, ["simple/foo-bar"], formats, coding, Conditions(), cache=cache)
        assert isinstance(answer, PageAnswer)
        return answer

    first, second = read(Coding.GZIP), read(Coding.GZIP)
    assert second.body is first.body  # the same bytes object: taken from the cache
    assert gzip.decompress(first.body) == project_json("foo-bar")
    zstd_body = read(Coding.ZSTD).body
    assert zstd.decompress(zstd_body) == project_json("foo-bar")
    assert len(cache) == 2
    identity = read(Coding.IDENTITY)
    assert identity.body == project_json("foo-bar")
    assert read(Coding.IDENTITY).body is identity.body  # unencoded bodies are kept too
    assert len(cache) == 3
    replace_page(web_root, project_json("foo-bar", versions=3))
    third = read(Coding.GZIP)
    assert gzip.decompress(third.body) == project_json("foo-bar", versions=3)
    assert read(Coding.IDENTITY).body == project_json("foo-bar", versions=3)
    assert len(cache) == 3  # the new version replaced the old one


def test_the_page_cache_is_bounded(tmp_path: Path) -> None:
    cache = PageCache(max_bytes=800)
    versions = [LocalResource(str(i), str(tmp_path / str(i)), i, i, 100, False) for i in range(10)]
    for version in versions:
        cache.put(version, Coding.GZIP, bytes(100))
    assert len(cache) == 8
    assert cache.get(versions[0], Coding.GZIP) is None
    assert cache.get(versions[9], Coding.GZIP) == bytes(100)
    cache.put(versions[0], Coding.GZIP, bytes(101))  # more than an eighth: not kept
    assert cache.get(versions[0], Coding.GZIP) is None
    stale = versions[9]._replace(inode=99)
    assert cache.get(stale, Coding.GZIP) is None
    assert cache.get(versions[9], Coding.ZSTD) is None


# --- files: caching, validators, ranges ------------------------------------------------------


# Small files are sent from memory, large ones with sendfile: both answer alike.
FILES = pytest.mark.parametrize(
    ("wheel", "wheel_bytes"),
    [(WHEEL, WHEEL_BYTES), (BIG_WHEEL, BIG_WHEEL_BYTES)],
    ids=["small", "large"],
)


def test_small_and_large_files_have_the_same_kind_of_validators(served: Served) -> None:
    small, large = ask(served, f"/{WHEEL}"), ask(served, f"/{BIG_WHEEL}")
    assert large.body == BIG_WHEEL_BYTES and small.body == WHEEL_BYTES
    for reply, size in ((small, len(WHEEL_BYTES)), (large, len(BIG_WHEEL_BYTES))):
        assert re.fullmatch(rf'"[0-9a-f]+-{size:x}"', reply.headers["ETag"])
    assert set(small.headers) - {"Date"} == set(large.headers) - {"Date"}


@FILES
def test_file_headers(served: Served, wheel: str, wheel_bytes: bytes) -> None:
    assert ask(served, f"/{wheel}").headers["Content-Length"] == str(len(wheel_bytes))
    for path in (f"/{wheel}", f"/{WHEEL}.metadata"):
        reply = ask(served, path)
        assert reply.headers["Cache-Control"] == FILE_CACHE_CONTROL
        assert reply.headers["Cache-Control"] == "max-age=31536000, immutable"
        assert reply.headers["ETag"]
        assert reply.headers["Last-Modified"]
        assert reply.headers["Accept-Ranges"] == "bytes"
    assert ask(served, "/health").headers["Cache-Control"] == "no-store"


@FILES
def test_file_conditional_requests(served: Served, wheel: str, wheel_bytes: bytes) -> None:
    first = ask(served, f"/{wheel}")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": last_modified}):
        reply = ask(served, f"/{wheel}", headers=headers)
        assert (reply.status, reply.body) == (304, b"")
        assert reply.headers["ETag"] == etag
        assert reply.headers["Cache-Control"] == FILE_CACHE_CONTROL
    assert ask(served, f"/{wheel}", headers={"If-None-Match": '"other"'}).status == 200
    assert ask(served, f"/{wheel}", headers={"If-Match": '"other"'}).status == 412


@pytest.mark.parametrize(
    ("range_header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=100000-", 100000, 102400),
        ("bytes=-100", 102300, 102400),
        ("bytes=-999999", 0, 102400),
        ("bytes=102000-999999", 102000, 102400),
        ("BYTES=5-5", 5, 6),
    ],
)
def test_ranges_give_206(served: Served, range_header: str, start: int, stop: int) -> None:
    reply = ask(served, f"/{WHEEL}", headers={"Range": range_header})
    assert (reply.status, reply.body) == (206, WHEEL_BYTES[start:stop])
    assert reply.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(WHEEL_BYTES)}"
    assert reply.headers["Content-Length"] == str(stop - start)


@pytest.mark.parametrize("range_header", ["bytes={size}-", "bytes=999999-1000000", "bytes=-0"])
@FILES
def test_unsatisfiable_ranges_give_416(
    served: Served, range_header: str, wheel: str, wheel_bytes: bytes
) -> None:
    reply = ask(served, f"/{wheel}", headers={"Range": range_header.format(size=len(wheel_bytes))})
    assert reply.status == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(wheel_bytes)}"
    assert wheel_bytes[:100] not in reply.body


@pytest.mark.parametrize(
    "range_header",
    ["bytes=5-1", "bytes=0-1,5-6", "items=0-5", "bytes=", "bytes=-", "bytes=a-b", "0-5"],
)
@FILES
def test_ranges_that_cannot_be_honoured_give_the_whole_file(
    served: Served, range_header: str, wheel: str, wheel_bytes: bytes
) -> None:
    reply = ask(served, f"/{wheel}", headers={"Range": range_header})
    assert (reply.status, reply.body) == (200, wheel_bytes)


@FILES
def test_if_range(served: Served, wheel: str, wheel_bytes: bytes) -> None:
    first = ask(served, f"/{wheel}")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    for validator in (etag, last_modified):
        reply = ask(served, f"/{wheel}", headers={"Range": "bytes=0-9", "If-Range": validator})
        assert (reply.status, reply.body) == (206, wheel_bytes[:10])
    earlier = format_datetime(datetime(2001, 1, 1, tzinfo=UTC), usegmt=True)
    for validator in ('"other"', f"W/{etag}", earlier, "garbage"):
        reply = ask(served, f"/{wheel}", headers={"Range": "bytes=0-9", "If-Range": validator})
        assert (reply.status, reply.body) == (200, wheel_bytes), validator


def test_ranges_of_a_large_file_give_206(served: Served) -> None:
    size = len(BIG_WHEEL_BYTES)
    for header, start, stop in (
        ("bytes=0-99", 0, 100),
        ("bytes=300000-", 300000, size),
        ("bytes=-100", size - 100, size),
    ):
        reply = ask(served, f"/{BIG_WHEEL}", headers={"Range": header})
        assert (reply.status, reply.body) == (206, BIG_WHEEL_BYTES[start:stop])
        assert reply.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}"


def test_an_empty_file_ignores_ranges(served: Served) -> None:
    reply = ask(served, "/packages/ab/empty.whl", headers={"Range": "bytes=0-9"})
    assert (reply.status, reply.body) == (200, b"")


# --- malformed and hostile requests ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/packages/%2e%2e/secret.txt",
        "/packages/%2E%2E/%2E%2E/secret.whl",
        "/packages/.%2e/.%2e/secret.txt",
        "/packages/ab/%2e%2e/%2e%2e/%2e%2e/secret.whl",
        "/packages/ab/%2e/cd/foo_bar-1.0-py3-none-any.whl",
        "/packages/..%2fsecret.txt",
        "/packages/..%5csecret.txt",
        "/packages/ab%5c..%5c..%5csecret.txt",
        "/packages/ab\\..\\..\\secret.txt",
        "/packages/ab/cd/foo_bar-1.0-py3-none-any.whl%00",
        "/packages/%00",
        "/packages/ab/escape.whl",
        "/packages/" + "a" * 300,
        "/packages/" + "/".join(["ab"] * 2000),
        "/simple/" + "a" * 300 + "/",
        "/simple/" + "a" * 300,
        "/simple/%2e%2e/",
        "/simple/%2e%2e%2fpackages/",
        "/simple/foo-bar%00/",
        "/simple/foo-bar%5c/",
    ],
)
def test_paths_outside_or_malformed_are_4xx(served: Served, path: str) -> None:
    for method in ("GET", "HEAD"):
        reply = ask(served, path, method, {"Accept": PIP})
        assert 400 <= reply.status < 500, (path, reply.status)
        assert SECRET not in reply.body
        assert WHEEL_BYTES[:256] not in reply.body


def test_an_overlong_request_line_is_refused(served: Served) -> None:
    reply = ask(served, "/packages/" + "a" * 10_000)
    assert 400 <= reply.status < 500


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "MKCOL"]
)
@pytest.mark.parametrize("path", ["/simple/", PAGE, f"/{WHEEL}", "/health", "/nothing"])
def test_other_methods_get_405(served: Served, method: str, path: str) -> None:
    reply = ask(served, path, method)
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET,HEAD"


@pytest.mark.parametrize(
    "request_line",
    [b"GET /simple/ HTTP/9.9", b"G\x00T /simple/ HTTP/1.1", b"GET", b"\x16\x03\x01\x02\x00"],
)
def test_garbage_requests_get_400(served: Served, request_line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as connection:
        connection.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        answer = connection.recv(4096)
    assert re.match(rb"HTTP/1\.[01] 4\d\d ", answer), answer[:40]


# --- the pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        (None, Coding.IDENTITY),
        ("", Coding.IDENTITY),
        ("GZIP", Coding.GZIP),
        ("gzip;q=0.8, zstd;q=0.8", Coding.ZSTD),
        ("gzip;q=0.9, zstd;q=0.8", Coding.GZIP),
        ("*;q=0.5", Coding.GZIP),
        ("*, gzip;q=0", Coding.IDENTITY),
        ("zstd;q=nonsense", Coding.ZSTD),
        ("identity;q=1, gzip;q=0.5", Coding.IDENTITY),
        ("identity;q=0", Coding.IDENTITY),
        ("deflate, br", Coding.IDENTITY),
        (",,;", Coding.IDENTITY),
    ],
)
def test_choose_coding(header: str | None, coding: Coding) -> None:
    assert choose_coding(header) is coding


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, ByteRange(0, 1)),
        ("bytes=2-", 10, ByteRange(2, 10)),
        ("bytes=-3", 10, ByteRange(7, 10)),
        ("bytes = 2 - 4", 10, ByteRange(2, 5)),
        ("bytes=10-", 10, Unsatisfiable.RANGE),
        ("bytes=" + "9" * 5000 + "-", 10, Unsatisfiable.RANGE),
        ("bytes=0-" + "9" * 5000, 10, ByteRange(0, 10)),
        ("bytes=-0", 10, Unsatisfiable.RANGE),
        ("bytes=0-0", 0, None),
        ("bytes=3-2", 10, None),
        ("bytes=1-2,4-5", 10, None),
        ("bytes=\u0662-", 10, None),  # a non-ASCII digit
        ("lines=1-2", 10, None),
    ],
)
def test_requested_range(header: str | None, size: int, expected: object) -> None:
    assert requested_range(header, None, "tag", 1000.0, size) == expected


def test_byte_range_header() -> None:
    assert ByteRange(5, 10).header == "bytes=5-9"


def test_the_access_to_outside_files_is_not_even_tried(served: Served, tmp_path: Path) -> None:
    # A FIFO outside the web root blocks whoever opens it for reading: a server that opened it
    # would never answer. The symlink to it is refused before anything is opened.
    fifo = tmp_path / "fifo.whl"
    os.mkfifo(fifo)
    link = tmp_path / "mirror" / "web" / "packages" / "ab" / "fifo.whl"
    link.symlink_to(fifo)
    assert ask(served, "/packages/ab/fifo.whl").status == 404
    inside = tmp_path / "mirror" / "web" / "packages" / "ab" / "inside-fifo.whl"
    os.mkfifo(inside)
    assert ask(served, "/packages/ab/inside-fifo.whl").status == 404


def test_a_fifo_in_place_of_a_page_is_not_a_page(served: Served, web_root: Path) -> None:
    page_file = web_root / "simple" / "foo-bar" / "index.v1_json"
    page_file.unlink()
    os.mkfifo(page_file)
    reply = page(served)  # falls back to the next acceptable format
    assert (reply.status, reply.body) == (200, b"<html>foo-bar v1</html>\n")
