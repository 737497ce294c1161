"""A directory tree beside a mirror whose every file and directory is recorded, to prove that a
run changed nothing outside the mirror.

``Sentinel.make(path)`` fills ``path`` with files and directories (including names a hostile page
might aim at); ``snapshot()`` records each entry's type, size, bytes' sha256, mode and mtime, and
``assert_unchanged()`` compares a new snapshot with the first one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self


@dataclass(slots=True)
class Sentinel:
    """A recorded tree at ``root``; ``before`` is its snapshot when it was made."""

    root: Path
    before: dict[str, tuple[object, ...]] = field(default_factory=dict)

    @classmethod
    def make(cls, root: Path) -> Self:
        """Create a small tree at ``root`` (page-like names included) and snapshot it."""
        for relative in ("index.html", "index.v1_json", "x/index.html", "victim/keep.txt", "json"):
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"sentinel {relative}\n".encode())
        (root / "empty-dir").mkdir()
        sentinel = cls(root)
        sentinel.before = sentinel.snapshot()
        return sentinel

    def snapshot(self) -> dict[str, tuple[object, ...]]:
        """Return every entry below ``root`` (and ``root`` itself) with what identifies it."""
        found: dict[str, tuple[object, ...]] = {}
        for parent, directories, files in os.walk(self.root):
            for name in [*directories, *files, ""]:
                path = Path(parent, name) if name else Path(parent)
                stat = path.lstat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
                found[str(path)] = (stat.st_mode, stat.st_size, stat.st_mtime_ns, digest)
        return found

    def assert_unchanged(self) -> None:
        """Fail with the differences if anything below ``root`` was created, changed or removed."""
        after = self.snapshot()
        created = sorted(set(after) - set(self.before))
        removed = sorted(set(self.before) - set(after))
        changed = sorted(p for p in set(after) & set(self.before) if after[p] != self.before[p])
        assert (created, removed, changed) == ([], [], []), (created, removed, changed)
