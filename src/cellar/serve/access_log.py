"""The access log and the per-request hook of the metrics, both fed once a response is sent.

aiohttp calls its access logger after the last byte of a response is handed to the kernel,
with the final status (a 304 or 206 decided while sending a file included) and the time since
the request arrived: exactly what the metrics need too, so ``counting_access_logger`` makes one
logger class that writes the Combined Log Format line (``combined_log_line``) and counts the
request into ``ServerMetrics``.

The line goes to the ``cellar.serve.access`` logger: standard error by default, or, with
``[serve] access-log``, only the file it names (``access_log_file``). The file is opened by
every server process in append mode, each line one ``write``, so workers' lines never
interleave within a line (``AccessLogFile``): when logrotate moves or removes the file, the next
line goes to a new one at the configured path, without a signal (the path is looked at once a
second, not once a line; ``copytruncate`` works too).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Final

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from cellar.serve.errors import ServeError
from cellar.serve.metrics import ServerMetrics


class AccessLogError(ServeError):
    """The ``[serve] access-log`` file cannot be opened for appending; ``reason`` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"[serve] access-log {path}: cannot append to it: {reason}; "
            "create its directory or give the server's user the right to write there"
        )
        self.path = path
        self.reason = reason


def body_bytes(method: str, response: StreamResponse) -> int:
    """Return the body bytes ``response`` sent: none for HEAD, 1xx, 204 and 304; else its
    Content-Length, or (a body without one, such as a compressed stream) what was written."""
    if method == "HEAD" or response.status < 200 or response.status in (204, 304):
        return 0
    length = response.content_length
    return length if length is not None else response.body_length


def combined_log_line(request: BaseRequest, response: StreamResponse, elapsed: float) -> str:
    """Return the Combined Log Format line for one answered request (``ACCESS_LOG_FORMAT``,
    as aiohttp would write it): the time is when the request arrived, in local time. Quotes,
    backslashes and control characters in what the client sent are escaped, so a request cannot
    forge a line."""
    started = _log_time(int(time.time() - elapsed))
    version = request.version
    # The request target as the client sent it (nginx's $request does the same).
    line = f"{request.method} {request.raw_path} HTTP/{version.major}.{version.minor}"
    headers = request.headers
    return (
        f"{request.remote or '-'} - - {started} "
        f'"{_escape(line)}" {response.status} {response.headers.get("Content-Length", "-")} '
        f'"{_escape(headers.get("Referer", "-"))}" "{_escape(headers.get("User-Agent", "-"))}"'
    )


@functools.lru_cache(maxsize=64)
def _log_time(seconds: int) -> str:
    """The log's time of second ``seconds`` since the epoch, in local time: formatted once per
    second, not once per line."""
    return time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(seconds))


def _escape(text: str) -> str:
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(
        _ESCAPES.get(char, char) if char.isprintable() else f"\\x{ord(char):02x}" for char in text
    )


_ESCAPES: Final = MappingProxyType({'"': '\\"', "\\": "\\\\"})


def counting_access_logger(metrics: ServerMetrics) -> type[AbstractAccessLogger]:
    """Return an aiohttp access logger class that also counts each request into ``metrics``.

    Pass it as ``AppRunner(access_log_class=...)``; aiohttp makes one per connection. A line
    goes straight to the ``AccessLogFile`` handler of the logger when it has one (no logging
    record is made: at thousands of requests a second that is a quarter of the work), else to
    the logger when it takes INFO.
    """

    class CountingAccessLogger(AbstractAccessLogger):
        def __init__(self, logger: logging.Logger, log_format: str) -> None:
            super().__init__(logger, log_format)
            self._file = next((h for h in logger.handlers if isinstance(h, AccessLogFile)), None)

        @property
        def enabled(self) -> bool:
            return True  # the metrics count every request, whatever the log level

        def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
            if self._file is not None:
                self._file.write_line(combined_log_line(request, response, time))
            elif self.logger.isEnabledFor(logging.INFO):
                self.logger.info("%s", combined_log_line(request, response, time))
            metrics.record(
                request.method,
                request.path,
                response.status,
                body_bytes(request.method, response),
                time,
            )

    return CountingAccessLogger


#: How often the access log's path is compared with the open file (a stat), to follow
#: logrotate: lines of the second after a move still go to the moved file, none is lost.
REOPEN_CHECK_SECONDS: Final = 1.0


class AccessLogFile(logging.Handler):
    """The access log file: the lines of one turn of the event loop appended with one ``write``
    (O_APPEND, so the lines of several workers never interleave, and a line is never split),
    reopened when logrotate moved or removed the file. A process killed outright loses the
    lines of the turn it was in.

    Raises ``OSError`` from the constructor if the file cannot be opened for appending.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd = -1
        self._identity = (-1, -1)
        #: When the path was last compared with the open file (``time.monotonic``).
        self._checked = float("-inf")
        #: Lines of this turn of the event loop, written at its end.
        self._pending: list[str] = []
        self._open()

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        status = os.fstat(fd)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._identity = fd, (status.st_dev, status.st_ino)

    def write_line(self, line: str) -> None:
        """Append ``line``: at the end of the event loop's turn, with the other lines of that
        turn in one ``write`` (at once when no loop runs); a failure is reported like a
        logging handler's."""
        self._pending.append(line)
        if len(self._pending) > 1:
            return  # a write is already due
        try:
            asyncio.get_running_loop().call_soon(self.flush_lines)
        except RuntimeError:  # no event loop in this thread
            self.flush_lines()

    def flush_lines(self) -> None:
        """Write the lines not yet written, in one ``write``."""
        lines, self._pending = self._pending, []
        if not lines:
            return
        try:
            now = time.monotonic()
            if now - self._checked >= REOPEN_CHECK_SECONDS:
                self._checked = now
                try:
                    status = self.path.stat()
                    moved = (status.st_dev, status.st_ino) != self._identity
                except FileNotFoundError:
                    moved = True
                if moved:
                    self._open()
            text = "".join(f"{line}\n" for line in lines)
            os.write(self._fd, text.encode("utf-8", "backslashreplace"))
        except OSError:
            self.handleError(logging.makeLogRecord({"msg": lines[0]}))

    def emit(self, record: logging.LogRecord) -> None:
        """Write a record of another writer (the message alone, as the access lines)."""
        self.write_line(record.getMessage())

    def close(self) -> None:
        """Write what is pending and close the file."""
        self.flush_lines()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()


def check_access_log(path: Path | None) -> None:
    """Raise ``AccessLogError`` unless ``path`` (if any) can be opened for appending."""
    if path is None:
        return
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise AccessLogError(path, error.strerror or str(error)) from None


@contextmanager
def access_log_file(logger: logging.Logger, path: Path | None) -> Iterator[None]:
    """While the block runs, send ``logger``'s lines (INFO and up) to the file ``path`` only.

    Does nothing when ``path`` is None. Raises ``AccessLogError`` if the file cannot be opened
    for appending. The logger's level, propagation and handlers are restored afterwards.
    """
    if path is None:
        yield
        return
    try:
        handler = AccessLogFile(path)
    except OSError as error:
        raise AccessLogError(path, error.strerror or str(error)) from None
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        handler.close()
