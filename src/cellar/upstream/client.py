"""The HTTP client for an upstream index: fetch its pages and download its files, with retries.

The only module that does upstream I/O. aiohttp's exceptions are translated here, once, into
``cellar.upstream.errors`` (``answers.py`` judges each answer and holds the values the client
is given and returns); nothing aiohttp-specific leaves these two modules. Connection failures,
timeouts, bodies cut short and retryable statuses (see ``cellar.upstream.retry``) are retried
by the settings' ``RetryPolicy``; every retry is logged at INFO on ``cellar.upstream``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, TypeVar
from urllib.parse import urljoin

import aiohttp
from packaging.utils import canonicalize_name
from yarl import URL

from cellar.model import HTML_LEGACY, HTML_V1, JSON_V1, ProjectPage, frozen_mapping
from cellar.state.snapshots import (
    PageSnapshot,
    PageStats,
    PageStore,
    SerialIndex,
    body_digest,
)
from cellar.tree.storage import Sink
from cellar.upstream.answers import (
    CHUNK_SIZE,
    MIN_DOWNLOAD_RATE,
    ClientSettings,
    Download,
    FailedAttempt,
    Fetched,
    check_length,
    check_status,
    default_user_agent,
    describe_failure,
)
from cellar.upstream.environment import HostEnvironment
from cellar.upstream.errors import (
    LongerThanStatedError,
    PageTooLargeError,
    ProjectNotFoundError,
    RefusedURLError,
    ResponseTooLargeError,
    UpstreamHTTPError,
)
from cellar.upstream.root_serials import parse_index_serials

__all__ = [
    "ACCEPT",
    "CHUNK_SIZE",
    "ClientSettings",
    "Download",
    "Fetched",
    "UpstreamClient",
    "default_user_agent",
]

logger = logging.getLogger("cellar.upstream")

T = TypeVar("T")

#: PEP 691 negotiation: JSON first; HTML from indexes that only speak PEP 503.
ACCEPT = f"{JSON_V1}, {HTML_V1};q=0.2, {HTML_LEGACY};q=0.01"
MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


@dataclasses.dataclass(slots=True)
class _CurrentPage:
    """A project page as checked this run: its body's digest, and the parsed page if it was
    fetched (None: the stored snapshot is current)."""

    digest: str
    parsed: ProjectPage | None = None


class UpstreamClient:
    """Fetches pages and files from the index in ``settings``; use it as an async context."""

    def __init__(self, settings: ClientSettings, pages: PageStore | None = None) -> None:
        self.settings = settings
        self.page_stats = PageStats()
        self._pages = pages
        self._serials: SerialIndex | None = None
        self._serial_count: int | None = None  # read once per client
        #: Each project page checked this run (normalised name): its digest, and the parsed
        #: page until ``fetch_project`` takes it.
        self._current: dict[str, asyncio.Future[_CurrentPage]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._environment: HostEnvironment | None = None
        self._slots: asyncio.Semaphore | None = None

    async def __aenter__(self) -> UpstreamClient:
        if self._session is not None:
            raise RuntimeError("UpstreamClient is already open")
        settings = self.settings
        self._slots = asyncio.Semaphore(settings.concurrency)
        # HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as pip and curl read them, and ~/.netrc: read
        # once here, where aiohttp's trust_env reads them for every request.
        self._environment = await asyncio.to_thread(HostEnvironment.read)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.concurrency),
            timeout=aiohttp.ClientTimeout(
                total=None, connect=settings.timeout, sock_read=settings.timeout
            ),
            headers={"User-Agent": settings.user_agent},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def project_url(self, name: str) -> str:
        """Return the URL of project ``name``'s page: the index URL, normalised name, ``/``.

        Raises ``ValueError`` (``packaging.utils.InvalidName``) if ``name`` is not a valid
        project name, so that no name can reach outside the index's URL space.
        """
        return f"{self.settings.index_url}{canonicalize_name(name, validate=True)}/"

    async def fetch_project(self, name: str) -> ProjectPage:
        """Return project ``name``'s page, relative URLs resolved against the final URL.

        With a page store, the request is conditional (``If-None-Match`` /
        ``If-Modified-Since`` from the last snapshot) and a 304 answer re-reads the stored
        snapshot, so an unchanged page costs one small request. ``page_stats`` counts both.
        A page asked for again in the same run (``project_digest`` first, say) is not
        asked for again.

        Raises ``ProjectNotFoundError`` on 404 or 410, ``UpstreamHTTPError`` on another
        failing status, ``UpstreamConnectionError`` when the index cannot be reached, and
        ``MalformedPageError`` / ``UnsupportedAPIVersionError`` for a page Cellar cannot read.
        """
        current = await self._current_page(name)
        if current.parsed is not None:
            parsed, current.parsed = current.parsed, None  # handed over once: not kept twice
            return parsed
        # Unchanged since the snapshot: the store's copy is the page.
        snapshot = self._pages.page_snapshot(name) if self._pages is not None else None
        if snapshot is None:  # taken already, with no store to read it again: ask anew
            self._current.pop(canonicalize_name(name), None)
            return await self.fetch_project(name)
        from cellar.upstream.parse import parse_project_page  # noqa: PLC0415 - see _ask_page

        return parse_project_page(
            snapshot.body, snapshot.content_type, snapshot.url, name, serial_header=snapshot.serial
        )

    def current_by_serial(self, name: str, serial: str | None) -> bool:
        """Return whether the root page's serials show that project ``name``'s page, kept at
        ``serial``, is unchanged (counted in ``page_stats`` as a page checked by serial)."""
        if self._serials is None or not self._serials.at(canonicalize_name(name), serial):
            return False
        self.page_stats.checked += 1
        self.page_stats.by_serial += 1
        return True

    async def project_digest(self, name: str) -> str | None:
        """Return the digest (``body_digest``) of project ``name``'s page as it is upstream now,
        or ``None`` if the index does not have the project.

        An unchanged page (at the root page's serial, or answered 304) is neither read from
        the store nor parsed; a changed one is fetched, checked and kept for ``fetch_project``.
        Raises as ``fetch_project``, but for 404 and 410.
        """
        try:
            return (await self._current_page(name)).digest
        except ProjectNotFoundError:
            return None

    async def _current_page(self, name: str) -> _CurrentPage:
        """Find out, once per run and project, whether ``name``'s page changed upstream."""
        key = canonicalize_name(name)
        future = self._current.get(key)
        if future is None:
            future = self._current[key] = asyncio.get_running_loop().create_future()
            try:
                future.set_result(await self._ask_page(name))
            except asyncio.CancelledError:
                future.cancel()
                del self._current[key]
                raise
            except Exception as error:  # noqa: BLE001 - raised to every caller, not swallowed
                future.set_exception(error)
        return await asyncio.shield(future)

    async def _ask_page(self, name: str) -> _CurrentPage:
        url = self.project_url(name)
        previous = self._pages.page_validators(name) if self._pages is not None else None
        if previous is not None and self.current_by_serial(name, previous.serial):
            return _CurrentPage(self._digest_of(name, previous))
        try:
            page = await self._retrying(url, lambda _: self._timed_page(url, previous))
        except UpstreamHTTPError as exc:
            if exc.status in (404, 410):
                raise ProjectNotFoundError(name, url, exc.status) from None
            raise
        self.page_stats.checked += 1
        if page is None:  # 304: a conditional request was made, so there is a snapshot
            return _CurrentPage(self._digest_of(name, previous))
        self.page_stats.changed += 1
        # Imported when first needed: it brings pypi_simple (Beautiful Soup, requests) and
        # pydantic, half a second a re-run that parses no page does not pay.
        from cellar.upstream.parse import parse_project_page  # noqa: PLC0415

        parsed = parse_project_page(
            page.body, page.content_type, page.url, name, serial_header=page.serial
        )
        digest = body_digest(page.body)
        if self._pages is not None:
            # Kept only once it parses: a malformed page never replaces a good snapshot. The
            # serial kept is the page's own (JSON meta, else the header): the one the root
            # page's serials are compared with.
            serial = None if parsed.last_serial is None else str(parsed.last_serial)
            self._pages.record_page_snapshot(
                name, dataclasses.replace(page, serial=serial, digest=digest)
            )
        return _CurrentPage(digest, parsed)

    async def _timed_page(self, url: str, previous: PageSnapshot | None) -> PageSnapshot | None:
        """``_get_page``, its wall time counted in ``page_stats`` (what a page costs)."""
        started = time.monotonic()
        try:
            return await self._get_page(url, previous)
        finally:
            self.page_stats.asked += 1
            self.page_stats.asked_seconds += time.monotonic() - started

    def _digest_of(self, name: str, previous: PageSnapshot | None) -> str:
        """Return the digest of the kept snapshot ``previous`` of ``name``'s page."""
        if previous is not None and previous.digest is not None:
            return previous.digest
        # Kept by a Cellar that stored no digest: read the body once.
        assert self._pages is not None  # noqa: S101 - previous came from the store
        snapshot = self._pages.page_snapshot(name)
        return body_digest(snapshot.body if snapshot is not None else b"")

    async def load_serials(self) -> int:
        """Read every project's serial from the index's root page, so that ``fetch_project``
        can skip asking for a page whose snapshot is at that serial; return how many.

        An index whose root page gives no serials (HTML, most non-PyPI indexes) changes
        nothing and returns 0. Read once per client: asked again, it returns the same count.
        Raises as ``fetch_index``.
        """
        if self._serial_count is not None:
            return self._serial_count
        url = self.settings.index_url
        started = time.monotonic()
        page = await self._retrying(url, lambda _: self._get_page(url))
        assert page is not None  # an unconditional request is never answered 304  # noqa: S101
        serials = parse_index_serials(page.body, page.content_type, page.url)
        self.page_stats.root_seconds = time.monotonic() - started
        self._serials = SerialIndex(serials) if serials else None
        self._serial_count = len(serials)
        return len(serials)

    async def fetch_index(self) -> tuple[str, ...]:
        """Return the names of all projects on the index, as it spells them.

        Raises as ``fetch_project``, except that 404 is an ``UpstreamHTTPError``.
        """
        url = self.settings.index_url
        page = await self._retrying(url, lambda _: self._get_page(url))
        assert page is not None  # an unconditional request is never answered 304  # noqa: S101
        from cellar.upstream.parse import parse_index_page  # noqa: PLC0415 - see _ask_page

        return parse_index_page(page.body, page.content_type, page.url)

    async def download(
        self,
        url: str,
        sink: Sink,
        *,
        algorithms: Collection[str] = ("sha256",),
        on_progress: Callable[[int], None] | None = None,
        max_size: int | None = None,
    ) -> Download:
        """Stream the file at ``url`` into ``sink`` and return its size and digests.

        Each attempt ``begin``s the sink and ``end``s it. When the sink holds bytes from an
        earlier attempt or run (``Sink.held``: a staged download that may be resumed), they
        are hashed again and only the rest is asked for with ``Range``; a 206 continues after
        them, a 200 starts over, a 416 drops them and retries. On failure what the sink holds
        is left to the caller. ``on_progress`` is called with each count of bytes received,
        and with minus the bytes received so far when a retry starts over. With ``max_size``
        (the size the index states), reading stops at that many bytes:
        ``LongerThanStatedError``, not retried. After the settings' ``deadline`` an attempt
        must have averaged ``MIN_DOWNLOAD_RATE``, or it fails. Raises ``ValueError`` for an
        algorithm hashlib does not know, ``UpstreamHTTPError`` / ``UpstreamConnectionError``
        / ``RefusedURLError`` as ``fetch_project``, and lets an ``OSError`` from the sink
        propagate unchanged (it is never retried).
        """
        for algorithm in algorithms:
            hashlib.new(algorithm)
        report = on_progress or (lambda _: None)
        received = 0

        async def attempt(_: int) -> Download:
            nonlocal received
            offset = sink.held()
            if received and not offset:
                report(-received)
                received = 0
            hashes = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
            # Files are stored as served: no transparent decompression of gzip bodies.
            headers = {"Accept-Encoding": "identity"}
            if offset:
                await asyncio.to_thread(_hash_held, sink, hashes.values())
                headers["Range"] = f"bytes={offset}-"
            response = await self._get(url, headers, auto_decompress=False)
            async with response:
                if offset and response.status == 416:
                    sink.begin(0)  # what is held cannot be continued: drop it, start over
                    sink.end()
                    raise FailedAttempt("the partial download cannot be resumed", retryable=True)
                check_status(response, self.settings.retry)
                if offset and response.status != 206:
                    offset = 0
                    hashes = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
                announced = response.content_length
                if max_size is not None and announced is not None and offset + announced > max_size:
                    raise LongerThanStatedError(url, max_size, offset + announced)

                def got(count: int) -> None:
                    nonlocal received
                    received += count
                    report(count)

                sink.begin(offset)
                try:
                    body = await self._stream(
                        response, sink, hashes.values(), url=url, limit=(max_size, offset), got=got
                    )
                finally:
                    sink.end()
                check_length(response, body)
                final_url = str(response.url)
            digests = {algorithm: digest.hexdigest() for algorithm, digest in hashes.items()}
            return Download(size=offset + body, digests=frozen_mapping(digests), url=final_url)

        # No overall deadline: a large file may take long, as long as it keeps coming.
        return await self._retrying(url, attempt, deadline=None)

    async def _stream(
        self,
        response: aiohttp.ClientResponse,
        sink: Sink,
        hashes: Iterable[hashlib._Hash],
        *,
        url: str,
        limit: tuple[int | None, int],
        got: Callable[[int], None],
    ) -> int:
        """Read ``response``'s body into ``sink``, hashing it; return its length. ``limit`` is
        the stated size and the bytes already in hand: past it, ``LongerThanStatedError``;
        too slow, ``FailedAttempt``."""
        (max_size, offset), started, body = limit, time.monotonic(), 0
        hashes = tuple(hashes)
        while True:
            with self._network():
                chunk = await response.content.read(CHUNK_SIZE)
            if not chunk:
                return body
            if max_size is not None and offset + body + len(chunk) > max_size:
                raise LongerThanStatedError(url, max_size, offset + body + len(chunk))
            self._check_rate(url, started, body + len(chunk))
            sink.write(chunk)
            for digest in hashes:
                digest.update(chunk)
            body += len(chunk)
            got(len(chunk))

    def _check_rate(self, url: str, started: float, received: int) -> None:
        """Fail an attempt that, past the deadline, has averaged less than MIN_DOWNLOAD_RATE."""
        elapsed = time.monotonic() - started
        deadline = self.settings.deadline
        if elapsed > deadline and received < MIN_DOWNLOAD_RATE * elapsed:
            raise FailedAttempt(
                f"{received} bytes in {elapsed:.0f} s: slower than {MIN_DOWNLOAD_RATE >> 10} "
                f"KiB/s after the {deadline:g} s deadline ([mirror] deadline)",
                retryable=True,
            )

    async def fetch_bytes(
        self, url: str, *, range_header: str | None = None, max_bytes: int | None = None
    ) -> Fetched:
        """GET ``url`` into memory, asking for ``range_header`` (a ``Range`` value) if given.

        Bodies are taken as served (no content-coding), so ranges and digests apply to the
        file's own bytes. Retries as ``fetch_project`` does. A server that ignores the range
        answers 200 with the whole body; the caller checks ``status``. Raises
        ``ResponseTooLargeError`` (not retried) once the body passes ``max_bytes``, and
        ``UpstreamHTTPError`` / ``UpstreamConnectionError`` as ``fetch_project``.
        """
        headers = {"Accept-Encoding": "identity"}
        if range_header is not None:
            headers["Range"] = range_header

        async def attempt(_: int) -> Fetched:
            response = await self._get(url, headers, auto_decompress=False)
            async with response:
                check_status(response, self.settings.retry)
                if max_bytes is not None and max_bytes < (response.content_length or 0):
                    raise ResponseTooLargeError(url, max_bytes, 0)
                body = await self._read_bounded(url, response, max_bytes, ResponseTooLargeError)
                check_length(response, len(body))
                headers_read = {name.lower(): value for name, value in response.headers.items()}
                return Fetched(
                    response.status, bytes(body), frozen_mapping(headers_read), str(response.url)
                )

        return await self._retrying(url, attempt)

    async def _read_chunk(self, response: aiohttp.ClientResponse) -> bytes:
        with self._network():
            return await response.content.read(CHUNK_SIZE)

    @property
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("UpstreamClient is used outside 'async with'")
        return self._session

    async def _get_page(
        self, url: str, previous: PageSnapshot | None = None
    ) -> PageSnapshot | None:
        """Fetch a page; ``None`` when the upstream says ``previous`` is still current (304)."""
        headers = {"Accept": ACCEPT}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        response = await self._get(url, headers)
        async with response:
            if response.status == 304 and previous is not None:
                return None
            check_status(response, self.settings.retry)
            # Counted once decoded: aiohttp decodes a compressed body a bounded chunk at a
            # time, so a compression bomb costs at most the limit and a chunk.
            limit = self.settings.max_page_size
            body = await self._read_bounded(url, response, limit, PageTooLargeError)
            check_length(response, len(body))
            return PageSnapshot(
                body,
                response.headers.get("Content-Type"),
                str(response.url),
                response.headers.get("X-PyPI-Last-Serial"),
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
            )

    async def _read_bounded(
        self,
        url: str,
        response: aiohttp.ClientResponse,
        limit: int | None,
        too_large: type[ResponseTooLargeError],
    ) -> bytes:
        """Read ``response``'s body into memory, raising ``too_large(url, limit, received)``
        (not retried) as soon as it passes ``limit`` bytes (None: no limit)."""
        body = bytearray()
        while chunk := await self._read_chunk(response):
            body += chunk
            if limit is not None and len(body) > limit:
                raise too_large(url, limit, len(body))
        return bytes(body)

    async def _get(
        self, url: str, headers: dict[str, str], *, auto_decompress: bool = True
    ) -> aiohttp.ClientResponse:
        """GET ``url``, following redirects one by one, each checked by the host policy.

        Raises ``RefusedURLError`` for a URL or redirect the policy refuses (not retried),
        and ``FailedAttempt`` as ``_network`` does.
        """
        policy = self.settings.hosts
        current, came_from = url, None
        for _ in range(MAX_REDIRECTS + 1):
            reason = policy.refusal(current, came_from=came_from)
            if reason is not None:
                raise RefusedURLError(current, reason)
            self.page_stats.requests += 1
            target = URL(current)
            proxy: str | URL | None = self.settings.proxy
            sent = headers
            if (environment := self._environment) is not None:
                if proxy is None:
                    proxy = environment.proxy(target)
                if (login := environment.login(target)) is not None:
                    sent = {**headers, "Authorization": login}  # this host's alone
            with self._network():
                response = await self._http.get(
                    target,
                    headers=sent,
                    auto_decompress=auto_decompress,
                    allow_redirects=False,
                    proxy=proxy,
                )
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or location is None:
                return response
            response.release()
            came_from, current = current, urljoin(current, location)
        raise FailedAttempt(f"more than {MAX_REDIRECTS} redirects", retryable=False)

    async def _retrying(
        self,
        url: str,
        attempt: Callable[[int], Awaitable[T]],
        *,
        deadline: float | Literal["settings"] | None = "settings",
    ) -> T:
        """Run ``attempt(number)`` until it succeeds, fails for good, or retries run out.

        Each attempt must end within ``deadline`` seconds (by default the settings'; ``None``
        for none), however its bytes trickle in.
        """
        if self._slots is None:
            raise RuntimeError("UpstreamClient is used outside 'async with'")
        policy = self.settings.retry
        limit = self.settings.deadline if deadline == "settings" else deadline
        for number in range(1, policy.attempts + 1):
            try:
                async with self._slots:
                    try:
                        async with asyncio.timeout(limit):
                            return await attempt(number)
                    except TimeoutError:
                        raise FailedAttempt(
                            f"no complete answer within the {limit:g} s deadline "
                            "([mirror] deadline)",
                            retryable=True,
                        ) from None
            except FailedAttempt as failure:
                if not failure.retryable or number == policy.attempts:
                    raise failure.error(url, number) from failure.__cause__
                cause, retry_after = failure.cause, failure.retry_after
            delay = policy.delay(number, retry_after, datetime.now(UTC))
            logger.info(
                "retrying %s in %.2fs: attempt %d of %d failed: %s",
                url,
                delay,
                number,
                policy.attempts,
                cause,
            )
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextmanager
    def _network(self) -> Iterator[None]:
        """Translate aiohttp's exceptions from the network I/O inside into ``FailedAttempt``."""
        timeout = self.settings.timeout
        try:
            yield
        except aiohttp.ClientSSLError as exc:
            raise FailedAttempt(f"TLS failure: {exc}", retryable=False) from exc
        except _NETWORK_ERRORS as exc:
            raise FailedAttempt(describe_failure(exc, timeout), retryable=True) from exc
        except aiohttp.ClientError as exc:
            raise FailedAttempt(describe_failure(exc, timeout), retryable=False) from exc


def _hash_held(sink: Sink, hashes: Iterable[hashlib._Hash]) -> None:
    """Feed the bytes ``sink`` holds to ``hashes`` (resuming a download). Blocking."""
    hashers = list(hashes)
    for chunk in sink.held_chunks():
        for hasher in hashers:
            hasher.update(chunk)
