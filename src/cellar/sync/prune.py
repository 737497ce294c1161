"""Remove projects from the mirror: the engine's pruning, and ``cellar delete``'s removal.

A project goes in an order that keeps the mirror servable at every step: the root page stops
listing it, then its pages go, then its record, then its files. A file goes only if no kept
project links it, by any account of its pages: the JSON page on disk, the state's copy of it,
and the links of both HTML pages, so even a damaged page never loses a file it lists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from cellar.hosted.model import FILES
from cellar.state import MirrorState
from cellar.sync.pages import (
    PageFormatError,
    html_paths,
    listed_paths,
    listing_from_json,
    page_keys,
    publish_root,
    published_names,
    remove_pages,
)
from cellar.sync.paths import METADATA_SUFFIX
from cellar.tree.paths import OutsideTreeError, is_project_name
from cellar.tree.storage import Storage


@dataclass(frozen=True, slots=True)
class PruneResult:
    """Projects removed, the files removed with their sizes, and the files kept.

    ``shared`` files belonged to a removed project but a kept page lists them. ``unknown``
    names had neither pages nor a record. With ``dry_run`` nothing was removed: this is
    what would be.
    """

    projects: tuple[str, ...]
    files: tuple[tuple[str, int], ...]
    shared: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def bytes(self) -> int:
        """The bytes of the files removed (or that would be)."""
        return sum(size for _, size in self.files)


def plan_prune(
    storage: Storage, state: MirrorState, names: Iterable[str], *, hash_index: bool = False
) -> PruneResult:
    """Return what removing projects ``names`` (any spelling) would remove; change nothing.

    Raises ``OSError`` if a page directory cannot be read.
    """
    wanted = sorted({canonicalize_name(name) for name in names if is_project_name(name)})
    published = published_names(storage, state, hash_index=hash_index)
    projects = tuple(name for name in wanted if name in published)
    unknown = tuple(name for name in wanted if name not in published)
    kept: set[str] = set()
    for name in published:
        if name not in projects:
            kept |= _linked(storage, state, name, hash_index=hash_index)
    candidates: set[str] = set()
    for name in projects:
        candidates |= _linked(storage, state, name, hash_index=hash_index)
        candidates.update(record.path for record in state.project_files(name))
    files = []
    for path in sorted(candidates - kept):
        try:
            found = storage.stat(path)
        except OutsideTreeError:
            continue  # never Cellar's to remove: a path from a damaged record or page
        if found is not None:
            files.append((path, found.size))
    shared = tuple(sorted(candidates & kept))
    return PruneResult(projects, tuple(files), shared, unknown, dry_run=True)


def prune_projects(
    storage: Storage, state: MirrorState, names: Iterable[str], *, hash_index: bool = False
) -> PruneResult:
    """Remove projects ``names``: pages, record, and the files no kept page lists.

    The caller holds the mirror lock. Names with no pages and no record are skipped (they
    are in ``unknown``). Returns what was removed. Raises ``OSError`` if a page or file
    cannot be written or removed; what was done before stays done, and running it again
    finishes the work.
    """
    plan = plan_prune(storage, state, names, hash_index=hash_index)
    if not plan.projects:
        return PruneResult((), (), unknown=plan.unknown)
    publish_root(storage, state, without=plan.projects)
    for name in plan.projects:
        # Only the page files (and a cut page write's leftovers): never a whole tree.
        remove_pages(storage, name, hash_index=hash_index)
        state.forget_project(name)
    removed, _ = storage.delete([path for path, _ in plan.files])
    shared = set(plan.shared)
    stale = [record.path for name in plan.projects for record in state.project_files(name)]
    state.forget_files([*removed, *(path for path in stale if path not in shared)])
    gone = set(removed)
    files = tuple((path, size) for path, size in plan.files if path in gone)
    return PruneResult(plan.projects, files, plan.shared, plan.unknown)


def _linked(storage: Storage, state: MirrorState, name: str, *, hash_index: bool) -> set[str]:
    """Return every file path any account of project ``name``'s pages links (with .metadata)."""
    keys = page_keys(name, hash_index=hash_index)
    paths: set[str] = set()
    for body in (state.project_page(name), storage.read(keys["index.v1_json"])):
        if body is None:
            continue
        try:
            paths.update(listed_paths(listing_from_json(body)))
        except PageFormatError:
            continue
    for filename in ("index.html", "index.v1_html"):
        paths |= html_paths(storage.read(keys[filename]) or b"")
    paths |= {path + METADATA_SUFFIX for path in paths if not path.endswith(METADATA_SUFFIX)}
    return {path for path in paths if _inside_packages(path)}


def _inside_packages(path: str) -> bool:
    """A file the mirror may remove: under ``packages/``, never a hosted one (a project that
    also takes upstream releases lists hosted files, which only their record may change)."""
    parts = path.split("/")
    return (
        parts[0] == "packages"
        and len(parts) > 1
        and not {"", ".", ".."} & set(parts)
        and not path.startswith(FILES)
    )
