"""Remove the directories a local tree's removals leave empty."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


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
