"""Bytes on the mirror's disk: atomic writes, temporary names, hashing files in place.

Everything the server can see is written to a temporary name in the same directory and renamed
into place, so a reader sees the old bytes or the new ones, never a mixture.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Collection, Mapping
from pathlib import Path

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
