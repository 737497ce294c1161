"""Take stock of the tree under the web root: one walk, every file under ``packages/`` with
its size and mtime, and the temporary files elsewhere.

``cellar verify`` needs both from the tree: how every file the pages list is on disk, and the
files no page lists (orphans). One walk gives both, with a ``stat`` of each file.

On one thread, before anything else: on a 2-core machine, a walk of 150,000 files beside the
page reads (on a second thread) made the whole ``verify --fast`` 25 % slower than the walk and
the reads one after the other. Each ``stat`` gives up the GIL, and getting it back waits for
the thread that parses pages; and a second walking thread made the walk itself slower.

Symlinks are treated as ``os.walk`` treats them: a link to a directory is neither a file nor
followed, any other entry that is not a directory is a file, and a file's ``stat`` follows a
link. A file whose ``stat`` fails, or that is not a regular file, is in the inventory as
``None``: the caller looks at it again on its own and says what is wrong with it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from cellar.tree.atomic import is_temp_name, open_quietly

#: A file's size and mtime in nanoseconds, or ``None`` for one that is not a regular file
#: (or could not be examined).
Seen = tuple[int, int] | None

_PACKAGES = "packages"


class ListedReader(Protocol):
    """How the objects a listing found are read: without looking at the way to them again
    (the listing proved it), and locally without touching their access time."""

    def open(self, key: str) -> BinaryIO:
        """Open the object at ``key``. Raises ``OSError``."""
        ...

    def read(self, key: str) -> bytes | None:
        """Return the bytes at ``key``; None when they cannot be read."""
        ...


@dataclass(frozen=True, slots=True)
class WalkedFiles:
    """A ``ListedReader`` for the files a local walk of ``root`` found: string paths, opened
    as they are, links and all (at a million files, pathlib's objects and checks add up)."""

    root: str

    def open(self, key: str) -> BinaryIO:
        return open_quietly(os.path.join(self.root, key))  # noqa: PTH118 - strings: hot path

    def read(self, key: str) -> bytes | None:
        try:
            with open(os.path.join(self.root, key), "rb") as stream:  # noqa: PTH118, PTH123
                return stream.read()
        except OSError:
            return None


@dataclass(frozen=True, slots=True)
class _NothingListed:
    def open(self, key: str) -> BinaryIO:
        raise FileNotFoundError(key)

    def read(self, key: str) -> bytes | None:
        return None


@dataclass(frozen=True, slots=True)
class Inventory:
    """The tree as one listing (locally, one walk) found it.

    ``files`` maps the key of every object under ``packages/`` to what was seen of it;
    ``temporaries`` are the temporary files (``.part``) found anywhere else; ``pages`` maps
    each folder under ``simple/`` that holds all the page files asked for to their marks
    (``page_marks``), when ``simple/`` is a directory, not a link. ``reader`` reads what was
    found.
    """

    files: dict[str, Seen] = field(default_factory=dict)
    temporaries: tuple[str, ...] = ()
    pages: dict[str, str] = field(default_factory=dict)
    reader: ListedReader = field(default_factory=_NothingListed)

    def open(self, key: str) -> BinaryIO:
        """Open the object at ``key``, one the listing saw under ``packages/`` (locally: reached
        by no link to a directory; a link to a file is followed, as the walk saw through it),
        without touching its access time. Raises ``OSError``."""
        return self.reader.open(key)

    def read_page(self, folder: str, filename: str) -> bytes | None:
        """Return page ``filename`` of ``folder``, a folder the listing found holding the page
        files asked for (so in the tree, reached by no link to a directory); None for any
        other folder, or when it cannot be read."""
        if folder not in self.pages:
            return None
        return self.reader.read(f"{folder}/{filename}")


def take_inventory(web_root: Path, page_files: tuple[str, ...] = ()) -> Inventory:
    """Walk the tree under ``web_root`` and return what it holds, with the marks of the
    ``page_files`` of each directory under ``simple/``.

    A directory that cannot be listed is passed over, as ``os.walk`` does.
    """
    root = str(web_root)
    files: dict[str, Seen] = {}
    temporaries: list[str] = []
    marks: dict[str, str] = {}
    # A top-level directory may be a link (packages/ on another disk): followed, as before.
    for name, is_directory, is_link in _top_level(root):
        if not is_directory:
            temporaries.extend([name] if is_temp_name(name) else [])
        elif name == _PACKAGES:
            _walk(root, name, files, None)
        else:
            pages = _Pages(page_files, marks) if name == "simple" and not is_link else None
            _walk(root, name, None, temporaries, pages)
    return Inventory(files, tuple(sorted(temporaries)), marks, WalkedFiles(root))


def page_marks_of(found: Iterable[os.stat_result]) -> str:
    """Return the marks of page files as ``stat`` found them: size, mtime and ctime of each."""
    return " ".join(f"{one.st_size}:{one.st_mtime_ns}:{one.st_ctime_ns}" for one in found)


@dataclass(frozen=True, slots=True)
class _Pages:
    """Where a walk puts the marks of the directories holding every one of ``names``."""

    names: tuple[str, ...]
    marks: dict[str, str]

    def note(self, directory: str, entries: dict[str, os.DirEntry[str]]) -> None:
        if len(entries) != len(self.names):
            return
        try:
            found = [entries[name].stat() for name in self.names]
        except OSError:
            return
        if all(stat.S_ISREG(one.st_mode) for one in found):
            self.marks[directory] = page_marks_of(found)


#: Parts of the tree other writers change (``cellar serve`` taking uploads of hosted projects,
#: without the mirror's lock): no walk of the mirror's may take what it finds there for its own.
WRITTEN_ELSEWHERE: Final = ("packages/hosted/", "hosted/")


def orphans_in(inventory: Inventory, listed: Collection[str]) -> list[tuple[str, str]]:
    """Return (mirror path, cause) for each file no page lists, sorted by path.

    Under ``packages/`` that is every file not in ``listed``; elsewhere in the tree only
    leftover temporary files count, since pages and other files there are not listed.
    """
    temporary = "a temporary file left by an interrupted run"
    orphans = [
        (path, temporary)
        for path in inventory.temporaries
        if not path.startswith(WRITTEN_ELSEWHERE)
    ]
    for path in inventory.files:
        if path.startswith(WRITTEN_ELSEWHERE):
            continue
        if is_temp_name(path.rpartition("/")[2]):
            orphans.append((path, temporary))
        elif path not in listed:
            orphans.append((path, "no page lists it"))
    return sorted(orphans)


def _top_level(root: str) -> list[tuple[str, bool, bool]]:
    """Return the names in ``root`` with "is a directory" (through a link) and "is a link"."""
    try:
        with os.scandir(root) as entries:
            return [(entry.name, entry.is_dir(), entry.is_symlink()) for entry in entries]
    except OSError:  # gone, or not listable: what os.walk passes over
        return []


def _walk(
    root: str,
    start: str,
    files: dict[str, Seen] | None,
    temporaries: list[str] | None,
    pages: _Pages | None = None,
) -> None:
    """Walk ``start`` (a mirror path): each file below goes into ``files`` with what was seen
    of it, or only the temporary files into ``temporaries`` (and page marks into ``pages``).

    Strings and ``os.scandir``, not pathlib: this runs for every file and directory of a mirror.
    """
    pending = [start]
    skip = len(root) + 1
    while pending:
        directory = pending.pop()
        page_entries: dict[str, os.DirEntry[str]] = {}
        try:
            with os.scandir(os.path.join(root, directory)) as entries:  # noqa: PTH118
                for entry in entries:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            pending.append(entry.path[skip:])
                    elif files is not None:
                        try:
                            files[entry.path[skip:]] = _seen(entry.stat())
                        except OSError:
                            files[entry.path[skip:]] = None
                    elif temporaries is not None and is_temp_name(entry.name):
                        temporaries.append(entry.path[skip:])
                    elif pages is not None and entry.name in pages.names:
                        page_entries[entry.name] = entry
        except OSError:  # gone, or not listable: what os.walk passes over
            continue
        if pages is not None and page_entries:
            pages.note(directory, page_entries)


def _seen(found: os.stat_result) -> Seen:
    if not stat.S_ISREG(found.st_mode):
        return None
    return found.st_size, found.st_mtime_ns
