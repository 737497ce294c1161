"""``cellar serve`` as a service: worker processes, graceful shutdown, the access log, and serving
while ``cellar mirror`` updates the tree. Every test runs real processes on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from cellar.serve.access_log import REOPEN_CHECK_SECONDS
from cellar.serve.supervisor import RestartBudget
from cellar.sync.compat import parse_last_modified
from tests.support.mirror import assert_consistent, run_cli
from tests.support.packages import build_sdist, build_wheel
from tests.support.service import (
    eventually,
    fetch,
    parse_metrics,
    sample,
    serve_config,
    serve_process,
    start_failure,
)
from tests.support.upstream import LocalIndex

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
#: A Combined Log Format line as the server writes it (the size is "-" when there is none).
CLF = re.compile(
    r"127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>[^"]*)" '
    r'"(?P<agent>[^"]*)"'
)


def make_web_root(tmp_path: Path) -> Path:
    web = tmp_path / "mirror" / "web"
    (web / "simple").mkdir(parents=True)
    (web / "packages").mkdir()
    return web


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def refused(port: int) -> None:
    """Assert that nothing accepts connections on ``port`` any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    except (ConnectionRefusedError, ConnectionResetError):
        # Reset: the attempt raced the listening socket's close, and lost.
        return
    raise AssertionError(f"port {port} still accepts connections")


def test_workers_share_one_port_and_stop_together(tmp_path: Path) -> None:
    make_web_root(tmp_path)
    config = serve_config(tmp_path, serve="workers = 3")
    with serve_process(config) as served:
        workers = served.workers()
        assert sorted(workers) == [0, 1, 2]
        assert len(set(workers.values())) == 3
        for pid in workers.values():
            assert parent_of(pid) == served.process.pid
        for _ in range(20):
            assert fetch(served.port, "/health").status == 200
        assert served.stop(signal.SIGTERM) == 0
    assert all(gone(pid) for pid in workers.values())
    assert "Traceback" not in served.log


def test_one_worker_is_one_process(tmp_path: Path) -> None:
    make_web_root(tmp_path)
    config = serve_config(tmp_path, serve="workers = 1")
    with serve_process(config) as served:
        assert fetch(served.port, "/health").status == 200
        pid = served.process.pid
        assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []
        assert served.workers() == {}
        assert served.stop() == 0


@pytest.mark.parametrize(
    ("workers", "signum"),
    [(1, signal.SIGTERM), (1, signal.SIGINT), (3, signal.SIGTERM), (3, signal.SIGINT)],
)
def test_a_download_in_flight_finishes_after_the_signal(
    tmp_path: Path,
    workers: int,
    signum: int,
) -> None:
    web = make_web_root(tmp_path)
    data = os.urandom(48 * 1024 * 1024)  # far more than the socket buffers hold
    (web / "packages" / "big-1.0.tar.gz").write_bytes(data)
    config = serve_config(tmp_path, serve=f"workers = {workers}")
    with serve_process(config) as served:
        client = socket.socket()
        # A small receive window keeps most of the file on the server's side until we read.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.connect(("127.0.0.1", served.port))
        client.sendall(
            b"GET /packages/big-1.0.tar.gz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        received = b""
        while b"\r\n\r\n" not in received:
            received += client.recv(65536)
        served.process.send_signal(signum)
        eventually(lambda: refused(served.port))  # it stopped accepting first...
        while chunk := client.recv(1 << 20):  # ...and then sent the rest
            received += chunk
        client.close()
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert len(body) == len(data)
        assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
        assert served.process.wait(timeout=60) == 0
    assert "Traceback" not in served.log


def test_a_worker_that_dies_is_restarted(tmp_path: Path) -> None:
    make_web_root(tmp_path)
    config = serve_config(tmp_path, serve="workers = 2")
    with serve_process(config) as served:
        first = served.workers()
        os.kill(first[0], signal.SIGKILL)
        served.wait_for(
            rf"WARNING worker 0 \(pid {first[0]}\) was killed by SIGKILL; starting another"
        )
        served.wait_for(r"worker 0 is serving", count=2)
        second = served.workers()
        assert second[0] != first[0]
        assert second[1] == first[1]
        assert parent_of(second[0]) == served.process.pid
        for _ in range(10):
            assert fetch(served.port, "/health").status == 200
        assert served.stop() == 0


def test_a_replacement_that_cannot_start_ends_the_server(tmp_path: Path) -> None:
    web = make_web_root(tmp_path)
    config = serve_config(tmp_path, serve="workers = 2")
    with serve_process(config) as served:
        workers = served.workers()
        (web / "simple").rename(web / "moved")
        os.kill(workers[1], signal.SIGKILL)
        assert served.process.wait(timeout=60) == 2
    assert "worker 1 could not start" in served.log
    assert f"{web} is not a mirror's web root" in served.log
    assert gone(workers[0])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_in_use_is_one_clear_error(tmp_path: Path, workers: int) -> None:
    make_web_root(tmp_path)
    config = serve_config(tmp_path, serve=f"workers = {workers}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = start_failure(config, "--port", str(port))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert "is serving" not in result.stderr


def test_the_restart_budget_counts_a_sliding_window() -> None:
    budget = RestartBudget(limit=3, window=60.0)
    assert [budget.allow(t) for t in (0.0, 1.0, 2.0)] == [True, True, True]
    assert not budget.allow(30.0)  # a fourth within a minute
    assert budget.allow(60.0)  # the restart at 0.0 is a minute old
    assert not budget.allow(60.5)
    assert budget.allow(200.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_access_log_goes_to_its_file_and_follows_logrotate(
    tmp_path: Path,
    workers: int,
) -> None:
    web = make_web_root(tmp_path)
    (web / "packages" / "a-1.0.tar.gz").write_bytes(b"12345")
    (tmp_path / "logs").mkdir()
    log_file = tmp_path / "logs" / "access.log"
    config = serve_config(tmp_path, serve=f'workers = {workers}\naccess-log = "logs/access.log"')

    def lines(path: Path, count: int) -> list[re.Match[str]]:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        found = [CLF.fullmatch(line) for line in text.splitlines()]
        assert len(found) == count, text
        assert all(found), text
        return [m for m in found if m]

    with serve_process(config) as served:
        for number in range(6):
            fetch(served.port, "/packages/a-1.0.tar.gz", User_Agent=f"pip/{number}")
        fetch(served.port, "/nothing", Referer="http://example.test/")
        before = eventually(lambda: lines(log_file, 7))
        # logrotate's default: move the file away; the server looks at the path once a second,
        # so its next line after that makes a new file (lines before it go to the moved one).
        log_file.rename(tmp_path / "logs" / "access.log.1")
        time.sleep(REOPEN_CHECK_SECONDS + 0.2)
        for _ in range(4):
            fetch(served.port, "/health", User_Agent="probe")
        after = eventually(lambda: lines(log_file, 4))
        assert served.stop() == 0
    # Workers write their own lines: the order across workers is not the order of requests.
    downloads = [m for m in before if m["request"] != "GET /nothing HTTP/1.1"]
    [missing] = [m for m in before if m["request"] == "GET /nothing HTTP/1.1"]
    assert sorted(m["agent"] for m in downloads) == [f"pip/{n}" for n in range(6)]
    assert {(m["request"], m["status"], m["size"]) for m in downloads} == {
        ("GET /packages/a-1.0.tar.gz HTTP/1.1", "200", "5")
    }
    assert (missing["status"], missing["referer"]) == ("404", "http://example.test/")
    assert {(m["request"], m["status"], m["size"], m["agent"]) for m in after} == {
        ("GET /health HTTP/1.1", "200", "3", "probe")
    }
    assert len(lines(tmp_path / "logs" / "access.log.1", 7)) == 7
    # With a file named, access lines stay out of the server's own log.
    assert "GET /health" not in served.log


def test_what_a_client_sends_cannot_forge_an_access_log_line(tmp_path: Path) -> None:
    make_web_root(tmp_path)
    config = serve_config(tmp_path, serve='access-log = "access.log"')
    forged = 'pip" 200 1 "-" "x'
    with serve_process(config) as served:
        fetch(served.port, "/health", User_Agent=forged, Referer="a\\b")

        def logged() -> str:
            text = (tmp_path / "access.log").read_text(encoding="utf-8")
            assert text.endswith("\n")
            return text

        [line] = eventually(logged).splitlines()
        assert served.stop() == 0
    assert line.endswith('"a\\\\b" "pip\\" 200 1 \\"-\\" \\"x"'), line
    assert line.count('"') - line.count('\\"') == 6  # three quoted fields, no more


@pytest.mark.parametrize("workers", [1, 2])
def test_an_access_log_that_cannot_be_written_stops_the_start(tmp_path: Path, workers: int) -> None:
    make_web_root(tmp_path)
    config = serve_config(tmp_path, serve=f'workers = {workers}\naccess-log = "no/such/dir.log"')
    result = start_failure(config, "--port", "0")
    assert result.returncode == 2
    assert f"[serve] access-log {tmp_path / 'no/such/dir.log'}: cannot append to it" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


# -- serving while `cellar mirror` updates the tree ---------------------------------------------


@dataclass
class Checker:
    """Fetches every page, and every file each page lists, over and over, checking each file."""

    port: int
    rounds: int = 0
    files_checked: int = 0
    listings: set[tuple[str, ...]] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.check_once()
            except Exception as error:  # noqa: BLE001 - reported by the test, not lost in a thread
                self.problems.append(f"{type(error).__name__}: {error}")
            with self.changed:
                self.rounds += 1
                self.changed.notify_all()

    def wait_rounds(self, count: int) -> None:
        with self.changed:
            target = self.rounds + count
            assert self.changed.wait_for(lambda: self.rounds >= target, timeout=120)

    def check_once(self) -> None:
        root = fetch(self.port, "/simple/", Accept=JSON_TYPE)
        assert root.status == 200, root.status
        listed: list[str] = []
        for project in json.loads(root.body)["projects"]:
            page_path = f"/simple/{project['name']}/"
            page = fetch(self.port, page_path, Accept=JSON_TYPE)
            assert page.status == 200, (page_path, page.status)
            for entry in json.loads(page.body)["files"]:
                path = urlsplit(urljoin(page_path, entry["url"])).path
                self.check_file(unquote(path), entry["size"], entry["hashes"]["sha256"])
                if entry.get("core-metadata"):
                    self.check_file(
                        f"{unquote(path)}.metadata", None, entry["core-metadata"]["sha256"]
                    )
                listed.append(entry["filename"])
            html = fetch(self.port, page_path, Accept="text/html")
            assert html.status == 200
            for href in re.findall(rb'href="([^"#]+)', html.body):
                path = urlsplit(urljoin(page_path, href.decode())).path
                assert fetch(self.port, path, "HEAD").status == 200, path
            document = fetch(self.port, f"/pypi/{project['name']}/json")
            assert document.status == 200
            for files in json.loads(document.body)["releases"].values():
                for entry in files:
                    path = unquote(urlsplit(entry["url"]).path)
                    self.check_file(path, entry["size"], entry["digests"]["sha256"])
        self.listings.add(tuple(sorted(listed)))

    def check_file(self, path: str, size: int | None, sha256: str) -> None:
        reply = fetch(self.port, path)
        assert reply.status == 200, (path, reply.status)
        assert size is None or len(reply.body) == size, path
        assert hashlib.sha256(reply.body).hexdigest() == sha256, path
        self.files_checked += 1


def test_the_server_never_lists_a_file_not_in_place_while_mirror_runs(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    payload = os.urandom(200 * 1024)  # stored, not compressed: each file takes a moment

    def release(name: str, version: str) -> None:
        extra = {f"{name}/data.bin": payload + version.encode()}
        local_index.add(build_wheel(name, version, extra_files=extra))

    release("alpha", "1.0")
    release("beta", "1.0")
    local_index.add(build_sdist("beta", "1.0"))
    # Slow downloads: each run spends a while between placing files and publishing pages.
    local_index.fault("*.whl", delay=0.3)
    config = serve_config(tmp_path, local_index.url, ["alpha", "beta"], serve="workers = 2")
    web = tmp_path / "mirror" / "web"
    first = run_cli("mirror", "-c", str(config))
    assert first.returncode == 0, first.stderr

    with serve_process(config) as served:
        checker = Checker(served.port)
        thread = threading.Thread(target=checker.run)
        thread.start()
        try:
            checker.wait_rounds(1)
            for number, version in enumerate(("1.1", "2.0", "3.0"), start=1):
                release("alpha", version)
                release("beta", version)
                if number == 2:
                    local_index.set_yanked("alpha", "alpha-1.1-py3-none-any.whl", "broken")
                result = run_cli("mirror", "-c", str(config), timeout=300)
                assert result.returncode == 0, result.stderr
            checker.wait_rounds(2)  # a whole round over the final tree
        finally:
            checker.done.set()
            thread.join(timeout=120)
        samples = parse_metrics(fetch(served.port, "/metrics").body.decode())
        updated = parse_last_modified((web / "last-modified").read_bytes())
        assert updated is not None
        last = sample(samples, "cellar_mirror_last_success_timestamp_seconds")
        assert last == updated.timestamp()
        assert sample(samples, "cellar_mirror_age_seconds") >= 0
        assert served.stop() == 0

    assert checker.problems == []
    assert checker.files_checked > 0
    final = tuple(
        sorted(
            [f"alpha-{v}-py3-none-any.whl" for v in ("1.0", "1.1", "2.0", "3.0")]
            + [f"beta-{v}-py3-none-any.whl" for v in ("1.0", "1.1", "2.0", "3.0")]
            + ["beta-1.0.tar.gz"]
        )
    )
    assert final in checker.listings
    assert len(checker.listings) >= 2  # it saw the tree before and after the runs
    assert assert_consistent(web) == len(final)
