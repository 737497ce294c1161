"""Find the files under the web root that no page lists; remove the directories left empty.

Under the mirror lock no ``cellar mirror`` is running, so every temporary ``.part`` file is
a leftover of a run that was killed: it is an orphan wherever it is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from cellar.tree.inventory import orphans_in, take_inventory


def find_orphans(web_root: Path, listed: Collection[str]) -> list[tuple[str, str]]:
    """Return (mirror path, cause) for each file under ``web_root`` no page lists, sorted by
    path (see ``orphans_in``)."""
    return orphans_in(take_inventory(web_root), listed)


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
