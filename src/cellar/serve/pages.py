"""Index pages read from disk for one request: chosen, validated, compressed (and cached).

The mirror replaces page files by rename while the server runs. So every answer belongs to one
version of the file (inode, mtime, size): the version a request looks at gives the ETag and
Last-Modified and is what the conditions are judged against, and the bytes sent are that
version's, from the cache (kept by version) or from the file opened then; if the file was
replaced in between, the version opened is judged and sent instead. No page is ever sent with
validators of another version.

Compressing a large page (the root of a big mirror) costs far more than reading it, and
clients ask for the same hot pages over and over; ``PageCache`` keeps the bodies of recent
page versions in each coding, per application, bounded in bytes, so a hot page costs a request
a few ``lstat`` calls: no open, read or compression.
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from enum import Enum
from typing import Final, NamedTuple

from cellar.serve.http import Coding, Conditions, page_etag
from cellar.serve.negotiate import PageFormat
from cellar.serve.recent import FileVersion
from cellar.tree.paths import lstat_within

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOFOLLOW", 0)  # a page is a file the mirror wrote, never a link
)
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


def modified_seconds(version: FileVersion) -> float:
    """The modification time of ``version`` in seconds since the epoch."""
    return version.mtime_ns / 1e9


def page_version_etag(version: FileVersion, coding: Coding) -> str:
    """The entity tag (unquoted) of page ``version`` sent in ``coding``."""
    return page_etag(version.inode, version.mtime_ns, version.size, coding)


class PageAnswer(NamedTuple):
    """What to send for a page: ``status`` 200 with ``body``, or 304/412 without one."""

    page_format: PageFormat
    version: FileVersion
    coding: Coding
    status: int
    body: bytes = b""
    #: The entity tag (unquoted) of the representation.
    etag: str = ""


class PageCache:
    """Bodies of recently sent pages, by path and coding, for their latest version.

    A hit costs a request one ``lstat`` per path segment, no open, read or compression.
    Bounded to ``max_bytes`` (least recently used go first); a body larger than an eighth of
    that is not kept. Safe to use from several threads.
    """

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, Coding], tuple[FileVersion, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: FileVersion, coding: Coding) -> bytes | None:
        """Return the body of ``version`` in ``coding`` if it is cached."""
        key = (version.path, coding)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, version: FileVersion, coding: Coding, body: bytes) -> None:
        """Keep ``body`` as ``version`` in ``coding``, replacing older versions of the page."""
        if len(body) > self.max_bytes // 8:
            return
        key = (version.path, coding)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._entries[key] = (version, body)
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
    root: str,
    directories: Sequence[tuple[str, ...]],
    formats: tuple[PageFormat, ...],
    coding: Coding,
    conditions: Conditions,
    *,
    cache: PageCache,
    inline: bool = False,
) -> PageAnswer | Deferred | None:
    """Return the answer for the first of ``formats`` found in the first of ``directories``
    (segments below ``root``, the web root) that has any page file, or None when there is
    none. Blocking: with ``inline`` (in the event loop) it returns ``Deferred.TO_THREAD``
    rather than read or compress a page larger than ``INLINE_PAGE_BYTES``; without, run it in
    a thread.

    The body is read (and compressed) only when the conditions ask for it and the cache does
    not hold it. A directory that resolves outside ``root`` (through a symlink) has no pages,
    and a page file that is itself a symlink (or anything but a regular file) is not a page.
    """
    for parts in directories:
        for page_format in formats:
            status = lstat_within(root, (*parts, page_format.file_name), follow_last=False)
            if status is None or not stat.S_ISREG(status.st_mode):
                continue
            path = os.sep.join((root, *parts, page_format.file_name))  # noqa: PTH118 - hot path
            version = FileVersion.of(path, status)
            answer = _judged(page_format, version, coding, conditions)
            if answer.status != 200:
                return answer
            body = cache.get(version, coding)
            if body is not None:
                return _with_body(answer, body)
            read = _read(answer, conditions, cache, inline=inline)
            if read is not None:
                return read
    return None


def _judged(
    page_format: PageFormat, version: FileVersion, coding: Coding, conditions: Conditions
) -> PageAnswer:
    """Return the answer for ``version`` as ``conditions`` judge it: 200 (without its body yet),
    304 or 412."""
    etag = page_version_etag(version, coding)
    status = conditions.evaluate(etag, modified_seconds(version))
    return PageAnswer(page_format, version, coding, status, etag=etag)


def _with_body(answer: PageAnswer, body: bytes) -> PageAnswer:
    return PageAnswer(answer.page_format, answer.version, answer.coding, 200, body, answer.etag)


def _read(
    answer: PageAnswer, conditions: Conditions, cache: PageCache, *, inline: bool
) -> PageAnswer | Deferred | None:
    """Open the page ``answer`` names and fill in its body (None: it is no longer a page).

    Everything is taken from the open file: if it was replaced since it was looked at, the
    version of the file opened is judged again and sent.
    """
    version = answer.version
    try:
        # Non-blocking, so a FIFO put in place of a page cannot hang; regular files read as
        # usual. Never through a symlink put there since the look.
        with os.fdopen(os.open(version.path, _OPEN_FLAGS), "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode):
                return None
            opened = FileVersion.of(version.path, status)
            if opened != version:
                answer = _judged(answer.page_format, opened, answer.coding, conditions)
                if answer.status != 200:
                    return answer
            if inline and opened.size > INLINE_PAGE_BYTES:
                return Deferred.TO_THREAD
            body = compress(file.read(), answer.coding)
    except OSError:  # gone, a directory, a name too long, unreadable: not a page
        return None
    cache.put(opened, answer.coding, body)
    return _with_body(answer, body)
