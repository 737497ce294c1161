"""Page snapshots: what the client keeps of each project page to ask again conditionally.

An upstream that sends ``ETag`` or ``Last-Modified`` answers an unchanged page with a bodiless
304, so a re-run's cost grows with what changed upstream, not with what is mirrored. An upstream
that gives every project's serial on its root page (PyPI's ``_last-serial``) saves even that
request: a snapshot taken at the serial the root page names is still current (``SerialIndex``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PageSnapshot:
    """A project page as fetched: its bytes, where from, and the validators to ask again with."""

    body: bytes
    content_type: str | None
    url: str
    serial: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    #: ``body_digest(body)``, where known (the state stores it with the body).
    digest: str | None = None


def body_digest(body: bytes) -> str:
    """Return the digest that tells one page body from another (hex sha256)."""
    return hashlib.sha256(body).hexdigest()


class PageStore(Protocol):
    """Where the client keeps page snapshots between runs (the mirror's state)."""

    def page_snapshot(self, name: str) -> PageSnapshot | None:
        """Return the last snapshot of ``name``'s page, if any."""

    def page_validators(self, name: str) -> PageSnapshot | None:
        """Return the last snapshot of ``name``'s page without its body (``b""``)."""

    def record_page_snapshot(self, name: str, snapshot: PageSnapshot) -> None:
        """Keep ``snapshot`` as ``name``'s page."""


@dataclass(slots=True)
class PageStats:
    """How many project pages were checked, how many had changed upstream, and how many HTTP
    requests were made in all (pages, metadata, files, redirects)."""

    checked: int = 0
    changed: int = 0
    #: Of the unchanged pages, those known current from the root page's serials, unasked.
    by_serial: int = 0
    requests: int = 0
    #: Project page requests made, and their summed wall time (waits for a free slot apart).
    asked: int = 0
    asked_seconds: float = 0.0
    #: How long reading the root page's serials took (None: not read).
    root_seconds: float | None = None

    @property
    def unchanged(self) -> int:
        """Pages the upstream confirmed unchanged (304 Not Modified)."""
        return self.checked - self.changed


@dataclass(frozen=True, slots=True)
class SerialIndex:
    """Every project's last serial, as the upstream's root page gives them (normalised names)."""

    serials: Mapping[str, int]

    def current(self, name: str, snapshot: PageSnapshot | None) -> bool:
        """Return True if ``snapshot`` of project ``name`` (normalised) is at the serial the
        root page names, so the page cannot have changed since it was taken."""
        return snapshot is not None and self.at(name, snapshot.serial)

    def at(self, name: str, serial: str | None) -> bool:
        """Return True if project ``name`` (normalised) is at ``serial`` on the root page."""
        return serial is not None and str(self.serials.get(name)) == serial
