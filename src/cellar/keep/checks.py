"""Examine the files the pages list, in parallel: present, right size, right sha256.

Hashing runs in a thread pool (``hashlib`` releases the GIL while it digests large buffers),
with a bounded number of files in flight; the caller consumes the outcomes in its own thread,
which is the only one that touches the state database, and notes the intact files in a
``ProgressLog`` that commits them to the run's record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import BinaryIO

from cellar.state import MirrorState
from cellar.sync.pages import StoredPage
from cellar.sync.paths import METADATA_SUFFIX
from cellar.tree.atomic import digest_stream
from cellar.tree.inventory import Inventory, Seen
from cellar.tree.paths import OutsideTreeError
from cellar.tree.storage import Storage

#: How often a run commits which files it found intact (what a resumed run skips).
FLUSH_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class FileCheck:
    """A file the pages list, with what they say of it.

    ``size`` is ``None`` for a ``.metadata`` file (pages state only its hash), and
    ``metadata_of`` is then the path of its distribution. ``owners`` are the (project,
    filename) pairs listing it: usually one, more when pages share a file.
    """

    path: str
    sha256: str
    size: int | None
    owners: tuple[tuple[str, str], ...]
    metadata_of: str | None = None


class Status(Enum):
    """What examining a file found."""

    INTACT = "intact"
    SKIPPED = "skipped"
    MISSING = "missing"
    CORRUPT = "corrupt"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A file examined: its status (and why, if bad), its size and mtime, the bytes hashed."""

    check: FileCheck
    status: Status
    cause: str = ""
    size: int = 0
    mtime_ns: int = 0
    hashed: int = 0


@dataclass(frozen=True, slots=True)
class Shortcut:
    """What lets a file pass without hashing: ``(size, mtime_ns)`` pairs known to be good.

    ``trusted`` is the state's record (``--fast`` only); ``verified`` what the resumed run found.
    """

    trusted: tuple[int, int] | None = None
    verified: tuple[int, int] | None = None


def file_checks(pages: Iterable[StoredPage]) -> list[FileCheck]:
    """Return one check per distinct (path, sha256) the pages' listings list, in the pages'
    order (sorting a million of them would cost as much as building them)."""
    found: dict[tuple[str, str], tuple[int | None, str | None, list[tuple[str, str]]]] = {}
    for page in pages:
        if page.listing is None:
            continue
        name = page.name
        for file in page.listing.files:
            path = file.path
            key = (path, file.sha256)
            found.setdefault(key, (file.size, None, []))[2].append((name, file.entry.filename))
            if file.metadata_sha256:
                # metadata_path's, as a string: this runs for every file of the mirror.
                meta = (path + METADATA_SUFFIX, file.metadata_sha256)
                owner = (name, file.entry.filename + METADATA_SUFFIX)
                found.setdefault(meta, (None, path, []))[2].append(owner)
    return [
        FileCheck(path, sha256, size, tuple(owners), metadata_of)
        for (path, sha256), (size, metadata_of, owners) in found.items()
    ]


def listed_by(pages: Iterable[StoredPage]) -> set[str]:
    """Return every mirror path the pages link: their listings and whatever damaged HTML adds."""
    paths: set[str] = set()
    for page in pages:
        paths |= page.extra_paths
        if page.listing is None:
            continue
        for file in page.listing.files:  # listed_paths, inline
            path = file.path
            paths.add(path)
            if file.metadata_sha256:
                paths.add(path + METADATA_SUFFIX)
    return paths


def examine(storage: Storage, walked: Inventory, check: FileCheck, shortcut: Shortcut) -> Outcome:
    """Return what the file ``check`` describes is like in the tree; never raises for bad
    files.

    A file the walk ``walked`` saw is taken as it saw it, and opened where it saw it (the walk
    proved the way in); any other is asked of ``storage``.
    """
    seen = walked.files.get(check.path)
    opener: Callable[[str], BinaryIO | None]
    if seen is not None:
        size, mtime_ns = seen
        opener = walked.open
    else:
        try:
            found = storage.stat(check.path)
        except OutsideTreeError as error:
            return Outcome(check, Status.CORRUPT, f"cannot be read: {error.reason}")
        except OSError as error:
            return Outcome(check, Status.CORRUPT, f"cannot be read: {error.strerror or error}")
        if found is None:  # missing, or not a file (a directory, say)
            return Outcome(check, Status.MISSING, "the file is not there")
        size, mtime_ns = found.size, found.mtime_ns
        opener = storage.open
    judged = _by_marks(check, shortcut, size, mtime_ns)
    if judged is not None:
        return Outcome(check, *judged, size, mtime_ns)
    status, cause, hashed = _hash(opener, check)
    return Outcome(check, status, cause, size, mtime_ns, hashed)


def settle(check: FileCheck, shortcut: Shortcut, seen: Seen) -> Outcome | None:
    """Return the outcome of ``check`` from what a walk saw of its file, if that settles it.

    ``None`` when it does not: the file was not seen as a regular file, or must be hashed;
    ``examine`` then looks at it on its own.
    """
    if seen is None:
        return None
    judged = _by_marks(check, shortcut, *seen)
    if judged is None:
        return None
    status, cause = judged
    return Outcome(check, status, cause, seen[0], seen[1])


def _by_marks(
    check: FileCheck, shortcut: Shortcut, size: int, mtime_ns: int
) -> tuple[Status, str] | None:
    """Judge a regular file by its size and mtime alone; ``None`` if it must be hashed."""
    if shortcut.verified == (size, mtime_ns):
        return Status.SKIPPED, ""
    if check.size is not None and size != check.size:
        return Status.CORRUPT, f"its size is {size} bytes, the page says {check.size}"
    if shortcut.trusted == (size, mtime_ns):
        return Status.INTACT, ""
    return None


def _hash(opener: Callable[[str], BinaryIO | None], check: FileCheck) -> tuple[Status, str, int]:
    """Hash the file: intact or corrupt, why, and the bytes hashed."""
    try:
        stream = opener(check.path)
        if stream is None:
            return Status.MISSING, "the file is not there", 0
        with stream:
            size, digests = digest_stream(stream)
    except (OSError, OutsideTreeError) as error:
        why = error.reason if isinstance(error, OutsideTreeError) else error.strerror or error
        return Status.CORRUPT, f"cannot be read: {why}", 0
    actual = digests["sha256"]
    if actual != check.sha256:
        return Status.CORRUPT, f"its sha256 is {actual}, the page says {check.sha256}", size
    return Status.INTACT, "", size


@dataclass(slots=True)
class CheckPool:
    """Examines files on ``workers`` threads, ``batch`` files a task, at most ``window`` tasks
    per worker in flight.

    A file whose size and mtime settle it costs a ``stat``: handed to a thread one by one, the
    hand-off would cost more than the check. So files go in batches.
    """

    storage: Storage
    walked: Inventory
    workers: int
    window: int = 4
    batch: int = 64
    _pending: set[Future[list[Outcome]]] = field(default_factory=set)

    def run(self, hinted: Iterable[tuple[FileCheck, Shortcut]]) -> Iterator[Outcome]:
        """Yield the outcome of each check (with its shortcut) as it completes (not in order).

        Closing the iterator (or an exception in the caller, such as ``KeyboardInterrupt``)
        cancels the checks not yet started.
        """
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="cellar-verify")
        try:
            for chunk in _chunks(hinted, self.batch):
                while len(self._pending) >= self.workers * self.window:
                    yield from self._collect()
                self._pending.add(pool.submit(self._examine_all, chunk))
            while self._pending:
                yield from self._collect()
        finally:
            self._pending.clear()
            pool.shutdown(wait=True, cancel_futures=True)

    def _examine_all(self, hinted: list[tuple[FileCheck, Shortcut]]) -> list[Outcome]:
        return [examine(self.storage, self.walked, check, shortcut) for check, shortcut in hinted]

    def _collect(self) -> Iterator[Outcome]:
        done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield from future.result()


def _chunks(
    hinted: Iterable[tuple[FileCheck, Shortcut]], size: int
) -> Iterator[list[tuple[FileCheck, Shortcut]]]:
    chunk: list[tuple[FileCheck, Shortcut]] = []
    for pair in hinted:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def shortcut_from(
    previous: Mapping[tuple[str, str], tuple[int, int]],
    trusted: Callable[[FileCheck], tuple[int, int] | None],
) -> Callable[[FileCheck], Shortcut]:
    """Return a check's ``Shortcut``: what the resumed run verified, and ``trusted(check)``
    (the state's record, for ``--fast``)."""

    def shortcut(check: FileCheck) -> Shortcut:
        return Shortcut(trusted(check), previous.get((check.path, check.sha256)))

    return shortcut


def size_of(checks: Iterable[FileCheck]) -> int:
    """Return the bytes the checks' pages state (``.metadata`` files count as 0)."""
    return sum(check.size or 0 for check in checks)


@dataclass(slots=True)
class ProgressLog:
    """Intact files of run ``run_id`` not yet committed to the state.

    Committed every ``FLUSH_SECONDS`` (one transaction, not one per file: per-file commits
    cost more than checking a file's size and mtime) and when the examination ends, whether
    it finished or was interrupted; a SIGKILL loses at most the last interval.
    """

    state: MirrorState
    run_id: int
    rows: list[tuple[str, str, int, int]] = field(default_factory=list)
    due: float = 0.0

    def add(self, path: str, sha256: str, size: int, mtime_ns: int) -> None:
        """Note a file found intact; commit what is noted if the interval is up."""
        self.rows.append((path, sha256, size, mtime_ns))
        if time.monotonic() >= self.due:
            self.flush()

    def flush(self) -> None:
        """Commit what is noted now."""
        if self.rows:
            self.state.record_verified(self.run_id, self.rows)
            self.rows = []
        self.due = time.monotonic() + FLUSH_SECONDS
