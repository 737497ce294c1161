"""The built-in server, run for real on 127.0.0.1 and asked over HTTP by real clients."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellar.config.serve import ServeSettings
from cellar.serve.app import (
    ACCESS_LOGGER,
    AddressUnavailableError,
    WebRootError,
    file_content_type,
    start,
)
from tests.support.accept import FIREFOX, PIP, UV
from tests.support.server import serving
from tests.support.service import fetch

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
LOOPBACK = ServeSettings(host="127.0.0.1", port=0)
WHEEL = "packages/ab/cd/foo_bar-1.0-py3-none-any.whl"
WHEEL_BYTES = bytes(range(256)) * 400  # 100 KiB, not text
METADATA_BYTES = "Metadata-Version: 2.1\nName: foo-bar\nVersion: 1.0\nSummary: café\n".encode()
SECRET = b"outside the web root\n"
PAGES = {"index.v1_json": "json", "index.v1_html": "html v1", "index.html": "legacy html"}


def write_page(directory: Path, name: str, body: bytes) -> None:
    """Replace a page the way the mirror does: write a temporary file, then rename it."""
    temporary = directory / f".{name}.tmp"
    temporary.write_bytes(body)
    temporary.replace(directory / name)


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "mirror" / "web"
    for directory, label in ((root / "simple", "root"), (root / "simple" / "foo-bar", "foo-bar")):
        directory.mkdir(parents=True)
        for name, kind in PAGES.items():
            write_page(directory, name, f"{label} {kind}\n".encode())
    other = root / "simple" / "other"
    other.mkdir()
    for name, kind in PAGES.items():
        write_page(other, name, f"other {kind}\n".encode())
    wheel = root / WHEEL
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(WHEEL_BYTES)
    wheel.with_name(wheel.name + ".metadata").write_bytes(METADATA_BYTES)
    (wheel.parent / "legacy-1.0.tar").write_bytes(b"plain tar bytes")
    (wheel.parent / "legacy-1.0.tar.gz").write_bytes(b"\x1f\x8bgzip bytes")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "packages" / "ab" / "escape.whl").symlink_to(tmp_path / "secret.txt")
    (root / "packages" / "ab" / "inside.whl").symlink_to(wheel)
    return root


@pytest.fixture
def port(web_root: Path) -> Iterator[int]:
    with serving(web_root) as served:
        yield served.port


@pytest.mark.parametrize(
    ("accept", "query", "body", "content_type"),
    [
        (PIP, "", b"foo-bar json\n", JSON_TYPE),
        (UV, "", b"foo-bar json\n", JSON_TYPE),
        (FIREFOX, "", b"foo-bar legacy html\n", "text/html; charset=utf-8"),
        ("*/*", "", b"foo-bar legacy html\n", "text/html; charset=utf-8"),
        (None, "", b"foo-bar legacy html\n", "text/html; charset=utf-8"),
        (
            "application/vnd.pypi.simple.v1+html",
            "",
            b"foo-bar html v1\n",
            "application/vnd.pypi.simple.v1+html; charset=utf-8",
        ),
        (None, "?format=application/vnd.pypi.simple.v1%2Bjson", b"foo-bar json\n", JSON_TYPE),
        (None, "?format=application/vnd.pypi.simple.v1+json", b"foo-bar json\n", JSON_TYPE),
        (PIP, "?format=text/html", b"foo-bar legacy html\n", "text/html; charset=utf-8"),
    ],
)
def test_project_page_is_negotiated(
    port: int, accept: str | None, query: str, body: bytes, content_type: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    reply = fetch(port, f"/simple/foo-bar/{query}", **headers)
    assert (reply.status, reply.body) == (200, body)
    assert reply.headers["Content-Type"] == content_type
    assert reply.headers["Vary"] == "Accept, Accept-Encoding"
    assert reply.headers["Content-Length"] == str(len(body))


def test_root_page_is_negotiated(port: int) -> None:
    assert fetch(port, "/simple/", Accept=PIP).body == b"root json\n"
    assert fetch(port, "/simple/").body == b"root legacy html\n"
    head = fetch(port, "/simple/", "HEAD", Accept=UV)
    assert (head.status, head.body, head.headers["Content-Type"]) == (200, b"", JSON_TYPE)
    assert head.headers["Content-Length"] == str(len(b"root json\n"))


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/simple", "simple/"),
        ("/simple/foo-bar", "foo-bar/"),
        ("/simple/Foo_Bar", "foo-bar/"),
        ("/simple/foo.bar", "foo-bar/"),
        ("/simple/Foo_Bar/", "../foo-bar/"),
        ("/simple/FOO--bar/?format=text/html", "../foo-bar/?format=text/html"),
    ],
)
def test_redirects_to_the_normalised_name(port: int, path: str, location: str) -> None:
    reply = fetch(port, path)
    assert (reply.status, reply.headers["Location"]) == (301, location)


def test_clients_follow_redirects_to_the_page(port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/simple/Foo_Bar", headers={"Accept": PIP}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- http URL we built
        assert response.url == f"http://127.0.0.1:{port}/simple/foo-bar/"
        assert response.read() == b"foo-bar json\n"
    # "/" is the home page for people; a client asking for the Simple API is sent to it.
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Accept": PIP})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- http URL we built
        assert response.url == f"http://127.0.0.1:{port}/simple/"
        assert response.read() == b"root json\n"
    assert fetch(port, "/", Accept=UV).status == 302
    assert fetch(port, "/?format=text/html").headers["Location"] == "simple/?format=text/html"
    assert fetch(port, "/", Accept=FIREFOX).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/simple/unknown/",
        "/simple/Unknown_Thing/",
        "/simple/unknown",
        "/simple/-bad-/",
        "/simple/a%2Fb/",
        "/simple/..%2F/",
        "/simple/index.html",
        "/nothing",
        "/packages/",
        "/simple//",
    ],
)
def test_unknown_is_404(port: int, path: str) -> None:
    assert fetch(port, path, Accept=PIP).status == 404


def test_wheel_and_metadata_are_sent_exactly(port: int) -> None:
    reply = fetch(port, f"/{WHEEL}")
    assert (reply.status, reply.body) == (200, WHEEL_BYTES)
    assert reply.headers["Content-Length"] == str(len(WHEEL_BYTES))
    assert reply.headers["Content-Type"] == "application/zip"
    assert reply.headers["Content-Encoding"] is None
    assert reply.headers["ETag"]
    metadata = fetch(port, f"/{WHEEL}.metadata")
    assert (metadata.status, metadata.body) == (200, METADATA_BYTES)
    assert metadata.headers["Content-Type"] == "text/plain; charset=utf-8"
    head = fetch(port, f"/{WHEEL}", "HEAD")
    assert (head.status, head.body, head.headers["Content-Length"]) == (
        200,
        b"",
        str(len(WHEEL_BYTES)),
    )


def test_range_and_conditional_requests(port: int) -> None:
    reply = fetch(port, f"/{WHEEL}", Range="bytes=1000-1999")
    assert (reply.status, reply.body) == (206, WHEEL_BYTES[1000:2000])
    assert reply.headers["Content-Range"] == f"bytes 1000-1999/{len(WHEEL_BYTES)}"
    etag = fetch(port, "/simple/foo-bar/", Accept=PIP).headers["ETag"]
    assert fetch(port, "/simple/foo-bar/", Accept=PIP, If_None_Match=etag).status == 304


def test_a_compressed_sibling_is_never_sent_instead(port: int) -> None:
    reply = fetch(port, "/packages/ab/cd/legacy-1.0.tar", Accept_Encoding="gzip, br")
    assert (reply.status, reply.body) == (200, b"plain tar bytes")
    assert reply.headers["Content-Encoding"] is None
    sdist = fetch(port, "/packages/ab/cd/legacy-1.0.tar.gz", Accept_Encoding="gzip")
    assert (sdist.body, sdist.headers["Content-Type"]) == (
        b"\x1f\x8bgzip bytes",
        "application/gzip",
    )
    assert sdist.headers["Content-Encoding"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/packages/../simple/index.html",
        "/packages/%2e%2e/simple/index.html",
        "/packages/%2e%2e/%2e%2e/etc/passwd",
        "/packages/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/packages/ab/../../../secret.txt",
        "/packages//etc/passwd",
        "/packages/%2Fetc%2Fpasswd",
        "/packages/ab/cd/foo_bar-1.0-py3-none-any.whl%00.metadata",
        "/packages/ab\\..\\..\\secret.txt",
        "/packages/ab/escape.whl",  # a symlink to a file outside the web root
        "/packages/ab/cd",  # a directory
        "/packages/ab/cd/",
        "/packages/ab/./cd/legacy-1.0.tar",
    ],
)
def test_unsafe_paths_are_refused(port: int, path: str) -> None:
    reply = fetch(port, path)
    assert reply.status == 404
    assert SECRET not in reply.body
    assert b"root" not in reply.body


def test_symlinks_inside_packages_are_followed(port: int) -> None:
    reply = fetch(port, "/packages/ab/inside.whl")
    assert (reply.status, reply.body) == (200, WHEEL_BYTES)


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/simple/"), ("PUT", f"/{WHEEL}"), ("DELETE", "/x")]
)
def test_only_get_and_head(port: int, method: str, path: str) -> None:
    reply = fetch(port, path, method)
    assert reply.status == 405
    assert reply.headers["Allow"] == "GET,HEAD"


def test_health(port: int) -> None:
    reply = fetch(port, "/health")
    assert (reply.status, reply.body) == (200, b"ok\n")


def test_pages_replaced_while_serving(port: int, web_root: Path) -> None:
    project = web_root / "simple" / "foo-bar"
    bodies = {b"first" * 100, b"second" * 3000}
    done = threading.Event()

    def keep_replacing() -> None:
        while not done.is_set():
            for body in bodies:
                write_page(project, "index.v1_json", body)

    # The first page is in place before any request: the fixture's own page is not one of these.
    write_page(project, "index.v1_json", b"first" * 100)
    writer = threading.Thread(target=keep_replacing)
    writer.start()
    try:
        replies = [fetch(port, "/simple/foo-bar/", Accept=PIP) for _ in range(200)]
    finally:
        done.set()
        writer.join()
    assert all(r.status == 200 and r.body in bodies for r in replies)
    write_page(project, "index.v1_json", b"latest")
    assert fetch(port, "/simple/foo-bar/", Accept=PIP).body == b"latest"


def test_a_missing_page_falls_back_to_another_acceptable_format(port: int, web_root: Path) -> None:
    project = web_root / "simple" / "foo-bar"
    (project / "index.v1_json").unlink()
    assert fetch(port, "/simple/foo-bar/", Accept=PIP).body == b"foo-bar html v1\n"
    assert fetch(port, "/simple/foo-bar/", Accept=JSON_TYPE).status == 404
    for name in ("index.v1_html", "index.html"):
        (project / name).unlink()
    assert fetch(port, "/simple/foo-bar/", Accept=PIP).status == 404


def test_access_log(web_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with serving(web_root) as served:
        port = served.port
        fetch(port, "/health", User_Agent="pip/25.0")
    [record] = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert record.getMessage().startswith("127.0.0.1 - - [")
    assert record.getMessage().endswith('"GET /health HTTP/1.1" 200 3 "-" "pip/25.0"')


def test_web_root_without_simple_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WebRootError, match="no simple/ directory") as caught:
        asyncio.run(start(tmp_path, LOOPBACK))
    assert caught.value.web_root == tmp_path


def test_port_in_use_is_refused(web_root: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AddressUnavailableError) as caught:
            asyncio.run(start(web_root, ServeSettings(port=port)))
    assert str(caught.value).startswith(f"port {port} on 127.0.0.1 is already in use")
    assert (caught.value.host, caught.value.port, caught.value.in_use) == ("127.0.0.1", port, True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_forever_stops_on_signal(web_root: Path, signum: signal.Signals) -> None:
    code = (
        "import sys; from pathlib import Path; from cellar.serve.run import serve_forever; "
        "from cellar.config.serve import ServeSettings; "
        "from cellar.tree.location import TreeLocation; "
        "serve_forever(TreeLocation(Path(sys.argv[1])), ServeSettings(port=0), "
        "on_ready=lambda url: print(url, flush=True))"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(web_root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        url = process.stdout.readline().decode().strip()  # type: ignore[union-attr]
        with urllib.request.urlopen(f"{url}health", timeout=10) as response:  # noqa: S310 -- http URL we built
            assert response.read() == b"ok\n"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
    assert (process.returncode, stderr) == (0, b"")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("foo-1.0-py3-none-any.whl", "application/zip"),
        ("foo-1.0.tar.gz", "application/gzip"),
        ("FOO-1.0.TAR.GZ", "application/gzip"),
        ("foo-1.0.zip", "application/zip"),
        ("foo-1.0-py3-none-any.whl.metadata", "text/plain; charset=utf-8"),
        ("foo-1.0.tar.gz.asc", "application/pgp-signature"),
        ("foo-1.0.tar", "application/octet-stream"),
        ("foo-1.0.exe", "application/octet-stream"),
    ],
)
def test_file_content_type(name: str, content_type: str) -> None:
    assert file_content_type(name) == content_type
