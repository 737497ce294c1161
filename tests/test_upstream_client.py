"""The upstream client against real HTTP servers on 127.0.0.1, one per test, in a thread."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

import pytest

from cellar.model import HTML_LEGACY, JSON_V1
from cellar.tree.local import FileSink, LocalStorage
from cellar.upstream.client import ClientSettings, Fetched, UpstreamClient
from cellar.upstream.errors import (
    ProjectNotFoundError,
    ResponseTooLargeError,
    UpstreamConnectionError,
    UpstreamHTTPError,
)
from cellar.upstream.retry import RetryPolicy

T = TypeVar("T")
Route = Callable[[BaseHTTPRequestHandler], None]
FAST_RETRY = RetryPolicy(retries=2, backoff=0.01, max_backoff=0.05)
SHA = "0" * 64


class Upstream:
    """A tiny index: ``routes`` maps a path to a function that answers the request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.stopping = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with upstream.lock:
                    upstream.seen.append((self.path, dict(self.headers.items())))
                route = upstream.routes.get(self.path)
                if route is None:
                    send(self, 404, b"not here")
                else:
                    route(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for seen, _ in self.seen if seen == path)

    def counted(self, route: Route, hold: float) -> Route:
        """Wrap ``route`` to count requests in flight, holding each for ``hold`` seconds."""

        def counting(handler: BaseHTTPRequestHandler) -> None:
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.stopping.wait(hold)
            # Leave the count before answering: the client may start its next request as
            # soon as it has read this answer, while this thread is still closing up.
            with self.lock:
                self.in_flight -= 1
            route(handler)

        return counting


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def answer(status: int, body: bytes = b"", **headers: str) -> Route:
    return lambda handler: send(
        handler, status, body, {k.replace("_", "-"): v for k, v in headers.items()}
    )


def in_turn(*routes: Route) -> Route:
    """Answer with each route in turn, then keep answering with the last."""
    calls = iter(routes)

    def route(handler: BaseHTTPRequestHandler) -> None:
        next(calls, routes[-1])(handler)

    return route


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    server.thread.start()
    yield server
    server.stopping.set()
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


def settings(upstream: Upstream, **changes: object) -> ClientSettings:
    values: dict[str, object] = {"timeout": 5.0, "retry": FAST_RETRY, **changes}
    return ClientSettings(upstream.url("/simple"), **values)  # type: ignore[arg-type]


def run(settings: ClientSettings, job: Callable[[UpstreamClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with UpstreamClient(settings) as client:
            return await job(client)

    return asyncio.run(main())


def json_page(name: str, *files: dict[str, object]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": list(files)}).encode()


def test_json_page_is_fetched_and_parsed(upstream: Upstream) -> None:
    def route(handler: BaseHTTPRequestHandler) -> None:
        assert handler.headers["Accept"].startswith(JSON_V1)
        body = json_page(
            "Demo",
            {"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "hashes": {"sha256": SHA}},
        )
        send(handler, 200, body, {"Content-Type": JSON_V1, "X-PyPI-Last-Serial": "31"})

    upstream.routes["/simple/demo/"] = route
    page = run(settings(upstream), lambda client: client.fetch_project("DEMO"))
    assert (page.name, page.last_serial, page.api_version) == ("Demo", 31, "1.1")
    assert page.files[0].url == upstream.url("/simple/demo/demo-1.0.tar.gz")
    assert page.files[0].sha256 == SHA


def test_html_when_the_server_ignores_accept(upstream: Upstream) -> None:
    html = f'<a href="demo-1.0.tar.gz#sha256={SHA}">demo-1.0.tar.gz</a>'.encode()
    upstream.routes["/simple/demo/"] = answer(200, html, Content_Type="text/html; charset=utf-8")
    page = run(settings(upstream), lambda client: client.fetch_project("demo"))
    assert page.name == "demo"
    assert page.files[0].url == upstream.url("/simple/demo/demo-1.0.tar.gz")
    assert page.files[0].hashes == {"sha256": SHA}


def test_redirect_is_followed_and_urls_resolve_against_the_final_url(upstream: Upstream) -> None:
    html = b'<a href="../files/demo-1.0.tar.gz">demo-1.0.tar.gz</a>'
    upstream.routes["/simple/demo/"] = answer(301, Location="/moved/index/demo/")
    upstream.routes["/moved/index/demo/"] = answer(200, html, Content_Type=HTML_LEGACY)
    page = run(settings(upstream), lambda client: client.fetch_project("demo"))
    assert page.files[0].url == upstream.url("/moved/index/files/demo-1.0.tar.gz")


@pytest.mark.parametrize("status", [404, 410])
def test_missing_project(upstream: Upstream, status: int) -> None:
    upstream.routes["/simple/gone/"] = answer(status)
    with pytest.raises(ProjectNotFoundError) as caught:
        run(settings(upstream), lambda client: client.fetch_project("Gone"))
    assert (caught.value.project, caught.value.status) == ("Gone", status)
    assert caught.value.url == upstream.url("/simple/gone/")
    assert upstream.hits("/simple/gone/") == 1


def test_index_page(upstream: Upstream) -> None:
    body = json.dumps({"meta": {"api-version": "1.0"}, "projects": [{"name": "A"}, {"name": "b"}]})
    upstream.routes["/simple/"] = answer(200, body.encode(), Content_Type=JSON_V1)
    assert run(settings(upstream), lambda client: client.fetch_index()) == ("A", "b")


def test_503_twice_then_success(upstream: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    page = answer(200, json_page("demo"), Content_Type=JSON_V1)
    upstream.routes["/simple/demo/"] = in_turn(answer(503), answer(503), page)
    with caplog.at_level(logging.INFO, logger="cellar.upstream"):
        run(settings(upstream), lambda client: client.fetch_project("demo"))
    assert upstream.hits("/simple/demo/") == 3
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert upstream.url("/simple/demo/") in messages[0]
    assert "attempt 1 of 3" in messages[0]
    assert "503" in messages[0]


def test_429_with_retry_after_is_retried(upstream: Upstream) -> None:
    page = answer(200, json_page("demo"), Content_Type=JSON_V1)
    upstream.routes["/simple/demo/"] = in_turn(answer(429, Retry_After="0"), page)
    slow_policy = RetryPolicy(retries=1, backoff=20.0, max_backoff=30.0)
    started = time.monotonic()
    run(settings(upstream, retry=slow_policy), lambda client: client.fetch_project("demo"))
    assert time.monotonic() - started < 5  # Retry-After: 0 beat the 20 s backoff
    assert upstream.hits("/simple/demo/") == 2


def test_retries_run_out(upstream: Upstream) -> None:
    upstream.routes["/simple/demo/"] = answer(503)
    with pytest.raises(UpstreamHTTPError) as caught:
        run(settings(upstream), lambda client: client.fetch_project("demo"))
    assert (caught.value.status, caught.value.attempts) == (503, 3)
    assert "after 3 attempts" in str(caught.value)
    assert upstream.hits("/simple/demo/") == 3


def test_final_status_is_not_retried(upstream: Upstream) -> None:
    upstream.routes["/simple/demo/"] = answer(403)
    with pytest.raises(UpstreamHTTPError) as caught:
        run(settings(upstream), lambda client: client.fetch_project("demo"))
    assert (caught.value.status, caught.value.attempts) == (403, 1)
    assert upstream.hits("/simple/demo/") == 1


def test_slow_server_times_out(upstream: Upstream) -> None:
    def silent(handler: BaseHTTPRequestHandler) -> None:
        upstream.stopping.wait(5)

    upstream.routes["/simple/demo/"] = silent
    with pytest.raises(UpstreamConnectionError) as caught:
        run(settings(upstream, timeout=0.2), lambda client: client.fetch_project("demo"))
    assert caught.value.attempts == 3
    assert "0.2 seconds" in caught.value.cause
    assert upstream.hits("/simple/demo/") == 3


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = ClientSettings(f"http://127.0.0.1:{port}/simple/", retry=FAST_RETRY)
    with pytest.raises(UpstreamConnectionError) as caught:
        run(closed, lambda client: client.fetch_index())
    assert caught.value.attempts == 3
    assert caught.value.url == f"http://127.0.0.1:{port}/simple/"


def test_download_digests_and_progress(upstream: Upstream, tmp_path: Path) -> None:
    data = os.urandom(600 * 1024 + 17)
    upstream.routes["/files/demo.whl"] = answer(200, data)
    progress: list[int] = []
    dest = tmp_path / "demo.whl.part"
    result = run(
        settings(upstream),
        lambda client: client.download(
            upstream.url("/files/demo.whl"),
            FileSink(dest),
            algorithms=("sha256", "sha512"),
            on_progress=progress.append,
        ),
    )
    assert dest.read_bytes() == data
    assert result.size == len(data) == sum(progress)
    assert len(progress) > 1
    assert result.digests == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }
    assert result.url == upstream.url("/files/demo.whl")


def test_download_cut_mid_body_is_retried_whole(upstream: Upstream, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024)

    def cut(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])  # then HTTP/1.0 closes the connection

    upstream.routes["/files/demo.tar.gz"] = in_turn(cut, answer(200, data))
    progress: list[int] = []
    dest = tmp_path / "demo.tar.gz.part"
    dest.write_bytes(b"stale bytes from an earlier run")
    result = run(
        settings(upstream),
        lambda client: client.download(
            upstream.url("/files/demo.tar.gz"), FileSink(dest), on_progress=progress.append
        ),
    )
    assert dest.read_bytes() == data
    assert result.digests == {"sha256": hashlib.sha256(data).hexdigest()}
    assert sum(progress) == len(data)
    assert any(delta < 0 for delta in progress)  # the first attempt's bytes were rolled back
    assert upstream.hits("/files/demo.tar.gz") == 2


def test_download_stalled_mid_body_is_retried(upstream: Upstream, tmp_path: Path) -> None:
    data = b"x" * 1000

    def stall(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[:10])
        handler.wfile.flush()
        upstream.stopping.wait(5)

    upstream.routes["/files/x"] = in_turn(stall, answer(200, data))
    dest = tmp_path / "x"
    result = run(
        settings(upstream, timeout=0.3),
        lambda client: client.download(upstream.url("/files/x"), FileSink(dest)),
    )
    assert (result.size, dest.read_bytes()) == (1000, data)
    assert upstream.hits("/files/x") == 2


def test_a_small_body_is_spooled_in_memory_and_no_file_is_made(
    upstream: Upstream, tmp_path: Path
) -> None:
    data = os.urandom(5000)
    upstream.routes["/files/small.whl"] = answer(200, data)
    storage = LocalStorage(tmp_path)
    staged = storage.stage("not-yet/small.whl", spool=8192)  # its directory is not made either
    result = run(
        settings(upstream),
        lambda client: client.download(upstream.url("/files/small.whl"), staged),
    )
    assert result.digests == {"sha256": hashlib.sha256(data).hexdigest()}
    assert not (tmp_path / "not-yet").exists()
    info = staged.commit()
    assert (tmp_path / "not-yet" / "small.whl").read_bytes() == data
    assert (info.key, info.size) == ("not-yet/small.whl", len(data))
    assert sorted(p.name for p in (tmp_path / "not-yet").iterdir()) == ["small.whl"]


def test_a_body_longer_than_the_spool_goes_to_the_file(upstream: Upstream, tmp_path: Path) -> None:
    data = os.urandom(300 * 1024)
    upstream.routes["/files/large.whl"] = answer(200, data)
    staged = LocalStorage(tmp_path).stage("made-on-spill/large.whl", spool=1000)
    run(
        settings(upstream),
        lambda client: client.download(upstream.url("/files/large.whl"), staged),
    )
    assert staged.temp.read_bytes() == data  # the spooled start, then the rest
    assert not (tmp_path / "made-on-spill" / "large.whl").exists()  # not until committed
    staged.commit()
    assert (tmp_path / "made-on-spill" / "large.whl").read_bytes() == data
    assert not staged.temp.exists()


def test_a_spilled_attempt_leaves_nothing_when_a_retry_fits_in_memory(
    upstream: Upstream, tmp_path: Path
) -> None:
    small = b"y" * 100

    def oversized(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "5000")
        handler.end_headers()
        handler.wfile.write(b"z" * 2000)  # then closes: cut, retried

    upstream.routes["/files/x"] = in_turn(oversized, answer(200, small))
    staged = LocalStorage(tmp_path).stage("x", spool=1000)
    run(
        settings(upstream),
        lambda client: client.download(upstream.url("/files/x"), staged),
    )
    assert not staged.temp.exists()
    staged.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    assert (tmp_path / "x").read_bytes() == small


def test_a_resumable_stage_continues_with_range_after_a_cut(
    upstream: Upstream, tmp_path: Path
) -> None:
    """A staged download named by its sha256 keeps what a cut transfer brought; the next
    attempt asks for the rest with Range, and the whole is committed."""
    data = os.urandom(200 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    ranges: list[str | None] = []

    def cut(handler: BaseHTTPRequestHandler) -> None:
        ranges.append(handler.headers.get("Range"))
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[:50_000])

    def rest(handler: BaseHTTPRequestHandler) -> None:
        ranges.append(handler.headers.get("Range"))
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes 50000-{len(data) - 1}/{len(data)}")
        handler.send_header("Content-Length", str(len(data) - 50_000))
        handler.end_headers()
        handler.wfile.write(data[50_000:])

    upstream.routes["/files/r.whl"] = in_turn(cut, rest)
    staged = LocalStorage(tmp_path).stage("p/r.whl", resume=digest)
    result = run(
        settings(upstream), lambda client: client.download(upstream.url("/files/r.whl"), staged)
    )
    assert ranges == [None, "bytes=50000-"]
    assert result.digests["sha256"] == digest
    staged.commit()
    assert (tmp_path / "p" / "r.whl").read_bytes() == data


def test_write_error_is_not_retried(upstream: Upstream, tmp_path: Path) -> None:
    upstream.routes["/files/x"] = answer(200, b"data")
    dest = tmp_path / "missing-directory" / "x"
    with pytest.raises(FileNotFoundError):
        run(
            settings(upstream),
            lambda client: client.download(upstream.url("/files/x"), FileSink(dest)),
        )
    assert upstream.hits("/files/x") == 1


def test_download_404_is_final(upstream: Upstream, tmp_path: Path) -> None:
    with pytest.raises(UpstreamHTTPError) as caught:
        run(
            settings(upstream),
            lambda client: client.download(upstream.url("/files/nope"), FileSink(tmp_path / "x")),
        )
    assert (caught.value.status, caught.value.attempts) == (404, 1)
    assert not (tmp_path / "x").exists()


def test_concurrency_is_bounded(upstream: Upstream, tmp_path: Path) -> None:
    upstream.routes["/files/f"] = upstream.counted(answer(200, b"f" * 100), hold=0.05)
    upstream.routes["/simple/demo/"] = upstream.counted(
        answer(200, json_page("demo"), Content_Type=JSON_V1), hold=0.05
    )

    async def job(client: UpstreamClient) -> None:
        downloads = [
            client.download(upstream.url("/files/f"), FileSink(tmp_path / f"f{n}"))
            for n in range(8)
        ]
        pages = [client.fetch_project("demo") for _ in range(4)]
        await asyncio.gather(*downloads, *pages)

    run(settings(upstream, concurrency=3), job)
    assert len(upstream.seen) == 12
    assert upstream.max_in_flight == 3


def test_user_agent(upstream: Upstream) -> None:
    upstream.routes["/simple/"] = answer(200, b"", Content_Type=HTML_LEGACY)
    assert run(settings(upstream), lambda client: client.fetch_index()) == ()
    run(settings(upstream, user_agent="probe/1"), lambda client: client.fetch_index())
    default_agent, custom_agent = (headers["User-Agent"] for _, headers in upstream.seen)
    assert default_agent.startswith("cellar/")
    assert " aiohttp/" in default_agent
    assert custom_agent == "probe/1"


def test_settings_and_project_urls() -> None:
    client = UpstreamClient(ClientSettings("http://127.0.0.1:1/simple"))
    assert client.settings.index_url == "http://127.0.0.1:1/simple/"
    assert client.project_url("Zope.Interface") == "http://127.0.0.1:1/simple/zope-interface/"
    with pytest.raises(ValueError, match="name"):
        client.project_url("../etc")
    with pytest.raises(ValueError, match="concurrency"):
        ClientSettings("http://127.0.0.1:1/", concurrency=0)


def test_fetch_bytes_sends_range_and_reads_content_range(upstream: Upstream) -> None:
    def ranged(handler: BaseHTTPRequestHandler) -> None:
        assert handler.headers["Range"] == "bytes=-4"
        assert handler.headers["Accept-Encoding"] == "identity"
        send(handler, 206, b"tail", {"Content-Range": "bytes 96-99/100"})

    upstream.routes["/files/x.whl"] = ranged
    fetched = run(
        settings(upstream),
        lambda client: client.fetch_bytes(upstream.url("/files/x.whl"), range_header="bytes=-4"),
    )
    assert (fetched.status, fetched.body, fetched.content_range()) == (206, b"tail", (96, 99, 100))
    assert fetched.headers["content-range"] == "bytes 96-99/100"
    assert fetched.url == upstream.url("/files/x.whl")


def test_fetch_bytes_is_retried_like_pages(upstream: Upstream) -> None:
    upstream.routes["/files/x.metadata"] = in_turn(answer(503), answer(200, b"Name: x\n"))
    fetched = run(
        settings(upstream), lambda client: client.fetch_bytes(upstream.url("/files/x.metadata"))
    )
    assert (fetched.status, fetched.body, fetched.content_range()) == (200, b"Name: x\n", None)
    assert upstream.hits("/files/x.metadata") == 2


def test_fetch_bytes_stops_past_its_limit_without_retrying(upstream: Upstream) -> None:
    def chunked(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: the limit is found while reading
        handler.wfile.write(b"x" * 5000)

    upstream.routes["/files/big"] = answer(200, b"x" * 5000)
    upstream.routes["/files/chunked"] = chunked
    for path in ("/files/big", "/files/chunked"):
        url = upstream.url(path)

        async def job(client: UpstreamClient, url: str = url) -> Fetched:
            return await client.fetch_bytes(url, max_bytes=1000)

        with pytest.raises(ResponseTooLargeError) as caught:
            run(settings(upstream), job)
        assert caught.value.limit == 1000
        assert caught.value.url == url
        assert upstream.hits(path) == 1
