"""HTTP semantics the server decides itself (RFC 9110): content codings, conditions, byte ranges.

Pure functions and values, no I/O; the handlers in ``simple_routes.py`` and ``pages.py`` apply them.

* **Content coding** (``choose_coding``): index pages go out as zstd when the client names
  ``zstd`` in Accept-Encoding, else gzip when it accepts gzip (``gzip``, ``x-gzip`` or ``*``),
  else unencoded. The highest q wins; on a tie zstd comes first (smaller and faster to decode).
  ``*`` stands for gzip only: a client that never named zstd may not read it. An explicit
  ``identity`` with a higher q than every coding keeps the page unencoded; a client refusing
  identity and every coding we have still gets the page unencoded (RFC 9110 allows that
  rather than a 406). Distribution files are never encoded at all: clients hash their bytes.
* **Validators**: a page's entity tag is its version's storage tag (locally the file's inode,
  mtime and size) plus the coding, so each encoding of a page has its own tag (``page_etag``);
  a file's tag is aiohttp's (mtime and size), because ``FileResponse`` sets it.
* **Conditions** (``Conditions.evaluate``) in RFC 9110's order: If-Match, If-Unmodified-Since
  (412 when failed), If-None-Match (weak comparison), If-Modified-Since (304).
* **Ranges** (``requested_range``): one ``bytes`` range, honoured when If-Range (if sent)
  matches; a header that is malformed, names another unit or several ranges, or asks for part
  of an empty file is ignored (the whole file, 200), which RFC 9110 allows. A range starting
  at or past the end is unsatisfiable (416).
"""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

from aiohttp import hdrs
from aiohttp.helpers import ETAG_ANY, ETag, parse_http_date
from aiohttp.web import BaseRequest

#: Pages change with every mirror run: caches may reuse one for a minute, then must revalidate
#: (cheap: a 304 when the page is unchanged).
PAGE_CACHE_CONTROL: Final = "max-age=60"
#: Distribution files and their ``.metadata`` never change under their name (PyPI's paths
#: carry the file's hash; Cellar's own fallback paths are content-addressed).
FILE_CACHE_CONTROL: Final = "max-age=31536000, immutable"
#: What a page's representation depends on besides its URL.
PAGE_VARY: Final = "Accept, Accept-Encoding"


class Coding(Enum):
    """A content coding the server can send a page in."""

    IDENTITY = "identity"
    GZIP = "gzip"
    ZSTD = "zstd"


def choose_coding(accept_encoding: str | None) -> Coding:
    """Return the coding to send a page in for this Accept-Encoding value (None: absent)."""
    if not accept_encoding or not accept_encoding.strip():
        return Coding.IDENTITY
    qualities: dict[str, float] = {}
    for element in accept_encoding.split(","):
        name, *params = element.split(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = _quality(value)
                break
        qualities.setdefault(name, q)
    star = qualities.get("*", 0.0)
    gzip = qualities.get("gzip", qualities.get("x-gzip", star))
    zstd = qualities.get("zstd", 0.0)
    # sorted() is stable: on equal q, zstd stays ahead of gzip.
    best, coding = sorted(((zstd, Coding.ZSTD), (gzip, Coding.GZIP)), key=lambda c: -c[0])[0]
    identity = qualities.get("identity")
    if best <= 0 or (identity is not None and identity > best):
        return Coding.IDENTITY
    return coding


def _quality(value: str) -> float:
    try:
        q = float(value.strip())
    except ValueError:
        return 1.0
    return min(max(q, 0.0), 1.0) if math.isfinite(q) else 1.0


def page_etag(tag: str, coding: Coding) -> str:
    """Return the entity tag (unquoted) of a page's version (its storage ``tag``) sent in
    ``coding``."""
    return tag if coding is Coding.IDENTITY else f"{tag}-{coding.value}"


def file_etag(mtime_ns: int, size: int) -> str:
    """Return the entity tag (unquoted) aiohttp's FileResponse sends for a file's version."""
    return f"{mtime_ns:x}-{size:x}"


@functools.lru_cache(maxsize=4096)
def _http_date_of(seconds: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(seconds))


def http_date(timestamp: float) -> str:
    """Return the Last-Modified header value for ``timestamp`` (seconds since the epoch), as
    aiohttp writes it (rounded up, see ``header_seconds``); remembered, since the same few
    page versions are answered over and over."""
    return _http_date_of(header_seconds(timestamp))


def header_seconds(timestamp: float) -> int:
    """Return the whole second a Last-Modified header says for ``timestamp``: aiohttp rounds
    up (for pages and files alike), so a date read back from a client compares equal."""
    return math.ceil(timestamp)


@dataclass(frozen=True, slots=True)
class Conditions:
    """A request's conditional headers, parsed (None: absent or unparsable)."""

    if_match: tuple[ETag, ...] | None = None
    if_unmodified_since: datetime | None = None
    if_none_match: tuple[ETag, ...] | None = None
    if_modified_since: datetime | None = None

    @classmethod
    def of(cls, request: BaseRequest) -> Conditions:
        """Return the conditions of ``request`` (aiohttp parses the headers)."""
        headers = request.headers
        if not any(name in headers for name in _CONDITIONAL_HEADERS):
            return NO_CONDITIONS
        return cls(
            request.if_match,
            request.if_unmodified_since,
            request.if_none_match,
            request.if_modified_since,
        )

    def evaluate(self, etag: str, last_modified: float) -> int:
        """Return 200 to send the representation, 304 (not modified) or 412 (failed).

        ``etag`` is the representation's entity tag (unquoted, strong) and ``last_modified``
        its modification time in seconds since the epoch (see ``header_seconds``).
        """
        modified = header_seconds(last_modified)
        if self.if_match is not None:
            failed = not _etag_matches(etag, self.if_match, weak=False)
        else:
            since = self.if_unmodified_since
            failed = since is not None and modified > since.timestamp()
        if failed:
            return 412
        if self.if_none_match is not None:
            fresh = _etag_matches(etag, self.if_none_match, weak=True)
        else:
            since = self.if_modified_since
            fresh = since is not None and modified <= since.timestamp()
        return 304 if fresh else 200


_CONDITIONAL_HEADERS: Final = (
    hdrs.IF_MATCH,
    hdrs.IF_UNMODIFIED_SINCE,
    hdrs.IF_NONE_MATCH,
    hdrs.IF_MODIFIED_SINCE,
)
#: A request without conditional headers (``Conditions.of`` returns this very object).
NO_CONDITIONS: Final = Conditions()


def _etag_matches(etag: str, candidates: tuple[ETag, ...], *, weak: bool) -> bool:
    if any(candidate.value == ETAG_ANY for candidate in candidates):
        return True
    return any(c.value == etag for c in candidates if weak or not c.is_weak)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """The bytes ``start`` up to (not including) ``stop`` of a file."""

    start: int
    stop: int

    @property
    def header(self) -> str:
        """The range as a Range header value (``bytes=first-last``, inclusive)."""
        return f"bytes={self.start}-{self.stop - 1}"


class Unsatisfiable(Enum):
    """The requested range starts past the end of the file: answer 416."""

    RANGE = "unsatisfiable"


def requested_range(
    range_header: str | None, if_range: str | None, etag: str, last_modified: float, size: int
) -> ByteRange | Unsatisfiable | None:
    """Return the part of a file of ``size`` bytes to send, or None for the whole file.

    ``range_header`` and ``if_range`` are the request's headers (None: absent); ``etag``
    (unquoted) and ``last_modified`` (seconds) are the file's validators. See the module
    docstring for the rules.
    """
    if range_header is None or size == 0:
        return None
    if if_range is not None and not _if_range_holds(if_range.strip(), etag, last_modified):
        return None
    match = _BYTE_RANGE.fullmatch(range_header)
    if match is None or not any(match.groups()):
        return None
    first, last = match.groups()
    return _byte_range(first, last, size)


def _byte_range(first: str, last: str, size: int) -> ByteRange | Unsatisfiable | None:
    if not first:  # the final ``last`` bytes
        suffix = _number(last)
        return ByteRange(max(size - suffix, 0), size) if suffix else Unsatisfiable.RANGE
    start = _number(first)
    if last and _number(last) < start:
        return None  # invalid, so ignored
    if start >= size:
        return Unsatisfiable.RANGE
    stop = _number(last) + 1 if last else size
    return ByteRange(start, min(stop, size))


_BYTE_RANGE: Final = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.ASCII | re.IGNORECASE)
#: Past this many digits a position is beyond any file (and int() would refuse 4300 digits).
_MAX_DIGITS: Final = 18


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _if_range_holds(if_range: str, etag: str, last_modified: float) -> bool:
    if if_range.startswith("W/"):
        return False  # a weak tag never validates a range
    if if_range.startswith('"'):
        return if_range == f'"{etag}"'
    date = parse_http_date(if_range)
    return date is not None and int(date.timestamp()) == header_seconds(last_modified)
