"""Value types of the Simple Repository API: a project page and the files it lists, and what
the mirror publishes (a file in place, a project's listing).

The same types describe a page read from an upstream index and a page Cellar writes into its
mirror. They hold no I/O and know nothing of HTTP; parsing lives in ``cellar.upstream.parse``
and rendering in ``cellar.sync.render``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: The Simple Repository API version Cellar writes (PEP 629). 1.1 added PEP 700's ``versions``,
#: ``size`` and ``upload-time``; 1.3 PEP 740's ``provenance``; 1.4 PEP 792's project status.
API_VERSION = "1.4"

#: PEP 691 content types, in the order a mirror prefers to read them.
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LEGACY = "text/html"

_EMPTY: Mapping[str, str] = MappingProxyType({})


def frozen_mapping(items: Mapping[str, str] | None) -> Mapping[str, str]:
    """Return a read-only copy of ``items`` (an empty mapping for ``None``)."""
    if not items:
        return _EMPTY
    return MappingProxyType(dict(items))


@dataclass(frozen=True, slots=True)
class DistFile:
    """One distribution file listed on a project page.

    ``url`` is absolute and carries no fragment; hashes live in ``hashes``.
    ``core_metadata`` is ``None`` when the index offers no PEP 658 metadata file, and a
    (possibly empty) mapping of hashes of that metadata file when it does.
    """

    filename: str
    url: str
    hashes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    core_metadata: Mapping[str, str] | None = None
    size: int | None = None
    upload_time: str | None = None
    provenance: str | None = None

    @property
    def sha256(self) -> str | None:
        """The file's sha256 as the index states it, if it does."""
        return self.hashes.get("sha256")


@dataclass(frozen=True, slots=True)
class ProjectPage:
    """A project's page on an index: its name as the index spells it, and its files."""

    name: str
    files: tuple[DistFile, ...]
    status: str | None = None
    status_reason: str | None = None
    last_serial: int | None = None
    api_version: str | None = None


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """A file that is in place in the mirror: its upstream entry, path, and verified facts."""

    entry: DistFile
    path: str
    sha256: str
    size: int
    metadata_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectListing:
    """What a project page shows: the project, its files in place, and its PEP 792 status."""

    name: str
    files: tuple[PublishedFile, ...]
    versions: tuple[str, ...] = ()
    status: str | None = None
    status_reason: str | None = None
