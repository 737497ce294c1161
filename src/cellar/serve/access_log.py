"""The access log and the per-request hook of the metrics, both fed once a response is sent.

aiohttp calls its access logger after the last byte of a response is handed to the kernel,
with the final status (a 304 or 206 decided while sending a file included) and the time since
the request arrived: exactly what the metrics need too, so ``counting_access_logger`` makes one
logger class that writes the Combined Log Format line (when its logger takes INFO) and counts
the request into ``ServerMetrics``.

The line goes to the ``cellar.serve.access`` logger: standard error by default, or, with
``[serve] access-log``, only the file it names (``access_log_file``). The file is opened by
every server process in append mode, so workers' lines never interleave within a line, through
a ``WatchedFileHandler``: when logrotate moves or removes the file, the next line goes to a new
one at the configured path, without a signal (``copytruncate`` works too).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import WatchedFileHandler
from pathlib import Path

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_log import AccessLogger
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


def counting_access_logger(metrics: ServerMetrics) -> type[AbstractAccessLogger]:
    """Return an aiohttp access logger class that also counts each request into ``metrics``.

    Pass it as ``AppRunner(access_log_class=...)``; aiohttp makes one per connection.
    """

    class CountingAccessLogger(AccessLogger):
        @property
        def enabled(self) -> bool:
            return True  # the metrics count every request, whatever the log level

        def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
            if self.logger.isEnabledFor(logging.INFO):
                super().log(request, response, time)
            metrics.record(
                request.method,
                request.path,
                response.status,
                body_bytes(request.method, response),
                time,
            )

    return CountingAccessLogger


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
        handler = WatchedFileHandler(path, encoding="utf-8")
    except OSError as error:
        raise AccessLogError(path, error.strerror or str(error)) from None
    handler.setFormatter(logging.Formatter("%(message)s"))
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
