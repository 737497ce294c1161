"""Find the files under the web root that no page lists, and remove files from the tree.

Under the mirror lock no ``cellar mirror`` is running, so every temporary ``.part`` file is
a leftover of a run that was killed: it is an orphan wherever it is.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

from cellar.storage import is_temp_name
from cellar.tree.paths import OutsideTreeError, within


def find_orphans(web_root: Path, listed: Collection[str]) -> list[tuple[str, str]]:
    """Return (mirror path, cause) for each file no page lists, sorted by path.

    Under ``packages/`` that is every file not in ``listed``; elsewhere in the tree only
    leftover temporary files count, since pages and other files there are not listed.
    """
    orphans: list[tuple[str, str]] = []
    for path in _walk(web_root / "packages", web_root):
        if is_temp_name(path.rpartition("/")[2]):
            orphans.append((path, "a temporary file left by an interrupted run"))
        elif path not in listed:
            orphans.append((path, "no page lists it"))
    for top in sorted(web_root.iterdir()) if web_root.is_dir() else ():
        if top.name == "packages":
            continue
        candidates = _walk(top, web_root) if top.is_dir() else [top.name]
        orphans.extend(
            (path, "a temporary file left by an interrupted run")
            for path in candidates
            if is_temp_name(path.rpartition("/")[2])
        )
    return sorted(orphans)


def _walk(directory: Path, web_root: Path) -> list[str]:
    """Return the mirror path of every file below ``directory`` (strings: see checks.examine).

    As ``os.walk`` sees the tree (a symlink to a directory is neither a file nor followed, a
    directory that cannot be listed is passed over), with ``os.scandir`` directly: a large
    mirror has a directory per file, and this runs over all of them.
    """
    found: list[str] = []
    skip = len(str(web_root)) + 1
    pending = [str(directory)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if not entry.is_dir():
                        found.append(entry.path[skip:].replace(os.sep, "/"))
                    elif not entry.is_symlink():
                        pending.append(entry.path)
        except OSError:  # gone, or not listable: what os.walk passes over
            continue
    return found


def remove_files(web_root: Path, paths: Iterable[str]) -> tuple[list[str], int]:
    """Remove the files at mirror paths ``paths``, then the directories this leaves empty.

    Returns the paths removed and their bytes; files already gone are skipped. Raises
    ``OSError`` if a file exists but cannot be removed.
    """
    removed: list[str] = []
    size = 0
    parents: set[Path] = set()
    for path in paths:
        try:
            local = within(web_root, path)
        except OutsideTreeError:
            continue  # never Cellar's to remove: a path from a damaged record or page
        try:
            found = local.stat()
            local.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
        size += found.st_size
        parents.add(local.parent)
    remove_empty_dirs(web_root, parents)
    return removed, size


def remove_empty_dirs(web_root: Path, directories: Iterable[Path]) -> None:
    """Remove each of ``directories`` and its parents while empty, stopping below ``web_root``'s
    top-level directories (``packages/`` and ``simple/`` themselves stay)."""
    keep = {web_root.resolve(), *(child.resolve() for child in web_root.iterdir())}
    for directory in sorted(directories, key=lambda d: len(d.parts), reverse=True):
        current = directory
        while current.resolve() not in keep and current.is_relative_to(web_root):
            try:
                current.rmdir()
            except FileNotFoundError:
                pass  # removed already, perhaps as a parent of another: look further up
            except OSError:
                break  # not empty (or already gone): its parents are not empty either
            current = current.parent
