"""Bytes on the mirror's disk: atomic writes, temporary names, hashing files in place.

Everything the server can see is written to a temporary name in the same directory and renamed
into place, so a reader sees the old bytes or the new ones, never a mixture.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".part"
_CHUNK = 1 << 20
#: The names ``temp_path`` gives: ``.<name>.<12 hex>.part``.
_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}" + re.escape(TEMP_SUFFIX))
#: The names ``resume_path`` gives: ``.<name>.<16 hex>.part``.
_RESUMABLE_NAME = re.compile(r"\..+\.[0-9a-f]{16}" + re.escape(TEMP_SUFFIX))


def is_temp_name(name: str) -> bool:
    """Return whether ``name`` is a temporary name Cellar writes before renaming into place."""
    return _TEMP_NAME.fullmatch(name) is not None


def temp_path(directory: Path, name: str) -> Path:
    """Return a fresh temporary path in ``directory`` for a file that will become ``name``.

    The name starts with a dot and ends in ``.part``: never a valid distribution file name,
    never listed by any page, and recognisable as a leftover after a crash.
    """
    return directory / f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"


def resume_path(directory: Path, name: str, sha256: str) -> Path:
    """Return the stable temporary path of a download of ``name`` with this sha256.

    The same file always gets the same name, so a partial download left by a cut connection
    or a killed run is found and resumed; the hash in the name keeps two versions apart.
    """
    return directory / f".{name}.{sha256[:16]}{TEMP_SUFFIX}"


def sweep_temporaries(root: Path) -> tuple[int, list[Path]]:
    """Remove every temporary file under ``root`` but partial downloads (``resume_path``
    names), which may be resumed; return how many went, and the partial downloads found.

    Call only while holding the mirror's lock: then no other writer is using them, and each
    is a leftover of an interrupted run.
    """
    removed = 0
    partials = []
    for path in root.rglob(f".*{TEMP_SUFFIX}"):
        if not path.is_file():
            continue
        if _RESUMABLE_NAME.fullmatch(path.name):
            partials.append(path)
        else:
            path.unlink(missing_ok=True)
            removed += 1
    return removed, partials


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by writing a temporary file beside it and renaming it.

    Raises ``OSError`` (the destination is untouched) if the write fails.
    """
    atomic_write_all({path: data})


def atomic_write_all(files: Mapping[Path, bytes]) -> None:
    """Write several files atomically each, renaming them into place one right after another.

    Every temporary file is written and synced before the first rename, so the files appear
    (or change) together but for the instants between renames. Raises ``OSError`` if a write
    fails; then no destination has been touched.
    """
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = temps[path] = temp_path(path.parent, path.name)
            with temp.open("wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            temp.chmod(0o644)
        for path, temp in temps.items():
            temp.replace(path)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def file_size(path: Path) -> int:
    """Return the size of the file at ``path``; 0 when there is none (or it cannot be seen)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def finish_file(temp: Path, path: Path) -> int:
    """Make the finished temporary file ``temp`` durable and move it into place at ``path``
    (same filesystem: atomic), readable by a web server; return its mtime in nanoseconds.

    Synced before the rename: a file at its final name has its bytes on disk, whatever power
    loss follows. Blocking: call it off the event loop.
    """
    descriptor = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(descriptor)
        mtime_ns = os.fstat(descriptor).st_mtime_ns
    finally:
        os.close(descriptor)
    temp.chmod(0o644)
    temp.replace(path)
    return mtime_ns


class Spooled:
    """Where a download's body goes: memory, up to ``spool`` bytes (0: none), then the file
    ``dest`` (appended to with ``append``), whose directory is made if the body spills there.

    ``close`` returns the body when it stayed in memory, else ``None`` (it is in ``dest``,
    created even for an empty body). Writing to ``dest`` blocks: it is for large bodies,
    where the transfer takes far longer than the write.
    """

    def __init__(self, dest: Path, *, append: bool, spool: int) -> None:
        self.dest = dest
        self.append = append
        self.spool = spool
        self.spilled = False
        self._held: bytearray | None = bytearray() if spool else None
        self._sink: BinaryIO | None = None

    def write(self, chunk: bytes) -> None:
        """Add ``chunk`` to the body."""
        if self._held is not None and len(self._held) + len(chunk) <= self.spool:
            self._held += chunk
            return
        self._open().write(chunk)

    def close(self) -> bytes | None:
        """Finish the body; return it if it stayed in memory."""
        if self._held is not None:
            return bytes(self._held)
        self._open().close()
        return None

    def discard(self) -> None:
        """Close the file the body went to, if any (after a failure)."""
        if self._sink is not None:
            self._sink.close()

    def _open(self) -> BinaryIO:
        if self._sink is None:
            if self._held is not None:
                self.dest.parent.mkdir(parents=True, exist_ok=True)
            self._sink = self.dest.open("ab" if self.append else "wb")
            self.spilled = True
            if self._held:
                self._sink.write(self._held)
            self._held = None
        return self._sink


def make_directories(directories: Iterable[Path]) -> None:
    """Make each of ``directories`` (parents first) unless it exists; a parent missing after
    all (another thread's still to be made) is made too."""
    for directory in directories:
        try:
            directory.mkdir()
        except FileExistsError:
            pass
        except FileNotFoundError:
            directory.mkdir(parents=True, exist_ok=True)


def place_bytes(temp: Path, path: Path, data: bytes, directories: Iterable[Path] = ()) -> int:
    """Write ``data`` durably at ``path`` as ``finish_file`` leaves a file: ``directories``
    made first (``make_directories``), written to ``temp`` beside it, synced, made readable
    and renamed into place; return its mtime in nanoseconds. One call for all of a small
    file's disk work. Blocking: call it off the event loop. On failure ``temp`` is removed and
    ``path`` is untouched."""
    make_directories(directories)
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
            mtime_ns = os.fstat(descriptor).st_mtime_ns
        finally:
            os.close(descriptor)
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return mtime_ns


def hash_file(
    path: Path, algorithms: Collection[str] = ("sha256",)
) -> tuple[int, Mapping[str, str]]:
    """Return the size of the file at ``path`` and its hex digest for each algorithm."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    return size, {name: hasher.hexdigest() for name, hasher in hashers.items()}
