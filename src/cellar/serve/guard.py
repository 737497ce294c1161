"""Connections a client cannot hold hostage: a header deadline, a cap, and quiet refusals.

aiohttp closes a connection idle between requests (``keepalive_timeout``), but nothing bounds
the time a client takes to send a request's headers: connections that send nothing, or one
header line every few seconds, stay open until the process runs out of file descriptors and
stops answering anyone. ``ConnectionGuard`` wraps aiohttp's protocol factory:

- the first request's header block must arrive within ``header_timeout`` seconds of the
  connection being opened, or the connection is closed (after the first answer, aiohttp's
  keep-alive timer closes a connection whose next request is not complete in time);
- at most ``max_connections`` are open in this process (capped below the descriptor limit);
  one more is closed at once, so those already open, and the server itself, keep working;
- refusals and ``accept()`` failures are logged at most once every ``LOG_EVERY`` seconds with
  how many there were, instead of a traceback each.

Once the first request's headers are in, the guard steps aside: the transport calls aiohttp's
protocol directly, so a kept-alive connection's later requests cost nothing here.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger("cellar.serve")

#: Descriptors kept for what the server opens itself (files it sends, the state, its logs).
FD_RESERVE = 64 + 128  # and a backlog of accepted sockets not yet handed to us
#: The longest a warning about refused connections waits before it is said again.
LOG_EVERY = 10.0
_END_OF_HEADERS = (b"\r\n\r\n", b"\n\n")
#: How often a stopping server looks whether its connections have closed.
_CLOSE_POLL = 0.01


@dataclass(slots=True)
class RateLimitedLog:
    """A warning said at most once every ``every`` seconds, with how many times it happened."""

    message: str
    every: float = LOG_EVERY
    _last: float = float("-inf")
    _suppressed: int = 0

    def note(self, *args: object) -> None:
        """Count one occurrence; log it if the last line was long enough ago."""
        now = time.monotonic()
        if now - self._last < self.every:
            self._suppressed += 1
            return
        more = f" (and {self._suppressed} more since the last line)" if self._suppressed else ""
        log.warning(self.message + more, *args)
        self._last, self._suppressed = now, 0


@dataclass(slots=True)
class ConnectionGuard:
    """The open connections of one server process, and the rules they live by."""

    max_connections: int
    header_timeout: float
    open: int = 0
    refused: RateLimitedLog = field(
        default_factory=lambda: RateLimitedLog(
            "%d connections open, the most this server process takes ([serve] "
            "max-connections): refusing new ones until some close"
        )
    )
    accept_failed: RateLimitedLog = field(
        default_factory=lambda: RateLimitedLog("cannot accept connections: %s")
    )
    _watched: set[_GuardedProtocol] = field(default_factory=set)
    _sweep: asyncio.TimerHandle | None = None

    def watch(self, connection: _GuardedProtocol) -> None:
        """Start sweeping ``connection``'s header deadline (one timer per process, not per
        request: a request costs an assignment)."""
        self._watched.add(connection)
        if self._sweep is None:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_later(self._every(), self._sweep_deadlines)

    def unwatch(self, connection: _GuardedProtocol) -> None:
        """Stop watching ``connection`` (it closed)."""
        self._watched.discard(connection)

    def _every(self) -> float:
        return min(1.0, self.header_timeout / 4)

    def _sweep_deadlines(self) -> None:
        self._sweep = None
        if not self._watched:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for connection in [c for c in self._watched if c.overdue(now)]:
            connection.headers_too_slow()
        self._sweep = loop.call_later(self._every(), self._sweep_deadlines)

    async def wait_closed(self, timeout: float) -> None:
        """Wait until every connection has closed, at most ``timeout`` seconds.

        A connection counts as closed once its transport has sent what it held and let go
        (``connection_lost``): a server stopping gracefully waits for that before its event loop
        ends, or the last bytes of an answer still in the transport's buffer (uvloop keeps some
        after the handler returns) would be lost with the loop.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.open > 0 and loop.time() < deadline:
            await asyncio.sleep(_CLOSE_POLL)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """Return a protocol factory for ``loop.create_server`` guarding ``factory``'s."""

        def make() -> asyncio.Protocol:
            return _GuardedProtocol(self, factory)

        return make

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make ``loop`` log failed accepts (out of descriptors, say) rate-limited, one line each
        rather than a traceback each; everything else goes to the loop's handler as before."""
        previous = loop.get_exception_handler()

        def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            error = context.get("exception")
            if isinstance(error, OSError) and "accept" in str(context.get("message", "")):
                self.accept_failed.note(error.strerror or error)
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handle)


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's cap and header deadline."""

    def __init__(self, guard: ConnectionGuard, factory: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._factory = factory
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        #: When the headers of the request now arriving must be in (None: none arriving).
        self._deadline: float | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        guard = self._guard
        if guard.open >= guard.max_connections:
            guard.refused.note(guard.open)
            transport.abort()  # type: ignore[attr-defined]
            return
        guard.open += 1
        self._inner = self._factory()
        self._start_deadline()
        guard.watch(self)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if data and self._deadline is not None:
            self._watch_headers(data)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        self._guard.open -= 1
        self._guard.unwatch(self)
        inner, self._inner = self._inner, None
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def overdue(self, now: float) -> bool:
        """Whether the headers of the request now arriving are late at ``now``."""
        return self._deadline is not None and now >= self._deadline

    def headers_too_slow(self) -> None:
        """Close the connection: its request's headers did not arrive in time."""
        self._deadline = None
        if self._transport is not None and not self._transport.is_closing():
            log.debug("closing a connection that sent no whole request in time")
            self._transport.abort()

    def _watch_headers(self, data: bytes) -> None:
        """Wait for the end of the first request's header block, then step aside."""
        seen = self._tail + data
        if any(marker in seen for marker in _END_OF_HEADERS):
            self._hand_over()
        else:
            self._tail = seen[-3:]

    def _hand_over(self) -> None:
        """Let the transport call aiohttp's protocol directly from now on (no cost per request;
        uvloop's transports keep the methods they first saw, and find the deadline gone).

        After the first answer aiohttp's keep-alive timer (``idle-timeout``) closes a
        connection whose next request is not complete in time, so later requests need no
        watching here; only ``connection_lost`` still passes through, to keep the count.
        """
        inner = self._inner
        assert inner is not None  # noqa: S101 - only called while open
        self._deadline = None
        self._guard.unwatch(self)
        self.data_received = inner.data_received  # type: ignore[method-assign]
        self.eof_received = inner.eof_received  # type: ignore[method-assign]
        self.pause_writing = inner.pause_writing  # type: ignore[method-assign]
        self.resume_writing = inner.resume_writing  # type: ignore[method-assign]

    def _start_deadline(self) -> None:
        self._deadline = asyncio.get_running_loop().time() + self._guard.header_timeout


def connection_cap(wanted: int) -> int:
    """Return how many connections one process may hold: ``wanted``, less if the descriptor
    limit is lower (raising the soft limit toward the hard one first, as nginx's
    ``worker_rlimit_nofile`` does)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the soft limit, and the cap below it
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - FD_RESERVE))


class GuardedSite(web.BaseSite):
    """An aiohttp site on a listening socket whose connections ``protocol`` makes (a guard's
    ``wrap`` of the runner's handlers)."""

    __slots__ = ("_handshake_timeout", "_protocol", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        protocol: Callable[[], asyncio.Protocol],
        *,
        ssl_context: ssl.SSLContext | None = None,
        handshake_timeout: float = 60.0,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._sock = sock
        self._protocol = protocol
        self._handshake_timeout = handshake_timeout

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        # A TLS handshake happens before the guard sees the connection: bound it as well.
        handshake = self._handshake_timeout if self._ssl_context is not None else None
        self._server = await loop.create_server(
            self._protocol,
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            ssl_handshake_timeout=handshake,
        )
