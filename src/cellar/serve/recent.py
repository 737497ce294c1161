"""Whole answers to repeated requests, sent again while the file they came from is unchanged.

Most requests a mirror's server gets are the same few requests over and over: the pages of
popular projects in the two or three forms clients ask for, and their small files. Working such
an answer out (negotiation, path checks, an open and a read, headers) costs several times
sending it. ``RecentAnswers`` keeps the last whole answer (status 200, headers, body) to each
recent request, by what decided it (the caller's key: path and query, and the headers that
choose the representation); a repeat costs one ``stat`` of the file it came from.

An answer is never stale: a file replaced since (another inode, mtime or size), removed, or no
longer a regular file is looked up afresh. What the time limit (``ttl``) bounds is the rest of
the lookup: a representation the client prefers that appeared since, or a symlink put on the
way to the file, is seen within that time. Requests with conditions or ranges are not kept:
their answers depend on more than the key. Bounded in entries and bytes (all are forgotten
when either is full). For the event loop's thread only.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Hashable, Mapping
from typing import Final, NamedTuple

#: How long an answer is sent again without a full lookup (its file is checked every time).
RECENT_ANSWER_SECONDS: Final = 1.0
#: What the bodies kept may take in one server process.
RECENT_ANSWER_BYTES: Final = 64 * 1024 * 1024


class FileVersion(NamedTuple):
    """One version of a file: replacing it (by rename) makes a new inode."""

    path: str
    inode: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: str, status: os.stat_result) -> FileVersion:
        """Return the version of ``path`` that ``status`` (of the file) describes."""
        return cls(path, status.st_ino, status.st_mtime_ns, status.st_size)


class RecentAnswer(NamedTuple):
    """A whole answer (200) to a request, while it may be sent again."""

    expires: float
    version: FileVersion
    headers: Mapping[str, str]
    body: bytes


class RecentAnswers:
    """The last answer to each recent request (see the module docstring).

    ``follow_links`` says how the file is looked at: ``False`` for a page, which is never a
    symlink (``lstat``); ``True`` for a distribution file, which may be a link within the tree.
    """

    def __init__(
        self,
        *,
        follow_links: bool,
        limit: int = 4096,
        max_bytes: int = RECENT_ANSWER_BYTES,
        ttl: float = RECENT_ANSWER_SECONDS,
    ) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._look = os.stat if follow_links else os.lstat
        self._entries: dict[Hashable, RecentAnswer] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> RecentAnswer | None:
        """Return the answer kept for ``key`` if it may be sent again."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() < entry.expires:
            version = entry.version
            try:
                status = self._look(version.path)
            except OSError:
                status = None
            if (
                status is not None
                and status.st_ino == version.inode
                and status.st_mtime_ns == version.mtime_ns
                and status.st_size == version.size
                and stat.S_ISREG(status.st_mode)
            ):
                return entry
        del self._entries[key]
        self._bytes -= len(entry.body)
        return None

    def put(
        self, key: Hashable, version: FileVersion, headers: Mapping[str, str], body: bytes
    ) -> None:
        """Keep the answer ``headers`` and ``body`` (made from ``version``) for ``key``."""
        if len(body) > self.max_bytes // 8:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(self._entries) >= self.limit or self._bytes + len(body) > self.max_bytes:
            self._entries.clear()
            self._bytes = 0
        expires = time.monotonic() + self.ttl
        self._entries[key] = RecentAnswer(expires, version, headers, body)
        self._bytes += len(body)
