"""Put one distribution file (and its PEP 658 metadata file) in place, verified.

A file already in place with the right size and hash is kept: the state's record answers
without reading the file when size and mtime still match, else the file is hashed. Anything
else is downloaded into a staged write of the ``Storage`` (``Storage.stage``), checked against
the index's size and hashes, and only then committed: a large file streamed to its stage; a
small one (most of a mirror: metadata files, pure wheels) held in memory and committed in one
call in a worker thread, so that the event loop never waits on making directories and files,
the slowest part of a cold run on many filesystems.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from cellar.model import DistFile
from cellar.state import FileRecord, MirrorState
from cellar.sync.errors import (
    DigestMismatchError,
    SizeMismatchError,
    SyncFileError,
    UnsafePathError,
)
from cellar.sync.paths import content_path, metadata_path, mirror_path
from cellar.sync.space import DiskSpace
from cellar.tree.atomic import digest_stream
from cellar.tree.local import RESUME_MIN
from cellar.tree.paths import OutsideTreeError
from cellar.tree.storage import Storage
from cellar.upstream.client import Download, UpstreamClient
from cellar.upstream.errors import ResponseTooLargeError, UpstreamError

#: Small files (under RESUME_MIN) held in memory at once, downloaded and not yet written.
SPOOLED_FILES = 64
#: Records of placed files are written this many at once, or after this many seconds.
FLUSH_EVERY = 200
FLUSH_AFTER = 0.25


@dataclass(frozen=True, slots=True)
class Placed:
    """A file in place: its mirror path, sha256 and size, and whether this run added it."""

    path: PurePosixPath
    sha256: str
    size: int
    added: bool


@dataclass(frozen=True, slots=True)
class _Wanted:
    """A file to put in place: for ``project``, from ``url``, at ``path`` (None: by content),
    with the hashes and size the index states."""

    project: str
    filename: str
    url: str
    path: PurePosixPath | None
    hashes: Mapping[str, str]
    size: int | None


@dataclass(slots=True)
class FileFetcher:
    """Everything needed to put files in place under ``web_root``."""

    client: UpstreamClient
    state: MirrorState
    storage: Storage
    on_progress: Callable[[int], None] | None = None
    #: Partial downloads kept for resuming (``Staged.discard``'s ids; the engine sweeps the rest).
    partials: set[str] = field(default_factory=set)
    #: The free space each download must leave (None: no check).
    space: DiskSpace | None = None
    #: Small files held in memory between their download and their write (``_download``).
    spooled: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SPOOLED_FILES))
    #: Records of files placed, not yet written to the state (``flush``), and when last written.
    pending: list[FileRecord] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)

    async def place(self, project: str, entry: DistFile) -> Placed:
        """Ensure ``entry`` is in the mirror and return where; raise ``SyncFileError`` if not."""
        path = mirror_path(project, entry, entry.sha256)
        return await self._place(
            project, entry.filename, entry.url, path, hashes=entry.hashes, size=entry.size
        )

    async def place_metadata(self, project: str, entry: DistFile, path: PurePosixPath) -> Placed:
        """Ensure the PEP 658 metadata file of ``entry`` (at ``path``) is beside it."""
        assert entry.core_metadata is not None  # callers check  # noqa: S101
        return await self._place(
            project,
            entry.filename + ".metadata",
            entry.url + ".metadata",
            metadata_path(path),
            hashes=entry.core_metadata,
            size=None,
        )

    async def _place(
        self,
        project: str,
        filename: str,
        url: str,
        path: PurePosixPath | None,
        *,
        hashes: Mapping[str, str],
        size: int | None,
    ) -> Placed:
        wanted = _Wanted(project, filename, url, path, hashes, size)
        try:
            if path is not None:
                kept = await self._present(wanted, path)
                if kept is not None:
                    return kept
            small = (size is not None and size < RESUME_MIN) or filename.endswith(".metadata")
            # At most SPOOLED_FILES small files are held in memory at once (downloaded, not yet
            # written): a disk slower than the network does not make them pile up.
            held = self.spooled if small else nullcontext()
            with self.space.room_for(project, filename, size) if self.space else nullcontext():
                async with held:
                    return await self._download(wanted, small=small)
        except OutsideTreeError as error:  # a symlink in the tree leading out of it
            raise UnsafePathError(project, filename, url, error.reason) from error

    async def _download(self, wanted: _Wanted, *, small: bool) -> Placed:
        """Download a file into a staged write and commit it once verified. A ``small`` one
        (under RESUME_MIN as stated, or a metadata file) is held in memory and committed in
        one call off the event loop, directory and all."""
        project, filename, url, path = wanted.project, wanted.filename, wanted.url, wanted.path
        hashes, size = wanted.hashes, wanted.size
        expected = hashes.get("sha256")
        # A file whose sha256 is known is staged under it: a transfer cut short, or a run
        # killed mid-file, leaves it to be resumed with Range by the next attempt or run.
        resume = expected.lower() if path is not None and expected and not small else None
        # Where its key can only be known from its bytes, staged beside the packages.
        key = str(path) if path is not None else f"packages/{filename}"
        staged = self.storage.stage(key, resume=resume, spool=RESUME_MIN if small else 0)
        keep = placed = False
        try:
            try:
                download = await self.client.download(
                    url,
                    staged,
                    algorithms=_algorithms(hashes),
                    on_progress=self.on_progress,
                    max_size=size,
                )
            except ResponseTooLargeError as error:
                raise SyncFileError(project, filename, str(error)) from error
            except UpstreamError as error:
                keep = True  # a transfer cut short: what came may be resumed
                raise SyncFileError(project, filename, str(error)) from error
            except asyncio.CancelledError:
                keep = True
                raise
            _verify(project, filename, url, expected=(size, hashes), actual=download)
            final = path or content_path(download.digests["sha256"], filename)
            info = await asyncio.to_thread(staged.commit, None if path else str(final))
            placed = True
        except OSError as error:
            where = error.filename or key
            raise SyncFileError(
                project, filename, f"cannot write {where}: {error.strerror or error}"
            ) from error
        finally:
            if not placed:
                partial = staged.discard(keep=keep)
                if partial is not None:
                    self.partials.add(partial)
        sha256 = download.digests["sha256"]
        self._remember(FileRecord(str(final), project, sha256, download.size, info.mtime_ns, url))
        return Placed(final, sha256, download.size, added=True)

    async def _present(self, wanted: _Wanted, path: PurePosixPath) -> Placed | None:
        """Return the file at ``path`` if it is there with the right size and hashes."""
        project, url, hashes, size = wanted.project, wanted.url, wanted.hashes, wanted.size
        key = str(path)
        info = self.storage.stat(key)
        if info is None or (size is not None and info.size != size):
            return None
        record = self.state.file(key)
        expected = hashes.get("sha256")
        if (
            record is not None
            and record.size == info.size
            and record.mtime_ns == info.mtime_ns
            and (expected is None or record.sha256 == expected.lower())
        ):
            return Placed(path, record.sha256, record.size, added=False)
        found = await asyncio.to_thread(_hash_object, self.storage, key, _algorithms(hashes))
        if found is None:
            return None
        actual_size, digests = found
        if any(digests[name] != value.lower() for name, value in hashes.items() if name in digests):
            return None
        sha256 = digests["sha256"]
        self._remember(FileRecord(key, project, sha256, actual_size, info.mtime_ns, url))
        return Placed(path, sha256, actual_size, added=False)

    def _remember(self, record: FileRecord) -> None:
        self.pending.append(record)
        # In batches, but never long unrecorded: a run killed now loses at most a moment's
        # records (and those files are only hashed again, not downloaded).
        now = time.monotonic()
        if len(self.pending) >= FLUSH_EVERY or now - self.flushed_at > FLUSH_AFTER:
            self.flush()

    def flush(self) -> None:
        """Record every file placed since the last flush, in one transaction.

        Records not flushed (a killed run) cost only a hash of the file on the next run."""
        if self.pending:
            self.state.record_files(self.pending)
            self.pending.clear()
        self.flushed_at = time.monotonic()


def _algorithms(hashes: Mapping[str, str]) -> set[str]:
    """Return sha256 (the mirror's own pages state it) and every stated algorithm hashlib has."""
    return {"sha256"} | {name for name in hashes if name in hashlib.algorithms_guaranteed}


def _verify(
    project: str,
    filename: str,
    url: str,
    *,
    expected: tuple[int | None, Mapping[str, str]],
    actual: Download,
) -> None:
    """Raise if the downloaded size or any hash differs from what the index states."""
    size, hashes = expected
    if size is not None and actual.size != size:
        raise SizeMismatchError(project, filename, url, size, actual.size)
    for algorithm, value in hashes.items():
        digest = actual.digests.get(algorithm)
        if digest is not None and digest != value.lower():
            raise DigestMismatchError(
                project, filename, url, algorithm=algorithm, expected=value, actual=digest
            )


def _hash_object(
    storage: Storage, key: str, algorithms: set[str]
) -> tuple[int, Mapping[str, str]] | None:
    """Return the size and hex digests of the object at ``key``; None when it is gone."""
    stream = storage.open(key)
    if stream is None:
        return None
    with stream:
        return digest_stream(stream, algorithms)
