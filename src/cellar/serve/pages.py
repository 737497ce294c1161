"""Index pages read from disk for one request: chosen, validated, compressed (and cached).

The mirror replaces page files by rename while the server runs. So a request opens the page
file once and takes everything from that open file: its version (inode, mtime, size) gives
the ETag and Last-Modified, the conditions are judged against them, and the bytes sent are
that file's. No page is ever sent with validators of another version.

Compressing a large page (the root of a big mirror) costs far more than reading it, and
clients ask for the same hot pages over and over; ``PageCache`` keeps the compressed bodies
of recent page versions, per application, bounded in bytes. Unencoded bodies are not cached:
the operating system's page cache already holds them.
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import BinaryIO, Final

from cellar.serve.http import Coding, Conditions, page_etag
from cellar.serve.negotiate import PageFormat
from cellar.tree.paths import resolves_within

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


@dataclass(frozen=True, slots=True)
class PageVersion:
    """One version of a page file: replacing the file (by rename) makes a new inode."""

    path: Path
    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path, status: os.stat_result) -> PageVersion:
        """Return the version of ``path`` that ``status`` (of the open file) describes."""
        return cls(path, status.st_ino, status.st_mtime_ns, status.st_size)

    @property
    def last_modified(self) -> float:
        """The modification time in seconds since the epoch."""
        return self.mtime_ns / 1e9

    def etag(self, coding: Coding) -> str:
        """The entity tag (unquoted) of this version sent in ``coding``."""
        return page_etag(self.inode, self.mtime_ns, self.size, coding)


@dataclass(frozen=True, slots=True)
class PageAnswer:
    """What to send for a page: ``status`` 200 with ``body``, or 304/412 without one."""

    page_format: PageFormat
    version: PageVersion
    coding: Coding
    status: int
    body: bytes = b""

    @property
    def etag(self) -> str:
        """The entity tag (unquoted) of the representation."""
        return self.version.etag(self.coding)


class PageCache:
    """Compressed bodies of recently sent pages, by path and coding, for their latest version.

    Bounded to ``max_bytes`` (least recently used go first); a body larger than an eighth of
    that is not kept. Safe to use from several threads.
    """

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Path, Coding], tuple[PageVersion, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: PageVersion, coding: Coding) -> bytes | None:
        """Return the body of ``version`` in ``coding`` if it is cached."""
        key = (version.path, coding)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, version: PageVersion, coding: Coding, body: bytes) -> None:
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
    directories: list[Path],
    formats: tuple[PageFormat, ...],
    coding: Coding,
    conditions: Conditions,
    cache: PageCache,
    *,
    root: Path,
    inline: bool = False,
) -> PageAnswer | Deferred | None:
    """Return the answer for the first of ``formats`` found in the first of ``directories``
    that has any page file, or None when there is none. Blocking: with ``inline`` (in the
    event loop) it returns ``Deferred.TO_THREAD`` rather than read or compress a page larger
    than ``INLINE_PAGE_BYTES``; without, run it in a thread.

    The body is read (and compressed, unless cached) only when the conditions ask for it.
    A directory that resolves outside ``root`` (the web root, through a symlink) has no
    pages, and a page file that is itself a symlink is not opened.
    """
    for directory in directories:
        if not resolves_within(root, directory):
            continue
        for page_format in formats:
            path = directory / page_format.file_name
            try:
                # Non-blocking, so a FIFO in place of a page cannot hang the thread; regular
                # files read as usual.
                with os.fdopen(os.open(path, _OPEN_FLAGS), "rb") as file:
                    status = os.fstat(file.fileno())
                    if not stat.S_ISREG(status.st_mode):
                        continue
                    version = PageVersion.of(path, status)
                    answer = PageAnswer(page_format, version, coding, status=200)
                    return _answer(answer, file, conditions, cache, inline=inline)
            except OSError:  # missing, a directory, a name too long, unreadable: not a page
                continue
    return None


def _answer(
    answer: PageAnswer, file: BinaryIO, conditions: Conditions, cache: PageCache, *, inline: bool
) -> PageAnswer | Deferred:
    """Return ``answer`` (a 200 without body yet) judged by ``conditions`` and filled in."""
    version, coding = answer.version, answer.coding
    status = conditions.evaluate(answer.etag, version.last_modified)
    if status != 200:
        return replace(answer, status=status)
    small = version.size <= INLINE_PAGE_BYTES
    if coding is Coding.IDENTITY:
        return replace(answer, body=file.read()) if small or not inline else Deferred.TO_THREAD
    body = cache.get(version, coding)
    if body is None and inline and not small:
        return Deferred.TO_THREAD
    if body is None:
        body = compress(file.read(), coding)
        cache.put(version, coding, body)
    return replace(answer, body=body)
