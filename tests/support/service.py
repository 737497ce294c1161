"""``cellar serve`` as a real process a test can signal, whose log it can wait on, and HTTP helpers.

Unlike ``mirror.cellar_serve`` this hands the test the process: its pid for signals, every line
it logged (workers' lines included), and the workers' pids by slot, read from the supervisor's
``worker N is serving (pid P)`` lines.
"""

from __future__ import annotations

import http.client
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from tests.support.mirror import EVERY_VERSION, write_config

T = TypeVar("T")
_READY = re.compile(r"at (https?://127\.0\.0\.1:(\d+)/)")
_WORKER = re.compile(r"worker (\d+) is serving \(pid (\d+)\)")


def serve_config(
    directory: Path,
    upstream: str = "http://127.0.0.1:9/simple/",
    requirements: Sequence[str] = (),
    *,
    serve: str = "",
    extra_mirror: str = "",
) -> Path:
    """Write a ``cellar.toml`` (see ``write_config``: every version, no dependencies) with
    ``serve`` as its ``[serve]`` table. The default upstream is never asked (port 9, discard)."""
    path = write_config(
        directory, upstream, requirements, extra_mirror=extra_mirror, extra_packages=EVERY_VERSION
    )
    with path.open("a", encoding="utf-8") as file:
        file.write(f"\n[serve]\n{serve}\n")
    return path


@dataclass
class ServeProcess:
    """A running ``cellar serve``; ``lines`` grows as it logs."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    base: str = ""
    port: int = 0

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append("")  # end of output
            self.changed.notify_all()

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 60) -> list[re.Match[str]]:
        """Wait until ``count`` logged lines match ``pattern``; return the matches.

        Fails the test if the output ends or ``timeout`` passes first (a bound, not a measure).
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                matches = [m for line in self.lines if (m := regex.search(line))]
                if len(matches) >= count:
                    return matches
                remaining = deadline - time.monotonic()
                assert remaining > 0 and "" not in self.lines, (
                    f"no {count} lines matching {pattern!r} in:\n{self.log}"
                )
                self.changed.wait(remaining)

    @property
    def log(self) -> str:
        """Everything logged so far."""
        with self.changed:
            return "".join(self.lines)

    def workers(self) -> dict[int, int]:
        """Return the pid of each worker slot (the newest, after a restart)."""
        with self.changed:
            found = [m for line in self.lines if (m := _WORKER.search(line))]
        return {int(m.group(1)): int(m.group(2)) for m in found}

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``signum``, wait for the exit and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)


@contextmanager
def serve_process(
    config: Path, *args: str, open_files: int | None = None
) -> Iterator[ServeProcess]:
    """Run ``cellar serve -c config --port 0 *args`` and yield it once it announced its URL.

    ``open_files`` sets its file descriptor limit (soft and hard), as ``ulimit -n`` would.
    """

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = subprocess.Popen(
        [sys.executable, "-m", "cellar", "serve", "-c", str(config), "--port", "0", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        preexec_fn=limit if open_files is not None else None,  # noqa: PLW1509 - rlimit only
    )
    served = ServeProcess(process)
    reader = threading.Thread(target=served._read, daemon=True)
    reader.start()
    try:
        match = served.wait_for(_READY.pattern)[0]
        served.base, served.port = match.group(1), int(match.group(2))
        yield served
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)
        reader.join(timeout=60)
        assert process.stderr is not None
        process.stderr.close()


def start_failure(
    config: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``cellar serve`` expected to fail at start; return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "cellar", "serve", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def fetch(port: int, path: str, method: str = "GET", **headers: str) -> Reply:
    """Send one request on a new connection with exactly this path and these headers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def eventually(check: Callable[[], T], *, timeout: float = 30) -> T:
    """Call ``check`` until it returns without an AssertionError (then return its value), or
    re-raise the last one after ``timeout`` seconds. For what another process does after it
    answered: it counts and logs a request once the response is sent."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse Prometheus' text format strictly enough for tests: every sample by (name, labels).

    Asserts that each sample belongs to a family declared by ``# TYPE`` before it.
    """
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    families: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        assert match, line
        name, labels, value = match.groups()
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in families or base in families, line
        pairs = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', labels or ""))
        samples[name, pairs] = float(value)
    return samples


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """Return the value of ``name`` with exactly ``labels`` (0 when the series is absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
