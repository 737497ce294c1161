"""Whole answers to repeated requests, sent again while the file they came from is unchanged.

Most requests a mirror's server gets are the same few requests over and over: the pages of
popular projects in the two or three forms clients ask for, and their small files. Working such
an answer out (negotiation, path checks, an open and a read, headers) costs several times
sending it. ``RecentAnswers`` keeps the last whole answer (status 200, headers, body) to each
recent request, by what decided it (the caller's key: path and query, and the headers that
choose the representation); a repeat costs one check that the object it came from is unchanged
(``Resource.current``: one ``stat`` of a local file).

An answer is never stale: an object replaced since (locally: another inode, mtime or size),
removed, or no longer a regular file is looked up afresh. What the time limit (``ttl``) bounds
is the rest of the lookup: a representation the client prefers that appeared since, or a
symlink put on the way to the file, is seen within that time. Requests with conditions or
ranges are not kept: their answers depend on more than the key. Bounded in entries and bytes
(all are forgotten when either is full). For the event loop's thread only.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from typing import Final, NamedTuple

from cellar.tree.storage import Resource

#: How long an answer is sent again without a full lookup (its file is checked every time).
RECENT_ANSWER_SECONDS: Final = 1.0
#: What the bodies kept may take in one server process.
RECENT_ANSWER_BYTES: Final = 64 * 1024 * 1024


class RecentAnswer(NamedTuple):
    """A whole answer (200) to a request, while it may be sent again."""

    expires: float
    version: Resource
    headers: Mapping[str, str]
    body: bytes


class RecentAnswers:
    """The last answer to each recent request (see the module docstring)."""

    def __init__(
        self,
        *,
        limit: int = 4096,
        max_bytes: int = RECENT_ANSWER_BYTES,
        ttl: float = RECENT_ANSWER_SECONDS,
    ) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._entries: dict[Hashable, RecentAnswer] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> RecentAnswer | None:
        """Return the answer kept for ``key`` if it may be sent again."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() < entry.expires and entry.version.current():
            return entry
        del self._entries[key]
        self._bytes -= len(entry.body)
        return None

    def put(
        self, key: Hashable, version: Resource, headers: Mapping[str, str], body: bytes
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
