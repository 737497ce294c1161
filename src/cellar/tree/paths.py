"""The one way from outside text to a place in the mirror: names checked, paths kept inside.

Every byte from an upstream is hostile until checked. A project name becomes a directory only
through ``project_key`` (PEP 508's name rule, then PEP 503 normalisation), and every path below
the web root is joined only through ``within``, which refuses anything that would leave it: an
absolute path, ``..``, an empty or NUL segment, a backslash, or a symlink that leads outside.
Both are pure but for ``within``'s look at the symlinks already on disk.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TypeGuard

from packaging.utils import NormalizedName, canonicalize_name

from cellar.errors import CellarError

#: PEP 508's project name (as ``packaging`` checks it), but ASCII only: with re.IGNORECASE
#: alone, the Kelvin sign U+212A would pass as a ``k``.
_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE | re.ASCII)
#: Longer names are refused: a directory name must fit in a file system's 255 bytes.
MAX_NAME_LENGTH = 200


class UnsafeNameError(CellarError, ValueError):
    """``name`` is not a valid project name, so it may not name anything in the mirror."""

    def __init__(self, name: object, reason: str) -> None:
        super().__init__(f"{name!r} is not a valid project name: {reason}")
        self.name = name
        self.reason = reason


class OutsideTreeError(CellarError, ValueError):
    """``path`` would lead outside ``root`` (the mirror's web root); nothing is done with it."""

    def __init__(self, root: Path, path: object, reason: str) -> None:
        super().__init__(f"refused the path {path!r} below {root}: {reason}")
        self.root = root
        self.path = path
        self.reason = reason


def is_project_name(name: object) -> TypeGuard[str]:
    """Return whether ``name`` is a valid project name (PEP 508), whatever its spelling."""
    return (
        isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and _NAME.fullmatch(name) is not None
    )


def project_key(name: object) -> NormalizedName:
    """Return ``name`` PEP 503-normalised, the only form in which a name becomes a path.

    Raises ``UnsafeNameError`` unless ``name`` is a valid project name.
    """
    if not isinstance(name, str):
        raise UnsafeNameError(name, f"it is a {type(name).__name__}, not a string")
    if not name:
        raise UnsafeNameError(name, "it is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeNameError(name, f"it is longer than {MAX_NAME_LENGTH} characters")
    if _NAME.fullmatch(name) is None:
        raise UnsafeNameError(
            name, "only ASCII letters, digits and '.', '_', '-', a letter or digit at each end"
        )
    return canonicalize_name(name)


def within(root: Path, relative: str | PurePosixPath) -> Path:
    """Return ``root`` joined with the mirror path ``relative``, proven to stay inside ``root``.

    ``relative`` is a ``/``-separated path such as ``simple/numpy/index.html``. Raises
    ``OutsideTreeError`` for an absolute path, a ``..``, ``.`` or empty segment, a NUL or
    backslash, or when a directory on the way is a symlink resolving outside ``root``.
    """
    path = root.joinpath(*path_segments(root, relative))
    _check_links(root, path, relative)
    return path


def path_segments(root: Path, relative: str | PurePosixPath) -> list[str]:
    """Return the segments of the mirror path ``relative``, checked as text only (no look at
    the disk): ``within``'s first half. Raises ``OutsideTreeError`` for an absolute path, a
    ``..``, ``.`` or empty segment, a NUL or a backslash, or text that is not Unicode."""
    text = str(relative)
    if not text:
        raise OutsideTreeError(root, relative, "the path is empty")
    if text.startswith("/"):
        raise OutsideTreeError(root, relative, "the path is absolute")
    if "\x00" in text or "\\" in text:
        raise OutsideTreeError(root, relative, "the path contains a NUL or a backslash")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise OutsideTreeError(root, relative, "the path is not valid Unicode text") from None
    parts = text.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OutsideTreeError(root, relative, "the path has an empty, '.' or '..' segment")
    return parts


def resolves_within(root: Path, path: Path) -> bool:
    """Return whether ``path``, every symlink on the way followed, is ``root`` or below it.

    Cheap when nothing below ``root`` is a symlink (one ``lstat`` per component below it, as
    on a server's every request); otherwise every link is followed. ``root``'s own symlinks
    are the operator's and taken as they are.
    """
    base, text = os.fspath(root).rstrip(os.sep), os.fspath(path)
    if not text.startswith(base + os.sep):
        return text == base or _really_within(root, path)
    parts = text[len(base) + 1 :].split(os.sep)  # noqa: PTH206 - strings: this is the hot path
    if ".." in parts:
        return _really_within(root, path)
    current = base
    for part in parts:
        current = f"{current}{os.sep}{part}"
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return True  # missing (or unreadable): nothing there to follow out
        if stat.S_ISLNK(mode):
            return _really_within(root, path)
    return True


def lstat_within(
    root: str, parts: Sequence[str], *, follow_last: bool = True
) -> os.stat_result | None:
    """Return the status of ``root/parts[0]/.../parts[-1]`` when it exists and lies, every
    symlink on the way followed, within ``root``; None otherwise. A server's lookup per request.

    ``parts`` are names already checked (no ``/``, ``..`` or NUL). One ``lstat`` per part when
    no part is a symlink (the common case, and what ``resolves_within`` would cost), with the
    last one's status returned; a symlink on the way is followed only when the whole path
    resolves inside ``root``. With ``follow_last`` false a final symlink is not followed: its
    own status is returned, for a caller that takes only regular files.
    """
    current = root
    last = len(parts) - 1
    status: os.stat_result | None = None
    for index, part in enumerate(parts):
        current = f"{current}{os.sep}{part}"
        try:
            status = os.lstat(current)
        except OSError:  # missing, unreadable, a name too long
            return None
        if stat.S_ISLNK(status.st_mode):
            if index == last and not follow_last:
                return status
            full = os.sep.join((root, *parts))  # noqa: PTH118 - strings: the hot path
            if not _really_within(root, full):
                return None
            try:
                return os.stat(full) if follow_last else os.lstat(full)  # noqa: PTH116
            except OSError:  # a dangling link or a loop
                return None
    return status


def _really_within(root: str | Path, path: str | Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _check_links(root: Path, path: Path, relative: object) -> None:
    """Refuse ``path`` if what exists of it on disk (symlinks followed) leads outside ``root``."""
    if not resolves_within(root, path):
        real = os.path.realpath(path)
        raise OutsideTreeError(root, relative, f"a symlink on the way leads to {real}")


def read_within(root: Path, relative: str | PurePosixPath) -> bytes | None:
    """Return the bytes of the file at mirror path ``relative`` below ``root``; None when it is
    missing, unreadable, or would be read from outside ``root`` (through a symlink, say)."""
    try:
        return within(root, relative).read_bytes()
    except (OutsideTreeError, OSError):
        return None
