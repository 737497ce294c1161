"""Take stock of the tree under the web root: one walk, every file under ``packages/`` with
its size and mtime, and the temporary files elsewhere.

``cellar verify`` needs both from the tree: how every file the pages list is on disk, and the
files no page lists (orphans). One walk gives both, with a ``stat`` of each file made relative
to its open directory (the kernel does not look the whole path up again). A large mirror has
a directory per file, so the walk is spread over threads, one top-level directory a task
(listing a directory and ``stat`` release the GIL), and runs while the caller reads the pages.

Symlinks are treated as ``os.walk`` treats them: a link to a directory is neither a file nor
followed, any other entry that is not a directory is a file, and a file's ``stat`` follows a
link. A file whose ``stat`` fails, or that is not a regular file, is in the inventory as
``None``: the caller looks at it again on its own and says what is wrong with it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path

from cellar.storage import is_temp_name

#: A file's size and mtime in nanoseconds, or ``None`` for one that is not a regular file
#: (or could not be examined).
Seen = tuple[int, int] | None

_PACKAGES = "packages"
#: Directories a task walks: a task per directory would cost more than a small one's walk.
_BATCH = 16


@dataclass(frozen=True, slots=True)
class Inventory:
    """The tree as one walk found it.

    ``files`` maps the mirror path of every file under ``packages/`` to what was seen of it;
    ``temporaries`` are the temporary files (``.part``) found anywhere else.
    """

    files: dict[str, Seen] = field(default_factory=dict)
    temporaries: tuple[str, ...] = ()


def take_stock(web_root: Path, pool: Executor) -> Callable[[], Inventory]:
    """Start the walk of ``web_root`` on ``pool``; return what waits for it and gives its result.

    Raises ``OSError`` from the returned function only if it was raised by a task; a directory
    that cannot be listed is passed over, as ``os.walk`` does.
    """
    root = str(web_root)
    tasks: list[Future[tuple[dict[str, Seen], list[str]]]] = []
    files: dict[str, Seen] = {}
    temporaries: list[str] = []
    for name, is_directory in _listing(root):
        if not is_directory:
            temporaries.extend([name] if is_temp_name(name) else [])
            continue
        below = name == _PACKAGES
        starts = []
        for sub, sub_is_directory in _listing(os.path.join(root, name)):  # noqa: PTH118
            if sub_is_directory:
                starts.append(f"{name}/{sub}")
            else:  # a file directly below a top-level directory: rare, looked at here
                found, temps = _one(root, f"{name}/{sub}", below)
                files.update(found)
                temporaries.extend(temps)
        for first in range(0, len(starts), _BATCH):
            tasks.append(pool.submit(_walk, root, starts[first : first + _BATCH], below))

    def result() -> Inventory:
        for task in tasks:
            found, temps = task.result()
            files.update(found)
            temporaries.extend(temps)
        return Inventory(files, tuple(sorted(temporaries)))

    return result


def orphans_in(inventory: Inventory, listed: Collection[str]) -> list[tuple[str, str]]:
    """Return (mirror path, cause) for each file no page lists, sorted by path.

    Under ``packages/`` that is every file not in ``listed``; elsewhere in the tree only
    leftover temporary files count, since pages and other files there are not listed.
    """
    temporary = "a temporary file left by an interrupted run"
    orphans = [(path, temporary) for path in inventory.temporaries]
    for path in inventory.files:
        if is_temp_name(path.rpartition("/")[2]):
            orphans.append((path, temporary))
        elif path not in listed:
            orphans.append((path, "no page lists it"))
    return sorted(orphans)


def _listing(directory: str) -> list[tuple[str, bool]]:
    """Return the names in ``directory`` with "is a directory to walk" (not a link to one)."""
    try:
        with os.scandir(directory) as entries:
            return [(entry.name, _walkable(entry)) for entry in entries]
    except OSError:  # gone, or not listable: what os.walk passes over
        return []


def _walkable(entry: os.DirEntry[str]) -> bool:
    return entry.is_dir() and not entry.is_symlink()


def _one(root: str, path: str, with_stat: bool) -> tuple[dict[str, Seen], list[str]]:
    if not with_stat:
        return {}, [path] if is_temp_name(path.rpartition("/")[2]) else []
    try:
        found = os.stat(os.path.join(root, path))  # noqa: PTH116, PTH118 - see _walk
    except OSError:
        return {path: None}, []
    return {path: _seen(found)}, []


def _walk(root: str, starts: list[str], with_stat: bool) -> tuple[dict[str, Seen], list[str]]:
    """Walk ``starts`` (mirror paths of directories): the files below with what was seen of
    them if ``with_stat``, else only the temporary files.

    Strings and ``os`` calls, not pathlib: this runs for every file and directory of a mirror.
    """
    files: dict[str, Seen] = {}
    temporaries: list[str] = []
    pending = starts[::-1]
    while pending:
        directory = pending.pop()
        prefix = directory + "/"
        try:
            descriptor = os.open(os.path.join(root, directory), os.O_RDONLY | os.O_DIRECTORY)  # noqa: PTH118
        except OSError:
            continue
        try:
            with os.scandir(descriptor) as entries:
                for entry in entries:
                    if entry.is_dir():
                        if not entry.is_symlink():
                            pending.append(prefix + entry.name)
                    elif not with_stat:
                        if is_temp_name(entry.name):
                            temporaries.append(prefix + entry.name)
                    else:
                        try:
                            files[prefix + entry.name] = _seen(entry.stat())
                        except OSError:
                            files[prefix + entry.name] = None
        except OSError:
            continue
        finally:
            os.close(descriptor)
    return files, temporaries


def _seen(found: os.stat_result) -> Seen:
    if not stat.S_ISREG(found.st_mode):
        return None
    return found.st_size, found.st_mtime_ns
