"""Room on the mirror's disk: a file is downloaded only if it leaves ``[mirror] keep-free``.

On a nearly full disk the first thing to hit the wall must never be the state database, nor the
pages of what was downloaded: then the whole run would end with nothing published. So each
download first asks for its stated size (the downloads in flight count as taken); one that
would leave less than ``keep_free`` bytes fails alone, naming the numbers, and the run goes on
to publish what is complete. ``keep_free = 0`` turns the check off (the disk's own limit is
then the only one).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cellar.sync.errors import SyncFileError
from cellar.units import human_bytes

log = logging.getLogger("cellar.sync")


class NoSpaceError(SyncFileError):
    """A file not downloaded because it would leave less than ``keep_free`` bytes free."""

    def __init__(
        self, project: str, filename: str, *, free: int, size: int, keep_free: int
    ) -> None:
        super().__init__(
            project,
            filename,
            f"not downloaded: {human_bytes(free)} free on the mirror's disk, the file needs "
            f"{human_bytes(size)} and [mirror] keep-free keeps {human_bytes(keep_free)} for the "
            "state and pages; free some space (or lower keep-free) and run again",
        )
        self.free = free
        self.size = size
        self.keep_free = keep_free


#: How long a measure of the free space is trusted, and from how near the limit it is not.
MEASURE_EVERY = 0.5
NEAR_LIMIT = 256 << 20


@dataclass(slots=True)
class DiskSpace:
    """The free space of the file system holding ``root``, less the downloads in flight.

    Measured at most every ``MEASURE_EVERY`` seconds while far from the limit (thousands of
    small files a second would otherwise cost a ``statvfs`` each), less what was downloaded
    since; near the limit, for every file.
    """

    root: Path
    keep_free: int
    reserved: int = 0
    _measured: int = 0
    _measured_at: float = float("-inf")
    #: Bytes of downloads finished since the last measure.
    _written: int = 0

    def free(self) -> int:
        """Return the bytes free for Cellar on ``root``'s file system now."""
        return shutil.disk_usage(self.root).free

    def warn_if_low(self) -> None:
        """Log a warning if the disk is already below the margin (before a run)."""
        if self.keep_free and (free := self.free()) < self.keep_free:
            log.warning(
                "only %s free on the mirror's disk (%s), less than [mirror] keep-free (%s): "
                "no file will be downloaded until space is freed",
                human_bytes(free),
                self.root,
                human_bytes(self.keep_free),
            )

    @contextmanager
    def room_for(self, project: str, filename: str, size: int | None) -> Iterator[None]:
        """Hold ``size`` bytes for a download while it runs; raise ``NoSpaceError`` if they
        would leave less than ``keep_free`` free."""
        if not self.keep_free:
            yield
            return
        need = size or 0
        free = self._estimate() - self.reserved
        if free - need < self.keep_free + NEAR_LIMIT:
            self._measure()
            free = self._measured - self.reserved
        if free - need < self.keep_free:
            raise NoSpaceError(project, filename, free=free, size=need, keep_free=self.keep_free)
        self.reserved += need
        try:
            yield
        finally:
            self.reserved -= need
            self._written += need

    def _estimate(self) -> int:
        if time.monotonic() - self._measured_at > MEASURE_EVERY:
            self._measure()
        return self._measured - self._written

    def _measure(self) -> None:
        self._measured, self._measured_at, self._written = self.free(), time.monotonic(), 0
