"""``LocalStorage``: the mirror's tree as a directory on a local filesystem.

An object is a file at its key below the root, reached only through ``tree.paths.within`` (no
``..``, no absolute path, no symlink leading out). Every write goes to a temporary name beside
the file (``.<name>.<hex>.part``), is synced, made readable by a web server and renamed into
place; a set of pages is synced whole before the first rename, and their directories synced
after, so that a power loss cannot take a published page back. A download is staged at a
temporary name (a stable one when its sha256 is known, so that a cut transfer or a killed run
is resumed) or, when small, in memory, and written with its directories in one call at commit.

A file's directory is not synced after its rename: on filesystems that journal metadata in
order (ext4, XFS) the sync of the pages that list it, which comes later, makes that rename
durable first; elsewhere, ``cellar verify`` finds a file a power loss took back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cellar.tree.atomic import (
    TEMP_SUFFIX,
    atomic_write_all,
    file_size,
    fsync_directory,
    is_temp_name,
    open_quietly,
    resume_path,
    sweep_temporaries,
    temp_path,
)
from cellar.tree.disk import remove_empty_dirs
from cellar.tree.inventory import WRITTEN_ELSEWHERE, Inventory, take_inventory
from cellar.tree.local_resource import LocalResource, find_local
from cellar.tree.paths import OutsideTreeError, UnsafeNameError, path_segments, within
from cellar.tree.storage import ObjectInfo

#: A partial download smaller than this is not worth keeping to resume.
RESUME_MIN = 1 << 20
_CHUNK = 1 << 20


def info_of(key: str, found: os.stat_result) -> ObjectInfo:
    """Return the ``ObjectInfo`` of the file at ``key`` as ``stat`` found it."""
    version = f"{found.st_size}:{found.st_mtime_ns}:{found.st_ctime_ns}"
    return ObjectInfo(key, found.st_size, found.st_mtime_ns, version)


@dataclass(slots=True)
class LocalStorage:
    """The tree below ``root`` (a mirror's ``web/``). Not thread-safe to construct; its
    methods may be called from worker threads (blocking) and its staged writes committed
    there, several at once."""

    root: Path
    #: Directories known to exist (made, or promised to a commit that makes them), so that a
    #: cold run makes each once and tries none in vain.
    _directories: set[Path] = field(default_factory=set)

    @property
    def local(self) -> bool:
        return True

    def path(self, key: str) -> Path:
        """Return the file of ``key``; raises ``OutsideTreeError`` for a key that would leave
        the tree (see ``within``)."""
        return within(self.root, key)

    def stat(self, key: str) -> ObjectInfo | None:
        # A missing file (every file of a first run) costs one stat once its key is checked
        # as text: the checks of each directory on the way are for a file that is there.
        parts = path_segments(self.root, key)
        try:
            self.root.joinpath(*parts).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            pass  # the checks below say what is wrong
        try:
            found = self.path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return info_of(key, found) if stat.S_ISREG(found.st_mode) else None

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def open(self, key: str) -> BinaryIO | None:
        try:
            return open_quietly(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def put(self, objects: Mapping[str, bytes], *, unchanged: bool = False) -> list[str]:
        paths = {key: self.path(key) for key in objects}
        changed = {
            key: body for key, body in objects.items() if unchanged or _bytes_of(paths[key]) != body
        }
        atomic_write_all({paths[key]: body for key, body in changed.items()})
        return list(changed)

    def find(self, key: str, *, links: bool = True) -> LocalResource | None:
        return find_local(os.fspath(self.root), key, links=links)

    def stage(self, key: str, *, resume: str | None = None, spool: int = 0) -> LocalStaged:
        final = self.path(key)
        directory = final.parent
        temp = (
            resume_path(directory, final.name, resume)
            if resume is not None
            else temp_path(directory, final.name)
        )
        return LocalStaged(self, key, final, temp, resumable=resume is not None, spool=spool)

    def delete(self, keys: Iterable[str]) -> tuple[list[str], int]:
        """Remove the files of ``keys`` (a key that would leave the tree is skipped: never
        Cellar's to remove), then what a write cut short left beside them, then the
        directories this leaves empty. Raises ``OSError`` if a file exists but cannot be
        removed. Call it under the mirror's lock: then no write is in flight."""
        removed: list[str] = []
        size = 0
        parents: set[Path] = set()
        for key in keys:
            try:
                path = self.path(key)
                found = path.stat()
                path.unlink()
            except (OutsideTreeError, UnsafeNameError, FileNotFoundError, NotADirectoryError):
                continue
            removed.append(key)
            size += found.st_size
            parents.add(path.parent)
        for parent in parents:
            _remove_leftovers(parent)
        remove_empty_dirs(self.root, parents)
        return removed, size

    def move(self, key: str, to: str) -> bool:
        source, target = self.path(key), self.path(to)
        if not source.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
        fsync_directory(target.parent)
        fsync_directory(source.parent)
        return True

    def create(self, key: str, body: bytes) -> bool:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked into place: a link fails if the
        # name exists, and a reader never sees the object half written. Not synced: a lease
        # (its one use) that a crash of the machine loses is one nobody holds any more.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.create")
        try:
            temporary.write_bytes(body)
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
        finally:
            temporary.unlink(missing_ok=True)
        return True

    def objects(self, prefix: str) -> Iterator[ObjectInfo]:
        top = self.path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        start = prefix if prefix.endswith("/") or not prefix else f"{prefix}/"
        yield from _walk(top, start)

    def inventory(self, page_files: tuple[str, ...] = ()) -> Inventory:
        return take_inventory(self.root, page_files)

    def folders(self, prefix: str) -> list[str]:
        try:
            directory = self.path(prefix.rstrip("/")) if prefix.strip("/") else self.root
            with os.scandir(directory) as entries:
                # A symlink is not followed: what it leads to is not the mirror's.
                return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        except (NotADirectoryError, FileNotFoundError):
            return []

    def sweep(self) -> tuple[int, list[str]]:
        removed, partials = sweep_temporaries(self.root, WRITTEN_ELSEWHERE)
        return removed, [path.relative_to(self.root).as_posix() for path in partials]

    def drop_partials(self, partials: Iterable[str]) -> int:
        dropped = 0
        for partial in partials:
            name = partial.rpartition("/")[2]
            if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                continue  # never an object: only what ``discard`` and ``sweep`` name
            try:
                self.path(partial).unlink()
            except (OSError, ValueError):
                continue
            dropped += 1
        return dropped

    def local_path(self, key: str) -> Path | None:
        path = self.path(key)
        return path if path.is_file() else None

    def free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return None

    def close(self) -> None:
        pass

    def make_directory(self, directory: Path) -> None:
        """``mkdir -p directory`` in one call when its parent is known to exist (the files of
        a run share ``packages/<aa>/<bb>/``; only parents are remembered, a few thousand)."""
        if directory.parent not in self._directories:
            directory.parent.mkdir(parents=True, exist_ok=True)
            self._directories.add(directory.parent)
        try:
            directory.mkdir(exist_ok=True)
        except FileNotFoundError:
            # Known only as promised: a small file's commit (``to_make``) has yet to make it.
            directory.mkdir(parents=True, exist_ok=True)

    def to_make(self, directory: Path) -> tuple[Path, ...]:
        """Return the directories to make for ``directory``, parents first: those not known
        to exist, each made by one ``mkdir`` and none tried in vain. Its parents are taken as
        made from now on; ``directory`` itself (a file's own, in PyPI's layout) is not
        remembered."""
        missing = [directory]
        parent = directory.parent
        while parent not in self._directories and parent not in (self.root, parent.parent):
            self._directories.add(parent)
            missing.append(parent)
            parent = parent.parent
        return tuple(reversed(missing))


@dataclass(slots=True)
class LocalStaged:
    """A staged write of one file (see ``Storage.stage``): memory up to ``spool`` bytes, else
    the temporary file ``temp`` beside the file's place."""

    storage: LocalStorage
    key: str
    final: Path
    temp: Path
    resumable: bool
    spool: int
    _held: bytearray | None = None
    _file: BinaryIO | None = None
    _append: bool = False
    _spilled: bool = False

    def held(self) -> int:
        return file_size(self.temp) if self.resumable else 0

    def held_chunks(self) -> Iterator[bytes]:
        with self.temp.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                yield chunk

    def begin(self, offset: int) -> None:
        self.end()
        self._append = offset > 0
        self._held = bytearray() if self.spool and not self.resumable else None
        if not offset and self.resumable:
            self.temp.unlink(missing_ok=True)  # what is there cannot be continued

    def write(self, chunk: bytes) -> None:
        if self._held is not None and len(self._held) + len(chunk) <= self.spool:
            self._held += chunk
            return
        self._open().write(chunk)

    def end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._held is not None and self._spilled:
            # The body is in memory; an earlier attempt's file is not part of it.
            self.temp.unlink(missing_ok=True)
            self._spilled = False

    def in_memory(self) -> bytes | None:
        """Return the body when it is all held in memory (nothing of it on disk); None when
        it went to the temporary file. Call it after ``end``."""
        return bytes(self._held) if self._held is not None and not self._spilled else None

    def commit(self, key: str | None = None) -> ObjectInfo:
        self.end()
        final = self.final if key is None else self.storage.path(key)
        if self._held is not None:
            # Written here, directories and all: the temporary name is only ever on disk
            # between these calls.
            missing = self.storage.to_make(final.parent)
            beside = (
                self.temp
                if self.temp.parent == final.parent
                else temp_path(final.parent, final.name)
            )
            found = _place_bytes(beside, final, bytes(self._held), missing)
        else:
            if final.parent != self.temp.parent:
                self.storage.make_directory(final.parent)
            found = _finish_file(self.temp, final)
        return info_of(self.key if key is None else key, found)

    def discard(self, *, keep: bool = False) -> str | None:
        self.end()
        if keep and self.resumable and file_size(self.temp) >= RESUME_MIN:
            return self.temp.relative_to(self.storage.root).as_posix()
        self.temp.unlink(missing_ok=True)
        return None

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.storage.make_directory(self.temp.parent)
            self._file = self.temp.open("ab" if self._append else "wb")
            self._spilled = True
            if self._held:
                self._file.write(self._held)
            self._held = None
        return self._file


@dataclass(slots=True)
class FileSink:
    """A ``Sink`` that is a plain local file outside the tree (a download read, not kept)."""

    path: Path
    _file: BinaryIO | None = None

    def held(self) -> int:
        return 0

    def held_chunks(self) -> Iterator[bytes]:
        return iter(())

    def begin(self, offset: int) -> None:
        self.end()
        self._file = self.path.open("ab" if offset else "wb")

    def write(self, chunk: bytes) -> None:
        if self._file is None:
            self.begin(0)
        assert self._file is not None  # noqa: S101 - begun above
        self._file.write(chunk)

    def end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _remove_leftovers(directory: Path) -> None:
    """Remove the temporary files of writes a crash cut short in ``directory`` (not partial
    downloads, which a later run may resume)."""
    try:
        with os.scandir(directory) as entries:
            leftovers = [entry.path for entry in entries if is_temp_name(entry.name)]
    except OSError:
        return
    for leftover in leftovers:
        Path(leftover).unlink(missing_ok=True)


def _bytes_of(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _walk(directory: Path, prefix: str) -> Iterator[ObjectInfo]:
    """Yield the files below ``directory`` (keys starting ``prefix``), links to directories
    not followed, temporary files left out."""
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in sorted(entries, key=lambda e: e.name):
        key = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), f"{key}/")
        elif not is_temp_name(entry.name):
            try:
                found = entry.stat()
            except OSError:
                continue
            if stat.S_ISREG(found.st_mode):
                yield info_of(key, found)


def _make_directories(directories: Iterable[Path]) -> None:
    """Make each of ``directories`` (parents first) unless it exists; a parent missing after
    all (another thread's still to be made) is made too."""
    for directory in directories:
        try:
            directory.mkdir()
        except FileExistsError:
            pass
        except FileNotFoundError:
            directory.mkdir(parents=True, exist_ok=True)


def _place_bytes(
    temp: Path, path: Path, data: bytes, directories: Iterable[Path] = ()
) -> os.stat_result:
    """Write ``data`` durably at ``path``: ``directories`` made first, written to ``temp``
    beside it, synced, made readable and renamed into place; return its status (after the
    rename). On failure
    ``temp`` is removed and ``path`` is untouched."""
    _make_directories(directories)
    try:
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except FileNotFoundError:
        temp.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
            os.fchmod(descriptor, 0o644)
        finally:
            os.close(descriptor)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # After the rename, which sets the ctime: the version a later ``stat`` sees.
    return path.stat()


def _finish_file(temp: Path, path: Path) -> os.stat_result:
    """Make the finished temporary file ``temp`` durable and move it into place at ``path``
    (same filesystem: atomic), readable by a web server; return its status (after the
    rename)."""
    descriptor = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        os.fchmod(descriptor, 0o644)
    finally:
        os.close(descriptor)
    temp.replace(path)
    return path.stat()
