"""The files a bandersnatch mirror has beside its pages, written so existing setups keep working.

``generation`` at the start of a run; with ``json-api`` the PyPI-style JSON documents
(``web/json/<name>``, ``web/pypi/<name>/json``) after each project's pages; after a run with no
failures ``status`` (the highest upstream serial) and ``web/last-modified``; with ``diff-file``
the list of every file the run wrote. Rendering is ``cellar.sync.compat``'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from cellar.config.model import MirrorSettings
from cellar.model import ProjectListing
from cellar.sync.compat import (
    diff_file_path,
    json_api_paths,
    render_diff_file,
    render_generation,
    render_json_api,
    render_last_modified,
    render_status,
    status_serial,
)
from cellar.tree.atomic import atomic_write
from cellar.tree.storage import Storage


@dataclass(slots=True)
class MirrorExtras:
    """Writes the extra files of one run; create it under the lock, call ``start`` first."""

    mirror: MirrorSettings
    #: The mirror's tree (``web/``); ``generation``, ``status`` and the diff file are files of
    #: the mirror directory beside it, never served.
    storage: Storage
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    written: list[Path] = field(default_factory=list)
    _diff: Path | None = None

    def start(self) -> None:
        """Write ``generation`` and prepare the diff file's place (an old one is removed)."""
        atomic_write(self.mirror.directory / "generation", render_generation())
        if self.mirror.diff_file is not None:
            epoch = int(time.time()) if self.mirror.diff_append_epoch else None
            self._diff = diff_file_path(self.mirror.diff_file, epoch=epoch, is_dir=Path.is_dir)
            self._diff.parent.mkdir(parents=True, exist_ok=True)
            self._diff.unlink(missing_ok=True)

    def project_published(
        self, name: str, directory: Path, listing: ProjectListing, serial: int | None
    ) -> None:
        """Note project ``name``'s pages in ``directory`` and write its JSON API documents.

        Raises ``UnsafeNameError`` unless ``name`` is a valid project name.
        """
        web = self.mirror.web_root
        if self.mirror.json_api:
            body = render_json_api(listing, last_serial=serial)
            keys = [str(relative) for relative in json_api_paths(name)]
            self.storage.put(dict.fromkeys(keys, body), unchanged=True)
            self.written.extend(web / key for key in keys)
        self.written.extend(
            directory / name for name in ("index.html", "index.v1_html", "index.v1_json")
        )

    def file_added(self, path: PurePosixPath) -> None:
        """Note a distribution (or metadata) file this run put in place."""
        self.written.append(self.mirror.web_root / path)

    def finish(self, *, ok: bool, serials: list[int | None]) -> None:
        """Write ``status`` and ``web/last-modified`` after a clean run, and the diff file."""
        if ok:
            status = self.mirror.directory / "status"
            try:
                previous: int | None = int(status.read_text().strip())
            except (OSError, ValueError):
                previous = None
            atomic_write(status, render_status(status_serial(previous, serials)))
            last_modified = render_last_modified(self.started)
            self.storage.put({"last-modified": last_modified}, unchanged=True)
        if self._diff is not None:
            atomic_write(self._diff, render_diff_file(self.written))
