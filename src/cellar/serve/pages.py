"""Index pages read from the tree for one request: chosen, validated, compressed (and cached).

The mirror replaces pages while the server runs. So every answer belongs to one version of the
page (a ``Resource``: locally inode, mtime and size): the version a request looks at gives the
ETag and Last-Modified and is what the conditions are judged against, and the bytes sent are that
version's, from the cache (kept by version) or from the object read then; if it was replaced in
between, the version read is judged and sent instead. No page is ever sent with validators of
another version.

Compressing a large page (the root of a big mirror) costs far more than reading it, and
clients ask for the same hot pages over and over; ``PageCache`` keeps the bodies of recent
page versions in each coding, per application, bounded in bytes, so a hot page costs a request
its lookup (locally a few ``lstat`` calls): no open, read or compression.
"""

from __future__ import annotations

import gzip
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from enum import Enum
from typing import Final, NamedTuple

from cellar.serve.http import Coding, Conditions, page_etag
from cellar.serve.negotiate import PageFormat
from cellar.tree.storage import Resource, Storage

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

#: What the compressed-page cache of one application may hold.
PAGE_CACHE_BYTES: Final = 64 * 1024 * 1024
#: A page up to this size is read (and compressed when needed) in the event loop: a thread
#: hand-off costs more than that. Larger pages go to a thread unless their compressed body is
#: cached; then only the open and stat remain.
INLINE_PAGE_BYTES: Final = 64 * 1024
#: gzip's usual level: nearly the size of level 9 for a fraction of the time.
GZIP_LEVEL: Final = 6
#: zstd's default level: on pages (mostly hashes) higher levels take longer for no gain, and
#: level 3 is already smaller than gzip -9 and several times faster than gzip -6.
ZSTD_LEVEL: Final = 3


def modified_seconds(version: Resource) -> float:
    """The modification time of ``version`` in seconds since the epoch."""
    return version.mtime_ns / 1e9


def page_version_etag(version: Resource, coding: Coding) -> str:
    """The entity tag (unquoted) of page ``version`` sent in ``coding``."""
    return page_etag(version.tag, coding)


class PageAnswer(NamedTuple):
    """What to send for a page: ``status`` 200 with ``body``, or 304/412 without one."""

    page_format: PageFormat
    version: Resource
    coding: Coding
    status: int
    body: bytes = b""
    #: The entity tag (unquoted) of the representation.
    etag: str = ""


class PageCache:
    """Bodies of recently sent pages, by key and coding, for their latest version.

    A hit costs a request its lookup, no open, read or compression.
    Bounded to ``max_bytes`` (least recently used go first); a body larger than an eighth of
    that is not kept. Safe to use from several threads.
    """

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, Coding], tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: Resource, coding: Coding) -> bytes | None:
        """Return the body of ``version`` in ``coding`` if it is cached."""
        key = (version.key, coding)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version.tag:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, version: Resource, coding: Coding, body: bytes) -> None:
        """Keep ``body`` as ``version`` in ``coding``, replacing older versions of the page."""
        if len(body) > self.max_bytes // 8:
            return
        key = (version.key, coding)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (version.tag, body)
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= len(evicted)


def compress(body: bytes, coding: Coding) -> bytes:
    """Return ``body`` encoded in ``coding`` (deterministic: equal input, equal output)."""
    if coding is Coding.GZIP:
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    if coding is Coding.ZSTD:
        return zstd.compress(body, level=ZSTD_LEVEL)
    return body


class Deferred(Enum):
    """``read_page(..., inline=True)`` found work too large for the event loop: read again
    in a thread."""

    TO_THREAD = "to thread"


def read_page(
    storage: Storage,
    folders: Sequence[str],
    formats: tuple[PageFormat, ...],
    coding: Coding,
    conditions: Conditions,
    *,
    cache: PageCache,
    inline: bool = False,
) -> PageAnswer | Deferred | None:
    """Return the answer for the first of ``formats`` found in the first of ``folders``
    (keys of the tree, without the trailing ``/``) that has any page, or None when there is
    none. Blocking: with ``inline`` (in the event loop) it returns ``Deferred.TO_THREAD``
    rather than read or compress a page larger than ``INLINE_PAGE_BYTES``; without, run it in
    a thread.

    The body is read (and compressed) only when the conditions ask for it and the cache does
    not hold it. A page is never found through a final symlink (``Storage.find`` with
    ``links`` false): a page is an object the mirror wrote.
    """
    for folder in folders:
        for page_format in formats:
            version = storage.find(f"{folder}/{page_format.file_name}", links=False)
            if version is None:
                continue
            answer = _judged(page_format, version, coding, conditions)
            if answer.status != 200:
                return answer
            body = cache.get(version, coding)
            if body is not None:
                return _with_body(answer, body)
            if inline and version.size > INLINE_PAGE_BYTES:
                return Deferred.TO_THREAD
            read = _read(answer, conditions, cache)
            if read is not None:
                return read
    return None


def _judged(
    page_format: PageFormat, version: Resource, coding: Coding, conditions: Conditions
) -> PageAnswer:
    """Return the answer for ``version`` as ``conditions`` judge it: 200 (without its body yet),
    304 or 412."""
    etag = page_version_etag(version, coding)
    status = conditions.evaluate(etag, modified_seconds(version))
    return PageAnswer(page_format, version, coding, status, etag=etag)


def _with_body(answer: PageAnswer, body: bytes) -> PageAnswer:
    return PageAnswer(answer.page_format, answer.version, answer.coding, 200, body, answer.etag)


def _read(answer: PageAnswer, conditions: Conditions, cache: PageCache) -> PageAnswer | None:
    """Read the page ``answer`` names and fill in its body (None: it is no longer there).

    Everything is taken from the bytes read: if the page was replaced since it was looked at,
    the version read is judged again and sent.
    """
    read = answer.version.read()
    if read is None:
        return None
    opened, raw = read
    if opened.tag != answer.version.tag:
        answer = _judged(answer.page_format, opened, answer.coding, conditions)
        if answer.status != 200:
            return answer
    body = compress(raw, answer.coding)
    cache.put(opened, answer.coding, body)
    return PageAnswer(answer.page_format, opened, answer.coding, 200, body, answer.etag)
