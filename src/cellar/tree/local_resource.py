"""``LocalResource``: an object of a local tree as a server found it (``Storage.find``).

A server looks up an object for every request, so the lookup costs only what it must: the key is
checked as text (an empty, hidden, NUL- or backslash-bearing segment is no key a client may ask
for; ``..`` is hidden), then one ``lstat`` per segment (``tree.paths.lstat_within``: a symlink
on the way is followed only when the whole path stays in the tree). No open: the bytes are read
when an answer needs them, from the file opened then, which may be a newer version than the one
found (the mirror replaces pages by rename while the server runs): ``read`` says which.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Final, NamedTuple

from cellar.tree.paths import lstat_within

_READ_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
#: A final symlink is not followed where links are not: a page is a file the mirror wrote.
_NO_LINK_FLAGS: Final = _READ_FLAGS | getattr(os, "O_NOFOLLOW", 0)
_CHUNK: Final = 256 * 1024


class LocalResource(NamedTuple):
    """One version of the file at ``key`` (``path``): replacing it by rename makes a new
    inode. ``links``: whether a final symlink was followed to find it."""

    key: str
    path: str
    inode: int
    mtime_ns: int
    size: int
    links: bool

    @classmethod
    def of(cls, key: str, path: str, status: os.stat_result, *, links: bool) -> LocalResource:
        """Return the version of ``path`` that ``status`` (of the file) describes."""
        return cls(key, path, status.st_ino, status.st_mtime_ns, status.st_size, links)

    @property
    def tag(self) -> str:
        return f"{self.inode:x}-{self.mtime_ns:x}-{self.size:x}"

    @property
    def location(self) -> None:
        return None

    def current(self) -> bool:
        try:
            status = os.stat(self.path) if self.links else os.lstat(self.path)  # noqa: PTH116
        except OSError:
            return False
        return (
            status.st_ino == self.inode
            and status.st_mtime_ns == self.mtime_ns
            and status.st_size == self.size
            and stat.S_ISREG(status.st_mode)
        )

    def read(self) -> tuple[LocalResource, bytes] | None:
        try:
            # Non-blocking, so a FIFO put in place of a file cannot hang; regular files read
            # as usual.
            with os.fdopen(os.open(self.path, self._flags), "rb") as file:
                status = os.fstat(file.fileno())
                if not stat.S_ISREG(status.st_mode):
                    return None
                opened = self if self._same(status) else self._as(status)
                return opened, file.read()
        except OSError:  # gone, a directory, a name too long, unreadable: not there
            return None

    def chunks(self, start: int, stop: int) -> Iterator[bytes]:
        with os.fdopen(os.open(self.path, self._flags), "rb") as file:
            if not self._same(os.fstat(file.fileno())):
                raise FileNotFoundError(f"{self.path} was replaced while being sent")
            file.seek(start)
            left = stop - start
            while left > 0 and (chunk := file.read(min(_CHUNK, left))):
                left -= len(chunk)
                yield chunk

    @property
    def _flags(self) -> int:
        return _READ_FLAGS if self.links else _NO_LINK_FLAGS

    def _same(self, status: os.stat_result) -> bool:
        return (status.st_ino, status.st_mtime_ns, status.st_size) == (
            self.inode,
            self.mtime_ns,
            self.size,
        )

    def _as(self, status: os.stat_result) -> LocalResource:
        return LocalResource.of(self.key, self.path, status, links=self.links)


def find_local(root: str, key: str, *, links: bool = True) -> LocalResource | None:
    """Return the regular file at ``key`` below ``root`` (see ``Storage.find``)."""
    segments = key.split("/")
    if any(not s or s[0] == "." or "\x00" in s or "\\" in s for s in segments):
        return None
    status = lstat_within(root, segments, follow_last=links)
    if status is None or not stat.S_ISREG(status.st_mode):
        return None
    path = os.sep.join((root, *segments))  # noqa: PTH118 - strings: a lookup per request
    return LocalResource.of(key, path, status, links=links)
