"""Hostile clients against a real ``cellar serve`` (issue 9): slow or silent connections, too
many of them, odd request lines, symlinks out of the tree, and password guessing.

Every probe is bounded in count and time and talks to 127.0.0.1 (and 127.0.0.2, also loopback,
for a second client address) only.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import statistics
import threading
import time
from pathlib import Path

import bcrypt
import pytest

from cellar.config.serve import ServeSettings
from cellar.serve.auth import BasicAuth
from cellar.serve.backoff import FailedLogins
from tests.support.server import ask, basic, bcrypt_hash, make_web_root, serving
from tests.support.service import fetch, serve_config, serve_process

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    make_web_root(tmp_path / "mirror" / "web")
    return serve_config(tmp_path, serve="header-timeout = 1\nidle-timeout = 1")


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Return whether the server closed ``sock`` within ``seconds`` (reading what it sends)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset: closed too
            return True
    return False


def get_with_retries(port: int, path: str, seconds: float) -> http.client.HTTPResponse:
    """GET ``path`` until the server answers (it may refuse while it is full) or time is up."""
    deadline = time.monotonic() + seconds
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response
        except (OSError, http.client.HTTPException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            connection.close()


# --- connections ----------------------------------------------------------------------------


def test_silent_connections_beyond_the_descriptor_limit_do_not_stop_the_server(
    config: Path,
) -> None:
    with serve_process(config, open_files=256) as served:
        silent = []
        try:
            for _ in range(300):
                silent.append(socket.create_connection(("127.0.0.1", served.port), timeout=5))
            started = time.monotonic()
            response = get_with_retries(served.port, "/simple/", seconds=10)
            assert response.status == 200
            assert time.monotonic() - started < 10
            # The header timeout (1 s) closes every silent connection the server took.
            assert all(closed_within(sock, 5) for sock in silent)
        finally:
            for sock in silent:
                sock.close()
        assert fetch(served.port, "/simple/").status == 200
        log = served.log
    assert "Traceback" not in log
    assert "Too many open files" not in log
    refusals = log.count("refusing new ones")
    assert 1 <= refusals <= 3, log


def trickle(sock: socket.socket, request_line: bytes, seconds: float = 5) -> float:
    """Send ``request_line``, then a header line every 0.3 s until the server closes ``sock``
    (or ``seconds`` pass); return how long it took."""
    started = time.monotonic()
    sock.sendall(request_line)
    while time.monotonic() - started < seconds:
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
        if closed_within(sock, 0.3):
            break
    return time.monotonic() - started


def test_a_header_line_every_so_often_does_not_hold_a_connection(config: Path) -> None:
    with serve_process(config) as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            # header-timeout (1 s) from opening the connection, whatever trickles in.
            assert trickle(sock, b"GET /simple/ HTTP/1.1\r\nHost: x\r\n") < 3
        assert fetch(served.port, "/simple/").status == 200


def test_a_slow_second_request_on_a_kept_alive_connection_is_cut_off(config: Path) -> None:
    with (
        serve_process(config) as served,
        socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock,
    ):
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(65536)
        # idle-timeout (1 s) after the first answer, whatever trickles in meanwhile.
        assert trickle(sock, b"GET /simple/ HTTP/1.1\r\n") < 3


def test_an_idle_kept_alive_connection_is_closed(config: Path) -> None:
    with serve_process(config) as served:
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        with sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in sock.recv(65536)
            started = time.monotonic()
            assert closed_within(sock, 5)
            assert 0.5 < time.monotonic() - started < 5


def test_pipelined_requests_are_answered_and_not_cut(config: Path) -> None:
    with serve_process(config) as served:
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        with sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
            received = b""
            while received.count(b"200 OK") < 3:
                chunk = sock.recv(65536)
                assert chunk
                received += chunk


# --- request lines --------------------------------------------------------------------------

REQUEST_LINES = {
    b"GET /simple/\r\n\r\n": {400},
    b"GET /simple/ HTTP/0.9\r\n\r\n": {400},
    b"GET /simple/ HTTP/2.0\r\nHost: x\r\n\r\n": {505},
    # The parser itself refuses a version it does not know, before the server sees it.
    b"GET /simple/ HTTP/3.0\r\nHost: x\r\n\r\n": {400, 505},
    b"GARBAGE\r\n\r\n": {400},
    b"GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n": {200},
    b"GET /simple/ HTTP/1.0\r\n\r\n": {200},
}


def test_request_lines_and_the_server_header(config: Path) -> None:
    with serve_process(config) as served:
        for line, status in REQUEST_LINES.items():
            with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
                sock.sendall(line)
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    head += chunk
            status_line, *headers = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
            assert int(status_line.split()[1]) in status, (line, status_line)
            server = [h for h in headers if h.lower().startswith("server:")]
            assert server == ["Server: cellar"], (line, headers)
        log = served.log
    assert "Traceback" not in log


# --- symlinks -------------------------------------------------------------------------------


def test_symlinks_out_of_the_tree_are_not_served(tmp_path: Path, config: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = b"SECRET outside the mirror\n"
    for name in ("index.html", "index.v1_html", "index.v1_json", "json"):
        (outside / name).write_bytes(secret)
    web = tmp_path / "mirror" / "web"
    (web / "simple" / "evil").symlink_to(outside, target_is_directory=True)
    (web / "pypi").mkdir()
    (web / "pypi" / "evil").symlink_to(outside, target_is_directory=True)
    page = web / "simple" / "foo-bar" / "index.v1_json"
    page.unlink()
    page.symlink_to(outside / "index.v1_json")
    with serve_process(config) as served:
        for path, accept in [
            ("/simple/evil/", "text/html"),
            ("/simple/evil/", JSON),
            ("/simple/foo-bar/", JSON),
            ("/pypi/evil/json", "*/*"),
            ("/project/evil/", "text/html"),
            ("/packages/../simple/evil/index.html", "*/*"),
        ]:
            reply = fetch(served.port, path, Accept=accept)
            assert secret not in reply.body, path
            assert reply.status in (404, 406, 400), (path, reply.status)


# --- passwords ------------------------------------------------------------------------------


def _timed(auth: BasicAuth, header: str, times: int) -> list[float]:
    async def measure() -> list[float]:
        spent = []
        for _ in range(times):
            started = time.perf_counter()
            assert await auth.allows(header) is False
            spent.append(time.perf_counter() - started)
        return spent

    try:
        return asyncio.run(measure())
    finally:
        auth.close()


def test_an_unknown_user_costs_the_same_check_as_a_wrong_password(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    # A real file's cost (about 50 ms a check), so scheduling noise cannot hide a difference.
    hashed = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(rounds=10)).decode()
    htpasswd.write_text(f"alice:{hashed}\n")
    unknown, known = BasicAuth.load(htpasswd), BasicAuth.load(htpasswd)
    unknown_times = _timed(unknown, basic("mallory", "guess"), 5)
    known_times = _timed(known, basic("alice", "guess"), 5)
    # Each ran a bcrypt check per attempt: the answer's time says nothing of the name.
    assert unknown.checks == known.checks == 5
    ratio = statistics.median(unknown_times) / statistics.median(known_times)
    assert 0.5 < ratio < 2.0, (unknown_times, known_times)


def _login(port: int, authorization: str, source: str = "127.0.0.1") -> int:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=30, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/simple/", headers={"Authorization": authorization})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_wrong_passwords_from_one_address_do_not_lock_out_another(tmp_path: Path) -> None:
    web_root = make_web_root(tmp_path / "mirror" / "web")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt_hash('wonderland')}\n")
    settings = ServeSettings(host="127.0.0.1", port=0, htpasswd=htpasswd)
    wrong, right = basic("alice", "guess"), basic("alice", "wonderland")
    with serving(web_root, settings) as served:
        statuses = [
            ask(served, "/simple/", headers={"Authorization": wrong}).status for _ in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        limited = ask(served, "/simple/", headers={"Authorization": wrong})
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) >= 1
        # 32 clients keep guessing from 127.0.0.1 while a real user logs in from 127.0.0.2
        # (loopback too): the guesses cost no bcrypt check, so the login is not queued behind.
        stop = threading.Event()

        def guess() -> None:
            while not stop.is_set():
                _login(served.port, wrong)

        flood = [threading.Thread(target=guess) for _ in range(32)]
        for thread in flood:
            thread.start()
        try:
            time.sleep(0.5)
            started = time.monotonic()
            assert _login(served.port, right, source="127.0.0.2") == 200
            waited = time.monotonic() - started
        finally:
            stop.set()
            for thread in flood:
                thread.join(timeout=30)
        assert waited < 1.5, waited


def test_the_back_off_doubles_forgets_and_stays_bounded() -> None:
    logins = FailedLogins(free=2, first=1.0, longest=8.0, forget_after=100.0, capacity=3)
    for moment in range(2):
        logins.failed("a", moment)
    assert logins.wait("a", 1) == 1.0  # the second (free) failure shuts it out for a second
    assert logins.wait("a", 2) == 0
    logins.failed("a", 2)
    assert logins.wait("a", 2) == 2.0
    logins.failed("a", 3)
    assert logins.wait("a", 3) == 4.0
    for moment in range(4, 10):
        logins.failed("a", moment)
    assert logins.wait("a", 9) == 8.0  # the longest
    assert logins.wait("a", 200) == 0  # forgotten after quiet time
    logins.succeeded("a")
    for address in "bcde":
        logins.failed(address, 0)
    assert len(logins._addresses) == 3  # the bound is the point
