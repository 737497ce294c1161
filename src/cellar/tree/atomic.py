"""Local files written whole or not at all: temporary names, atomic and durable writes,
hashing a file in place. ``LocalStorage`` builds the mirror's tree with them; the client
configuration files and the mirror directory's own files use them too.

A file is written to a temporary name in its directory, synced, and renamed into place, so a
reader sees the old bytes or the new ones, never a mixture; the directory is synced after the
rename, so that a power loss cannot take the new name back.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
from collections.abc import Collection, Mapping
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


def sweep_temporaries(root: Path, skip: tuple[str, ...] = ()) -> tuple[int, list[Path]]:
    """Remove every temporary file under ``root`` but partial downloads (``resume_path``
    names), which may be resumed, and those below the folders ``skip`` names (``/``-ended,
    relative to ``root``: other writers'); return how many went, and the partial downloads.

    Call only while holding the mirror's lock: then no other writer of the mirror's is using
    them, and each is a leftover of an interrupted run.
    """
    removed = 0
    partials = []
    for path in root.rglob(f".*{TEMP_SUFFIX}"):
        if not path.is_file():
            continue
        if skip and path.relative_to(root).as_posix().startswith(skip):
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
        for directory in {path.parent for path in temps}:
            fsync_directory(directory)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def fsync_directory(directory: Path) -> None:
    """Make the names in ``directory`` durable (after a rename into it, or a new file): on
    POSIX a rename is on disk only once its directory is synced. Where a directory cannot be
    opened for syncing (Windows), its names are as durable as the filesystem makes them."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        # Some filesystems refuse fsync on a directory; that is not a failed write.
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(descriptor)


def file_size(path: Path) -> int:
    """Return the size of the file at ``path``; 0 when there is none (or it cannot be seen)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def digest_stream(
    stream: BinaryIO, algorithms: Collection[str] = ("sha256",)
) -> tuple[int, dict[str, str]]:
    """Read ``stream`` to its end; return its length and its hex digest for each algorithm."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        for hasher in hashers.values():
            hasher.update(chunk)
    return size, {name: hasher.hexdigest() for name, hasher in hashers.items()}


def open_quietly(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading without updating its access time where the system allows
    (``O_NOATIME``: the file's owner, or root); raises ``OSError``.

    Reading a million files would otherwise dirty a million inodes (``relatime`` updates an
    access time older than the modification time, or a day old), and their write-back slowed
    the next walk of the tree threefold here.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | _NOATIME)
    except PermissionError:  # another user's file, not root: O_NOATIME is refused
        descriptor = os.open(path, os.O_RDONLY)
    return os.fdopen(descriptor, "rb")


_NOATIME = getattr(os, "O_NOATIME", 0)
