"""What the upstream client is given and gives back, and the checks that judge each answer."""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from cellar import __version__
from cellar.config.limits import DEFAULT_DEADLINE, DEFAULT_MAX_PAGE_SIZE
from cellar.upstream.errors import UpstreamConnectionError, UpstreamError, UpstreamHTTPError
from cellar.upstream.hosts import HostPolicy
from cellar.upstream.retry import RetryPolicy

CHUNK_SIZE = 256 * 1024
#: After the deadline, a download must have averaged at least this many bytes a second.
MIN_DOWNLOAD_RATE = 64 << 10
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)", re.ASCII)


def default_user_agent() -> str:
    """Return ``cellar/<version> aiohttp/<version> <Python implementation>/<version>``."""
    python = f"{platform.python_implementation()}/{platform.python_version()}"
    return f"cellar/{__version__} aiohttp/{aiohttp.__version__} {python}"


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How to reach the upstream index. ``index_url`` is stored ending with ``/``.

    ``concurrency`` bounds the requests in flight (pages and files together); ``timeout`` is
    the longest wait, in seconds, to connect and between two reads before an attempt fails;
    ``deadline`` the longest a page or small request may take in all (a download may take
    longer while it averages ``MIN_DOWNLOAD_RATE``). ``max_page_size`` bounds a page's
    decoded bytes. ``file_hosts`` (``None``: any) are the hosts besides the index's own that
    requests may go to.
    """

    index_url: str
    concurrency: int = 10
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = field(default_factory=default_user_agent)
    deadline: float = DEFAULT_DEADLINE
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE
    file_hosts: frozenset[str] | None = None
    #: The forwarding proxy for every request (credentials may be in the URL); None: the
    #: ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` environment, as pip and curl read it.
    proxy: str | None = None

    @property
    def hosts(self) -> HostPolicy:
        """Where this client's requests may go."""
        return HostPolicy(self.index_url, self.file_hosts)

    def __post_init__(self) -> None:
        if not self.index_url.endswith("/"):
            object.__setattr__(self, "index_url", self.index_url + "/")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be more than 0 seconds, not {self.timeout}")


@dataclass(frozen=True, slots=True)
class Download:
    """A file downloaded whole (into a ``Sink``): its size, hex digests by algorithm, and
    final URL."""

    size: int
    digests: Mapping[str, str]
    url: str


@dataclass(frozen=True, slots=True)
class Fetched:
    """A small answer read whole into memory: status (200, or 206 for a range), body, headers
    (names lower-cased) and final URL."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    url: str

    def content_range(self) -> tuple[int, int, int | None] | None:
        """Return the first byte, last byte and total length a 206 answer states, if it does.

        The total is ``None`` when the server gives it as ``*``.
        """
        match = _CONTENT_RANGE.fullmatch(self.headers.get("content-range", "").strip())
        if match is None:
            return None
        first, last, total = match.groups()
        return int(first), int(last), None if total == "*" else int(total)


@dataclass
class FailedAttempt(Exception):
    """One failed attempt; ``retryable`` says whether another attempt may succeed."""

    cause: str
    retryable: bool
    status: int | None = None
    reason: str = ""
    retry_after: str | None = None

    def error(self, url: str, attempts: int) -> UpstreamError:
        """Return the error to raise for ``url`` when this was the last of ``attempts``."""
        if self.status is not None:
            return UpstreamHTTPError(url, self.status, self.reason, attempts)
        return UpstreamConnectionError(url, self.cause, attempts)


def check_status(response: aiohttp.ClientResponse, policy: RetryPolicy) -> None:
    """Raise ``FailedAttempt`` unless ``response`` has a 2xx status."""
    if 200 <= response.status < 300:
        return
    retryable = policy.is_retryable_status(response.status)
    raise FailedAttempt(
        f"HTTP {response.status} {response.reason or ''}".strip(),
        retryable=retryable,
        status=response.status,
        reason=response.reason or "",
        retry_after=response.headers.get("Retry-After") if retryable else None,
    )


def check_length(response: aiohttp.ClientResponse, received: int) -> None:
    """Raise a retryable ``FailedAttempt`` if fewer bytes arrived than Content-Length announced."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    expected = response.content_length
    # With a decoded content-coding, Content-Length counts encoded bytes: nothing to compare.
    if expected is not None and encoding == "identity" and received < expected:
        raise FailedAttempt(
            f"body cut short: {received} of {expected} bytes received", retryable=True
        )


def describe_failure(exc: BaseException, timeout: float) -> str:
    """Say in words why a network operation failed."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} seconds"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"more than {len(exc.history)} redirects"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # aiohttp's own text names its TLS setting ("ssl:default"), even for plain http.
        what = "the proxy " if isinstance(exc, aiohttp.ClientProxyConnectionError) else ""
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return f"cannot connect to {what}{exc.host}:{exc.port}: {reason}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"body cut short ({exc})"
    return str(exc) or type(exc).__name__
