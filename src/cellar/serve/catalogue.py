"""What the pages for people show, shaped from the mirror's record and pages (pure, no I/O).

The server reads the state and the published JSON pages; this module searches and pages the
project names, groups a project's files into releases (newest first) and says how a client
reaches the mirror. ``serve/human.py`` turns these values into HTML.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

from packaging.utils import canonicalize_name
from packaging.version import Version

from cellar.model import ProjectListing, PublishedFile
from cellar.select.releases import file_version
from cellar.state import RunRecord, Totals
from cellar.state.bundles import AppliedBundle

#: Projects listed per page of the home page (search results included).
PAGE_SIZE: Final = 100
#: A longer query is cut: no project name needs more, and matching stays cheap.
MAX_QUERY: Final = 100
_SEPARATORS: Final = re.compile(r"[-_.\s]+")
#: Hosts pip trusts over plain HTTP without ``--trusted-host``.


@dataclass(frozen=True, slots=True)
class ProjectEntry:
    """A project on the home page: its normalised name (for links) and its display name."""

    name: str
    display: str
    #: Uploaded here (a hosted project), not mirrored from the upstream.
    hosted: bool = False


@dataclass(frozen=True, slots=True)
class ProjectSearch:
    """One page of the projects matching ``query`` (all projects when it is empty).

    ``matched`` counts every match, ``total`` every project; ``page`` is 1-based, of ``pages``
    pages of ``page_size`` projects.
    """

    query: str
    entries: tuple[ProjectEntry, ...]
    matched: int
    total: int
    page: int
    pages: int
    page_size: int = PAGE_SIZE


def search_key(text: str) -> str:
    """Return ``text`` as a name search compares it: PEP 503-normalised, outer ``-`` dropped."""
    return _SEPARATORS.sub("-", text.strip().lower()).strip("-")


def search_projects(
    names: Mapping[str, str],
    query: str,
    page: int = 1,
    *,
    page_size: int = PAGE_SIZE,
    hosted: AbstractSet[str] = frozenset(),
) -> ProjectSearch:
    """Return page ``page`` of the projects in ``names`` (normalised -> display) that match.

    A project matches when the normalised query is part of its normalised name: exact matches
    first, then names starting with the query, then the rest, each alphabetically. A page out
    of range is clamped to the nearest page that exists.
    """
    query = query.strip()[:MAX_QUERY]
    key = search_key(query)
    if key:
        ranked = sorted(
            (_rank(name, key), name) for name in names if key in canonicalize_name(name)
        )
        matches = [name for _, name in ranked]
    else:
        matches = sorted(names)
    pages = max(1, -(-len(matches) // page_size))
    page = min(max(page, 1), pages)
    shown = matches[(page - 1) * page_size : page * page_size]
    entries = tuple(ProjectEntry(name, names[name], name in hosted) for name in shown)
    return ProjectSearch(query, entries, len(matches), len(names), page, pages, page_size)


def _rank(name: str, key: str) -> int:
    normal = canonicalize_name(name)
    return 0 if normal == key else 1 if normal.startswith(key) else 2


@dataclass(frozen=True, slots=True)
class Release:
    """A version of a project and its files; ``version`` is None for files naming none."""

    version: str | None
    files: tuple[PublishedFile, ...]

    @property
    def yanked(self) -> bool:
        """True when every file of the release is yanked."""
        return all(file.entry.yanked for file in self.files)


def releases(listing: ProjectListing) -> tuple[Release, ...]:
    """Return the listing's files grouped by version, newest version first.

    Files whose name carries no version of this project (which installers pass over) come
    last, in one release whose version is None. Within a release, files keep the page's order.
    """
    project = canonicalize_name(listing.name)
    grouped: dict[Version, list[PublishedFile]] = {}
    other: list[PublishedFile] = []
    for file in listing.files:
        found = file_version(file.entry.filename, project)
        if found is None:
            other.append(file)
        else:
            grouped.setdefault(found[0], []).append(file)
    result = [Release(str(v), tuple(grouped[v])) for v in sorted(grouped, reverse=True)]
    if other:
        result.append(Release(None, tuple(other)))
    return tuple(result)


def latest_version(found: Iterable[Release]) -> str | None:
    """Return the version pip would pick by default among ``found`` (newest first): the newest
    final release not wholly yanked, else the newest such pre-release; None if there is none."""
    candidates = [r.version for r in found if r.version is not None and not r.yanked]
    finals = [v for v in candidates if not Version(v).is_prerelease]
    preferred = finals or candidates
    return preferred[0] if preferred else None


@dataclass(frozen=True, slots=True)
class MirrorStatus:
    """What the home page says of the mirror's state.

    ``totals`` and ``last_run`` are None when the state could not be read (``problem`` says
    why); ``last_run`` is also None before the first run. ``free_bytes`` is the space left on
    the web root's file system, None if it could not be found. ``bundle`` is the last bundle
    applied, on a mirror fed by bundles across an air gap.
    """

    totals: Totals | None = None
    last_run: RunRecord | None = None
    free_bytes: int | None = None
    problem: str | None = None
    bundle: AppliedBundle | None = None
