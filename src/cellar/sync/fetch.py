"""Put one distribution file (and its PEP 658 metadata file) in place, verified.

A file already in place with the right size and hash is kept: the state's record answers
without reading the file when size and mtime still match, else the file is hashed. Anything
else is downloaded, checked against the index's size and hashes, and only then renamed into
place from a temporary name beside it: a large file streamed to that name; a small one (most
of a mirror: metadata files, pure wheels) held in memory and written, directories and all,
in one call in a worker thread, so that the event loop never waits on making directories and
files, the slowest part of a cold run on many filesystems.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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
from cellar.tree.paths import OutsideTreeError, within
from cellar.tree.storage import (
    file_size,
    finish_file,
    hash_file,
    place_bytes,
    resume_path,
    temp_path,
)
from cellar.upstream.client import Download, UpstreamClient
from cellar.upstream.errors import ResponseTooLargeError, UpstreamError

#: A partial download smaller than this is not worth keeping to resume.
RESUME_MIN = 1 << 20
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
    web_root: Path
    on_progress: Callable[[int], None] | None = None
    #: Partial downloads kept for resuming (the engine sweeps every other ``.part`` file).
    partials: set[Path] = field(default_factory=set)
    #: The free space each download must leave (None: no check).
    space: DiskSpace | None = None
    #: Parent directories this run made or found, so not made again.
    directories: set[Path] = field(default_factory=set)
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
        """Download a file and put it in place. A ``small`` one (under RESUME_MIN as stated,
        or a metadata file) is held in memory and written in one call off the event loop,
        directory and all: made, written, synced and renamed in a worker thread. Making
        directories and creating files are the slow part of a cold run on many filesystems,
        and the loop must not wait on them."""
        project, filename, url, path = wanted.project, wanted.filename, wanted.url, wanted.path
        hashes, size = wanted.hashes, wanted.size
        directory = within(self.web_root, path.parent if path is not None else "packages")
        if not small:
            self._make_directory(directory)
        expected = hashes.get("sha256")
        # A file whose sha256 is known gets a stable temporary name: a transfer cut short, or a
        # run killed mid-file, leaves it to be resumed with Range by the next attempt or run.
        resumable = path is not None and expected is not None and not small
        temp = (
            resume_path(directory, filename, expected)
            if expected is not None and resumable
            else temp_path(directory, filename)
        )
        keep = placed = False
        try:
            try:
                download = await self.client.download(
                    url,
                    temp,
                    algorithms=_algorithms(hashes),
                    on_progress=self.on_progress,
                    resume=resumable,
                    max_size=size,
                    spool=RESUME_MIN if small else 0,
                )
            except ResponseTooLargeError as error:
                raise SyncFileError(project, filename, str(error)) from error
            except UpstreamError as error:
                keep = resumable
                raise SyncFileError(project, filename, str(error)) from error
            except asyncio.CancelledError:
                keep = resumable
                raise
            _verify(project, filename, url, expected=(size, hashes), actual=download)
            final, mtime_ns = await self._put(download, wanted, directory, temp)
            placed = True
        except OSError as error:
            where = error.filename or temp
            raise SyncFileError(
                project, filename, f"cannot write {where}: {error.strerror or error}"
            ) from error
        finally:
            if placed:
                pass  # renamed into place: nothing of it is left
            elif keep and file_size(temp) >= RESUME_MIN:
                self.partials.add(temp)
            else:
                temp.unlink(missing_ok=True)
        sha256 = download.digests["sha256"]
        self._remember(FileRecord(str(final), project, sha256, download.size, mtime_ns, url))
        return Placed(final, sha256, download.size, added=True)

    async def _put(
        self, download: Download, wanted: _Wanted, directory: Path, temp: Path
    ) -> tuple[PurePosixPath, int]:
        """Move a verified download into its place; return its mirror path and mtime."""
        if wanted.path is not None:
            final, local = wanted.path, directory / wanted.path.name
        else:
            final = content_path(download.digests["sha256"], wanted.filename)
            local = within(self.web_root, final)
            if download.body is None:
                self._make_directory(local.parent)
        # Synced and renamed off the event loop: other downloads go on meanwhile.
        if download.body is not None:
            # The download's own temporary name, when it is beside the file's place.
            beside = temp if temp.parent == local.parent else temp_path(local.parent, local.name)
            missing = self._to_make(local.parent)
            return final, await asyncio.to_thread(
                place_bytes, beside, local, download.body, missing
            )
        return final, await asyncio.to_thread(finish_file, temp, local)

    def _to_make(self, directory: Path) -> tuple[Path, ...]:
        """Return the directories to make for ``directory``, parents first: those not known
        to exist, each made by one ``mkdir`` and none tried in vain. Its parents are taken as
        made from now on; ``directory`` itself (a file's own, in PyPI's layout) is not
        remembered."""
        missing = [directory]
        parent = directory.parent
        while parent not in self.directories and parent not in (self.web_root, parent.parent):
            self.directories.add(parent)
            missing.append(parent)
            parent = parent.parent
        return tuple(reversed(missing))

    async def _present(self, wanted: _Wanted, path: PurePosixPath) -> Placed | None:
        """Return the file at ``path`` if it is there with the right size and hashes."""
        project, url, hashes, size = wanted.project, wanted.url, wanted.hashes, wanted.size
        try:
            # A missing file (every file of a first run) costs one stat: the checks of every
            # directory on the way are for a file that is there, to be trusted or read.
            (self.web_root / path).stat()
        except FileNotFoundError:
            return None
        except OSError:
            pass  # the checks below say what is wrong
        local = within(self.web_root, path)
        try:
            stat = local.stat()
        except FileNotFoundError:
            return None
        if size is not None and stat.st_size != size:
            return None
        record = self.state.file(str(path))
        expected = hashes.get("sha256")
        if (
            record is not None
            and record.size == stat.st_size
            and record.mtime_ns == stat.st_mtime_ns
            and (expected is None or record.sha256 == expected.lower())
        ):
            return Placed(path, record.sha256, record.size, added=False)
        actual_size, digests = await asyncio.to_thread(hash_file, local, _algorithms(hashes))
        if any(digests[name] != value.lower() for name, value in hashes.items() if name in digests):
            return None
        sha256 = digests["sha256"]
        self._remember(FileRecord(str(path), project, sha256, actual_size, stat.st_mtime_ns, url))
        return Placed(path, sha256, actual_size, added=False)

    def _make_directory(self, directory: Path) -> None:
        """``mkdir -p directory`` in one call when its parent is known to exist (the files of a
        run share ``packages/<aa>/<bb>/``; only parents are remembered, a few thousand)."""
        if directory.parent not in self.directories:
            directory.parent.mkdir(parents=True, exist_ok=True)
            self.directories.add(directory.parent)
        try:
            directory.mkdir(exist_ok=True)
        except FileNotFoundError:
            # Known only as promised: a small file's worker thread (``_to_make``) has yet to
            # make it.
            directory.mkdir(parents=True, exist_ok=True)

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
