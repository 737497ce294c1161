"""``/metrics``: what is counted, how it is summed over worker processes, and the mirror's age."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cellar.config.serve import ServeSettings
from cellar.serve.app import ACCESS_LOGGER, start
from cellar.serve.exposition import last_success, render_exposition
from cellar.serve.metrics import (
    DURATION_BUCKETS,
    ROUTE_KINDS,
    MetricsFile,
    ServerMetrics,
    route_kind,
    status_class,
)
from cellar.sync.compat import render_last_modified
from cellar.tree.local import LocalStorage
from tests.support.service import (
    Reply,
    eventually,
    fetch,
    parse_metrics,
    sample,
    serve_config,
    serve_process,
)

#: Parsed metrics, by (name, labels).
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
FILE = "/packages/ab/foo-1.0.tar.gz"
FILE_BYTES = bytes(range(250)) * 4
METADATA = "/packages/ab/foo-1.0-py3-none-any.whl.metadata"
METADATA_BYTES = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"
REQUESTS = "cellar_http_requests_total"
DURATION = "cellar_http_request_duration_seconds"


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    web = tmp_path / "mirror" / "web"
    for directory in (web / "simple", web / "simple" / "foo"):
        directory.mkdir(parents=True)
        for name in ("index.v1_json", "index.v1_html", "index.html"):
            (directory / name).write_text(f"{directory.name} {name}\n")
    (web / "packages" / "ab").mkdir(parents=True)
    (web / FILE.lstrip("/")).write_bytes(FILE_BYTES)
    (web / METADATA.lstrip("/")).write_bytes(METADATA_BYTES)
    return web


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/simple", "page"),
        ("/simple/", "page"),
        ("/simple/foo/", "page"),
        ("/packages/ab/foo-1.0.tar.gz", "file"),
        ("/packages/ab/foo-1.0-py3-none-any.whl.metadata", "metadata"),
        ("/pypi/foo/json", "json"),
        ("/pypi/foo/1.0/json", "json"),
        ("/health", "health"),
        ("/metrics", "metrics"),
        ("/", "other"),
        ("/project/foo/", "other"),
        ("/simplex", "other"),
        ("/healthz", "other"),
    ],
)
def test_route_kind(path: str, kind: str) -> None:
    assert route_kind(path) == kind


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (101, "1xx"),
        (200, "2xx"),
        (206, "2xx"),
        (304, "3xx"),
        (404, "4xx"),
        (503, "5xx"),
        (99, "5xx"),
    ],
)
def test_status_class(status: int, label: str) -> None:
    assert status_class(status) == label


def test_the_exposition_is_well_formed() -> None:
    metrics = ServerMetrics.private()
    metrics.record("GET", "/simple/foo/", 200, 1000, 0.003)
    metrics.record("GET", "/simple/foo/", 200, 500, 0.2)
    metrics.record("HEAD", "/packages/a.whl", 200, 0, 120.0)
    metrics.record("PROPFIND", "/x", 405, 20, 0.001)
    text = render_exposition(metrics.snapshot(), last_success=1000.0, now=1500.5)
    samples = parse_metrics(text)
    assert sample(samples, REQUESTS, method="GET", route="page", status="2xx") == 2
    assert sample(samples, REQUESTS, method="HEAD", route="file", status="2xx") == 1
    assert sample(samples, REQUESTS, method="other", route="other", status="4xx") == 1
    assert sum(v for (name, _), v in samples.items() if name == REQUESTS) == 4
    assert sample(samples, "cellar_http_response_bytes_total", route="page") == 1500
    page_buckets = [
        sample(samples, f"{DURATION}_bucket", route="page", le=le)
        for le in [*map(str, DURATION_BUCKETS), "+Inf"]
    ]
    assert page_buckets[0] == 1  # 0.003 <= 0.005
    assert page_buckets[DURATION_BUCKETS.index(0.25)] == 2
    assert page_buckets == sorted(page_buckets)
    assert sample(samples, f"{DURATION}_count", route="page") == 2
    assert sample(samples, f"{DURATION}_sum", route="page") == pytest.approx(0.203)
    # past the last bound, only +Inf holds it
    assert sample(samples, f"{DURATION}_bucket", route="file", le="60.0") == 0
    assert sample(samples, f"{DURATION}_bucket", route="file", le="+Inf") == 1
    assert sample(samples, "cellar_workers") == 1
    assert sample(samples, "cellar_worker_requests_total", worker="0") == 4
    assert sample(samples, "cellar_mirror_last_success_timestamp_seconds") == 1000
    assert sample(samples, "cellar_mirror_age_seconds") == 500.5
    assert text.endswith("\n")
    for kind in ROUTE_KINDS:  # every kind's histogram is there, used or not
        assert (f"{DURATION}_count", frozenset({("route", kind)})) in samples


def test_without_a_successful_run_there_is_no_mirror_age() -> None:
    text = render_exposition(ServerMetrics.private().snapshot(), last_success=None, now=10.0)
    assert "cellar_mirror" not in text
    assert "cellar_workers 1\n" in text


def test_the_mirror_age_comes_from_web_last_modified(tmp_path: Path) -> None:
    tree = LocalStorage(tmp_path)
    assert last_success(tree) is None  # never synced
    moment = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
    (tmp_path / "last-modified").write_bytes(render_last_modified(moment))
    assert last_success(tree) == moment.timestamp()
    (tmp_path / "last-modified").write_bytes(b"yesterday\n")
    assert last_success(tree) is None


def test_slots_of_a_shared_file_are_summed_and_survive_a_reopening(tmp_path: Path) -> None:
    shared = MetricsFile(tmp_path / "metrics", slots=3)
    shared.create()
    # Two mappings of one file, as two worker processes have.
    with shared.open() as first, shared.open() as third:
        ServerMetrics(first, 0).record("GET", "/health", 200, 3, 0.001)
        for _ in range(2):
            ServerMetrics(third, 2).record("GET", "/simple/", 200, 10, 0.001)
        seen_by_first = ServerMetrics(first, 0).snapshot()
    assert seen_by_first.worker_requests == (1, 0, 2)
    assert seen_by_first.requests() == {("GET", "health", "2xx"): 1, ("GET", "page", "2xx"): 2}
    with shared.open() as again:  # a restarted worker finds its predecessor's counts
        ServerMetrics(again, 0).record("GET", "/health", 200, 3, 0.001)
        assert ServerMetrics(again, 1).snapshot().worker_requests == (2, 0, 2)
    with pytest.raises(FileExistsError):
        shared.create()


def test_every_request_is_counted_by_route_status_and_bytes(web_root: Path) -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    (web_root / "last-modified").write_bytes(render_last_modified(moment))
    config = serve_config(web_root.parent.parent, serve="workers = 1")
    with serve_process(config) as served:
        port = served.port
        replies: list[tuple[str, str, Reply]] = []

        def ask(kind: str, method: str, path: str, **headers: str) -> Reply:
            reply = fetch(port, path, method, **headers)
            replies.append((kind, method, reply))
            return reply

        ask("page", "GET", "/simple/", Accept=JSON_TYPE)
        ask("page", "GET", "/simple/foo/")
        assert ask("page", "GET", "/simple/Foo").status == 301
        assert ask("page", "GET", "/simple/nope/").status == 404
        etag = ask("file", "GET", FILE).headers["ETag"]
        assert ask("file", "GET", FILE, If_None_Match=etag).status == 304
        ask("file", "HEAD", FILE)
        assert ask("file", "GET", FILE, Range="bytes=0-99").status == 206
        ask("metadata", "GET", METADATA)
        assert ask("json", "GET", "/pypi/nope/json").status == 404
        ask("health", "GET", "/health")
        ask("health", "GET", "/health")
        assert ask("health", "POST", "/health").status == 405
        assert ask("other", "GET", "/nothing").status == 404

        def scraped() -> Samples:
            samples = parse_metrics(fetch(port, "/metrics").body.decode())
            counted = [
                value
                for (name, labels), value in samples.items()
                if name == REQUESTS and ("route", "metrics") not in labels
            ]
            assert sum(counted) == len(replies)
            return samples

        before = time.time()
        samples = eventually(scraped)
        after = time.time()
        expected: dict[tuple[str, str, str], int] = {}
        sizes = dict.fromkeys(ROUTE_KINDS, 0)
        for kind, method, reply in replies:
            key = (
                method if method in ("GET", "HEAD") else "other",
                kind,
                f"{reply.status // 100}xx",
            )
            expected[key] = expected.get(key, 0) + 1
            if method != "HEAD" and reply.status != 304:
                sizes[kind] += int(reply.headers["Content-Length"])
        for (method, kind, status), count in expected.items():
            assert sample(samples, REQUESTS, method=method, route=kind, status=status) == count
        assert sizes["file"] == len(FILE_BYTES) + 100
        assert sizes["metadata"] == len(METADATA_BYTES)
        scrapes = sample(samples, REQUESTS, method="GET", route="metrics", status="2xx")
        for kind in ROUTE_KINDS:
            if kind != "metrics":  # the scrapes' own sizes vary
                sent = sample(samples, "cellar_http_response_bytes_total", route=kind)
                assert sent == sizes[kind]
            observed = sum(1 for k, _, _ in replies if k == kind) if kind != "metrics" else scrapes
            assert sample(samples, f"{DURATION}_count", route=kind) == observed
            assert sample(samples, f"{DURATION}_bucket", route=kind, le="+Inf") == observed
        total = sum(v for (name, _), v in samples.items() if name == REQUESTS)
        assert sample(samples, "cellar_worker_requests_total", worker="0") == total
        assert sample(samples, "cellar_workers") == 1
        stamp = moment.timestamp()
        assert sample(samples, "cellar_mirror_last_success_timestamp_seconds") == stamp
        assert before - stamp <= sample(samples, "cellar_mirror_age_seconds") <= after - stamp
        scrape = fetch(port, "/metrics")
        assert scrape.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert served.stop() == 0


def test_a_scrape_on_any_worker_reports_every_worker(web_root: Path) -> None:
    config = serve_config(web_root.parent.parent, serve="workers = 2")
    with serve_process(config) as served:
        port = served.port
        workers = served.workers()

        def scrape() -> Samples:
            return parse_metrics(fetch(port, "/metrics").body.decode())

        def counts(health: int, pages: int) -> Samples:
            samples = scrape()
            assert sample(samples, REQUESTS, method="GET", route="health", status="2xx") == health
            assert sample(samples, REQUESTS, method="GET", route="page", status="2xx") == pages
            return samples

        # A stopped worker accepts nothing: every connection goes to the other one.
        os.kill(workers[1], signal.SIGSTOP)
        try:
            for _ in range(5):
                assert fetch(port, "/health").status == 200
            eventually(lambda: counts(5, 0))  # worker 0 has counted them
        finally:
            os.kill(workers[1], signal.SIGCONT)
        os.kill(workers[0], signal.SIGSTOP)
        try:
            for _ in range(3):
                assert fetch(port, "/simple/").status == 200
            # Answered by worker 1, while worker 0 cannot do anything: its counts come from
            # the shared table.
            samples = eventually(lambda: counts(5, 3))
        finally:
            os.kill(workers[0], signal.SIGCONT)
        assert sample(samples, "cellar_worker_requests_total", worker="0") >= 5
        assert sample(samples, "cellar_worker_requests_total", worker="1") >= 3
        assert sample(samples, "cellar_workers") == 2

        # A restarted worker keeps counting in its predecessor's slot: nothing goes down.
        os.kill(workers[0], signal.SIGKILL)
        served.wait_for(r"worker 0 is serving", count=2)
        samples = counts(5, 3)
        assert sample(samples, "cellar_worker_requests_total", worker="0") >= 5
        assert served.stop() == 0


@contextmanager
def serving_in_thread(web_root: Path, metrics: ServerMetrics) -> Iterator[int]:
    """Run ``start`` in a thread with its own event loop; yield the port."""
    started: queue.Queue[tuple[int, asyncio.AbstractEventLoop, asyncio.Event]] = queue.Queue()

    async def main() -> None:
        server = await start(web_root, ServeSettings(port=0), metrics=metrics)
        stop = asyncio.Event()
        async with server:
            started.put((server.port, asyncio.get_running_loop(), stop))
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    port, loop, stop = started.get(timeout=30)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)


def test_requests_are_counted_when_the_access_log_is_quiet(web_root: Path) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    level = access.level
    access.setLevel(logging.WARNING)
    metrics = ServerMetrics.private()
    try:
        with serving_in_thread(web_root, metrics) as port:
            for _ in range(3):
                assert fetch(port, FILE).status == 200

            def counted() -> None:
                assert metrics.snapshot().requests() == {("GET", "file", "2xx"): 3}

            eventually(counted)
    finally:
        access.setLevel(level)
    assert metrics.snapshot().response_bytes()["file"] == 3 * len(FILE_BYTES)
