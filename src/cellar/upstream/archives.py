"""Core metadata files read out of whole distribution archives, given as bytes or a path.

A wheel's ``<name>-<version>.dist-info/METADATA``; an sdist's ``PKG-INFO`` at its top directory,
its ``pyproject.toml`` beside it and, for old setuptools sdists, ``<name>.egg-info/requires.txt``.
Archives are read, never extracted to disk, and no member larger than ``MAX_MEMBER_SIZE`` is
inflated, so a hostile archive costs at most that much memory per member.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.upstream.zipmeta import find_dist_info_member

#: The largest metadata member read (METADATA, PKG-INFO, requires.txt, pyproject.toml).
MAX_MEMBER_SIZE = 16 * 1024 * 1024

_TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar")
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError)

DistKind = Literal["wheel", "sdist-tar", "sdist-zip"]


class ArchiveError(ValueError):
    """An archive that is damaged or lacks the metadata sought; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SdistFiles:
    """The metadata-bearing files of an sdist (``None`` where the sdist has none)."""

    pkg_info: bytes
    requires_txt: bytes | None = None
    pyproject: bytes | None = None


def dist_kind(filename: str) -> DistKind | None:
    """Return how to read ``filename``: a wheel, a tar or zip sdist, or ``None`` (eggs, ...)."""
    lowered = filename.lower()
    if lowered.endswith(".whl"):
        return "wheel"
    if lowered.endswith(_TAR_SUFFIXES):
        return "sdist-tar"
    if lowered.endswith(".zip"):
        return "sdist-zip"
    return None


def wheel_metadata(source: bytes | Path, name: NormalizedName, version: Version) -> bytes:
    """Return the METADATA of the wheel ``source`` whose own dist-info is ``name``-``version``.

    Raises ``ArchiveError`` when it is not a zip, or has no such member, or it is too large.
    """
    try:
        with _open(source) as stream, zipfile.ZipFile(stream) as archive:
            path = find_dist_info_member(archive.namelist(), name, version)
            if path is None:
                raise ArchiveError(f"no {name}-{version}.dist-info/METADATA in the wheel")
            return _read_zip_member(archive, path)
    except _ARCHIVE_ERRORS as error:
        raise ArchiveError(f"not a readable zip: {error}") from None


def sdist_files(source: bytes | Path, kind: DistKind, name: NormalizedName) -> SdistFiles:
    """Return the PKG-INFO, egg-info requires.txt and pyproject.toml of the sdist ``source``.

    ``name`` picks the egg-info directory when there are several. Raises ``ArchiveError``
    when the archive is damaged, too large a member, or has no PKG-INFO at its top directory.
    """
    try:
        members = dict(_tar_members(source) if kind == "sdist-tar" else _zip_members(source))
    except _ARCHIVE_ERRORS as error:
        form = "tar" if kind == "sdist-tar" else "zip"
        raise ArchiveError(f"not a readable {form}: {error}") from None
    tops = sorted(path for path in members if path.count("/") == 1 and path.endswith("/PKG-INFO"))
    if not tops:
        raise ArchiveError("no PKG-INFO at the sdist's top directory")
    top = tops[0].partition("/")[0]
    return SdistFiles(
        pkg_info=members[f"{top}/PKG-INFO"],
        requires_txt=_pick_requires_txt(members, top, name),
        pyproject=members.get(f"{top}/pyproject.toml"),
    )


def _wanted(path: str) -> bool:
    """Return whether ``path`` may be a file ``sdist_files`` needs (read nothing else)."""
    parts = path.split("/")
    if len(parts) == 2:
        return parts[1] in ("PKG-INFO", "pyproject.toml")
    return (
        parts[-1] == "requires.txt"
        and parts[-2].endswith(".egg-info")
        and len(parts) in (3, 4)
        and (len(parts) == 3 or parts[1] == "src")
    )


def _pick_requires_txt(members: dict[str, bytes], top: str, name: NormalizedName) -> bytes | None:
    candidates = sorted(
        path for path in members if path.startswith(f"{top}/") and path.endswith("requires.txt")
    )
    for path in candidates:
        egg_info = path.split("/")[-2].removesuffix(".egg-info")
        if canonicalize_name(egg_info) == name:
            return members[path]
    return members[candidates[0]] if len(candidates) == 1 else None


def _tar_members(source: bytes | Path) -> Iterator[tuple[str, bytes]]:
    with _open(source) as stream, tarfile.open(fileobj=stream, mode="r:*") as archive:
        for member in archive:
            path = member.name.removeprefix("./")
            if not member.isfile() or not _wanted(path):
                continue
            if member.size > MAX_MEMBER_SIZE:
                raise ArchiveError(f"{path} is {member.size} bytes, more than {MAX_MEMBER_SIZE}")
            content = archive.extractfile(member)
            if content is not None:
                yield path, content.read()


def _zip_members(source: bytes | Path) -> Iterator[tuple[str, bytes]]:
    with _open(source) as stream, zipfile.ZipFile(stream) as archive:
        for path in archive.namelist():
            if _wanted(path):
                yield path, _read_zip_member(archive, path)


def _read_zip_member(archive: zipfile.ZipFile, path: str) -> bytes:
    size = archive.getinfo(path).file_size
    if size > MAX_MEMBER_SIZE:
        raise ArchiveError(f"{path} is {size} bytes, more than {MAX_MEMBER_SIZE}")
    with archive.open(path) as stream:
        return stream.read(MAX_MEMBER_SIZE + 1)


def _open(source: bytes | Path) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")
