"""One ``cellar mirror`` at a time per mirror directory: an exclusive lock that names its holder.

The lock is an ``flock`` on ``<directory>/.cellar/lock``; the kernel releases it when the
holding process dies, so a lock left by a killed run is never stale. The file's text says who
holds it (pid, host, start time) so a refused run can tell the operator which process to wait for.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from cellar.errors import CellarError


class LockHeldError(CellarError):
    """Another process holds the mirror's lock; ``holder`` says which, if it could be read."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(
            f"another cellar process is working on this mirror ({holder}); "
            f"wait for it to finish or stop it (lock file: {path})"
        )
        self.path = path
        self.holder = holder


class MirrorDirectoryError(CellarError):
    """The mirror directory cannot be made or written (a set-up problem, exit code 2)."""

    def __init__(self, directory: Path, reason: str) -> None:
        super().__init__(
            f"[mirror] directory {directory} cannot be used: {reason}; "
            "choose a directory Cellar may create and write"
        )
        self.directory = directory
        self.reason = reason


@dataclass(slots=True)
class MirrorLock:
    """The exclusive lock on a mirror directory; use as a context manager."""

    path: Path
    _fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting. Raises ``LockHeldError`` if another process has it,
        ``MirrorDirectoryError`` if the mirror's directory cannot be made or written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            mirror = self.path.parent.parent  # <directory>/.cellar/lock
            raise MirrorDirectoryError(mirror, error.strerror or str(error)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise LockHeldError(self.path, holder) from None
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the file stays, empty, for the next run)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> MirrorLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _describe(raw: bytes) -> str:
    try:
        record = json.loads(raw)
        return f"pid {record['pid']} on {record['host']}, running since {record['since']}"
    except (ValueError, KeyError, TypeError):
        return "a process that did not say who it is"
