"""Read back the pages Cellar published, and write them again: the record verify and delete use.

A project's PEP 691 JSON page is parsed back into the ``ProjectListing`` it was rendered from
(``listing_from_json``, pure), so the three page files can be rendered again and compared byte
for byte, and rewritten after a repair. File URLs on the pages are relative
(``../../packages/...``): the file's mirror path is the URL path after ``../../``, unquoted.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote

from packaging.utils import canonicalize_name

from cellar.errors import CellarError
from cellar.hosted.model import LEASE_KEY
from cellar.hosted.records import read_hosted
from cellar.model import DistFile, ProjectListing, PublishedFile
from cellar.select.releases import file_version
from cellar.state import MirrorState
from cellar.sync.compat import project_directory
from cellar.sync.paths import METADATA_SUFFIX
from cellar.sync.render import (
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from cellar.tree.inventory import Inventory
from cellar.tree.lease import lease
from cellar.tree.paths import OutsideTreeError, UnsafeNameError, is_project_name, project_key
from cellar.tree.storage import Storage

#: The page files of a project (and of the root), in the order they are written.
PAGE_FILES = ("index.v1_json", "index.v1_html", "index.html")
_PREFIX = "../../"
_HREF = re.compile(r'href="\.\./\.\./([^"#]+)')
_NOT_SEGMENTS = frozenset(("", ".", ".."))


class PageFormatError(CellarError, ValueError):
    """A published JSON page that is not what Cellar writes; ``str()`` says what is wrong."""


def file_path(url: str) -> str:
    """Return the mirror path (below the web root) of a file a project page links as ``url``.

    Raises ``PageFormatError`` unless the URL is ``../../packages/...`` without dot segments.
    """
    if not url.startswith(_PREFIX):
        raise PageFormatError(f"the file URL {url!r} does not start with {_PREFIX!r}")
    text = url.removeprefix(_PREFIX)
    if "%" in text:
        text = unquote(text)
    parts = text.split("/")
    if parts[0] != "packages" or len(parts) < 2 or not _NOT_SEGMENTS.isdisjoint(parts):
        raise PageFormatError(f"the file URL {url!r} is not a path under packages/")
    return text  # a string, not a PurePosixPath: pathlib's parsing shows at a million files


def listing_from_json(body: bytes) -> ProjectListing:
    """Return the listing a PEP 691 page rendered by ``render_project_json`` was made from.

    Raises ``PageFormatError`` if ``body`` is not such a page (bad JSON, a missing or mistyped
    key, a URL outside the mirror).
    """
    try:
        data = json.loads(body)
        status = data.get("project-status") or {}
        return ProjectListing(
            name=_str(data["name"]),
            files=tuple(_published(item) for item in data["files"]),
            versions=tuple(_str(version) for version in data["versions"]),
            status=_optional(status.get("status")),
            status_reason=_optional(status.get("reason")),
        )
    except PageFormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PageFormatError(
            f"not a Cellar project page: {type(error).__name__}: {error}"
        ) from None


def _published(item: Any) -> PublishedFile:
    """Return the file a page's JSON entry lists (the hot loop of reading a mirror's pages:
    each read once, fresh mappings made read-only without a copy)."""
    yanked = item["yanked"]
    if not isinstance(yanked, bool | str):
        raise TypeError(f"yanked is {yanked!r}")
    metadata = item.get("core-metadata")  # absent (or false) when there is no metadata file
    metadata_sha256 = _str(metadata["sha256"]) if metadata else None
    size = item["size"]
    if type(size) is not int:  # not a bool either
        raise TypeError(f"size is {size!r}")
    url = _str(item["url"])
    sha256 = _str(item["hashes"]["sha256"])
    entry = DistFile(
        filename=_str(item["filename"]),
        url=url,
        hashes=MappingProxyType({"sha256": sha256}),
        requires_python=_optional(item["requires-python"]),
        yanked=yanked is not False,
        yanked_reason=yanked if isinstance(yanked, str) else None,
        core_metadata=MappingProxyType({"sha256": metadata_sha256}) if metadata_sha256 else None,
        size=size,
        upload_time=_optional(item.get("upload-time")),
        provenance=_optional(item.get("provenance")),
    )
    return PublishedFile(entry, file_path(url), sha256, size, metadata_sha256)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {value!r}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _str(value)


def listed_paths(listing: ProjectListing) -> Iterable[str]:
    """Yield the mirror path of every file ``listing`` lists, ``.metadata`` files included."""
    for file in listing.files:
        yield file.path
        if file.metadata_sha256:
            yield file.path + METADATA_SUFFIX  # metadata_path's, as a string
        if file.entry.provenance == "../../" + quote(file.path + ".provenance", safe="/"):
            yield file.path + ".provenance"  # mirrored beside it (sync/provenance.py)


def html_paths(body: bytes) -> set[str]:
    """Return the mirror paths an HTML project page links (whatever state the page is in)."""
    text = body.decode("utf-8", errors="replace")
    return {unquote(html.unescape(match)) for match in _HREF.findall(text)}


def render_pages(listing: ProjectListing) -> dict[str, bytes]:
    """Return the three page files of ``listing`` by file name."""
    page_html = render_project_html(listing)
    return {
        "index.v1_json": render_project_json(listing),
        "index.v1_html": page_html,
        "index.html": page_html,
    }


def versions_of(name: str, files: Iterable[PublishedFile]) -> tuple[str, ...]:
    """Return the versions ``files`` carry, sorted, as the engine writes them on a page."""
    project = canonicalize_name(name)
    found = {hit[0] for file in files if (hit := file_version(file.entry.filename, project))}
    return tuple(str(version) for version in sorted(found))


@dataclass(frozen=True, slots=True)
class StoredPage:
    """A project's pages as found: the listing to trust (if any) and what is wrong with them.

    ``listing`` comes from the JSON page on disk, else from the state's copy of it.
    ``damaged`` maps each page file that is missing or differs from the listing's rendering
    to the reason; ``extra_paths`` are files the damaged HTML pages link beyond the listing.
    ``marks`` are the page files' marks (``page_marks``) when none is damaged.
    """

    name: str
    listing: ProjectListing | None
    damaged: Mapping[str, str]
    recorded: bool
    extra_paths: frozenset[str] = frozenset()
    marks: str | None = None


def page_folder(name: str, *, hash_index: bool = False) -> str:
    """Return the folder (key prefix, no ``/`` at the end) holding project ``name``'s pages:
    ``simple/<name>``, or with ``hash_index`` bandersnatch's ``simple/<first letter>/<name>``.

    Raises ``UnsafeNameError`` for a name that is not a valid project name.
    """
    return str(project_directory(name, hash_index=hash_index))


def page_keys(name: str, *, hash_index: bool = False) -> dict[str, str]:
    """Return the keys of project ``name``'s page files, by file name (``page_folder``)."""
    folder = page_folder(name, hash_index=hash_index)
    return {filename: f"{folder}/{filename}" for filename in PAGE_FILES}


def published_listing(storage: Storage, name: str) -> ProjectListing | None:
    """Return the listing of project ``name``'s (normalised) published JSON page in whichever
    layout holds it (flat first, as a server looks), or None if neither does.

    Raises ``PageFormatError`` (naming the page) for a page that is not what Cellar writes.
    """
    for hash_index in (False, True):
        try:
            key = page_keys(name, hash_index=hash_index)["index.v1_json"]
            body = storage.read(key)
        except (UnsafeNameError, OutsideTreeError, OSError):
            # Not a name, a symlink out of the tree, a name too long for the file system.
            continue
        if body is None:
            continue
        try:
            listing = listing_from_json(body)
        except PageFormatError as error:
            raise PageFormatError(f"{key}: {error}") from error
        if canonicalize_name(listing.name) == name:
            return listing
    return None


def read_marked(
    walked: Inventory, name: str, *, recorded: bool, marks: str, hash_index: bool = False
) -> StoredPage | None:
    """Return project ``name``'s pages as ``cellar verify --fast`` trusts them: the listing of
    its JSON page, nothing compared. ``None`` if that page cannot be read or parsed.

    Only for pages whose files the walk ``walked`` found in ``name``'s folder with ``marks``,
    the marks recorded when they were last written or verified.
    """
    body = walked.read_page(page_folder(name, hash_index=hash_index), "index.v1_json")
    if body is None:
        return None
    try:
        listing = listing_from_json(body)
    except PageFormatError:
        return None
    return StoredPage(name, listing, {}, recorded, marks=marks)


def read_project(
    storage: Storage, state: MirrorState, name: str, *, recorded: bool, hash_index: bool = False
) -> StoredPage:
    """Read project ``name``'s pages and compare each with the rendering of the trusted listing.

    ``recorded`` says whether the state knows the project. Damaged pages are the answer,
    not an error; raises ``OSError`` only for a page that exists but cannot be read, and
    ``OutsideTreeError`` for a page folder that leads out of the tree.
    """
    keys = page_keys(name, hash_index=hash_index)
    found = {filename: storage.read(key) for filename, key in keys.items()}
    damaged: dict[str, str] = {}
    listing = None
    body = found["index.v1_json"]
    if body is not None:
        try:
            listing = listing_from_json(body)
        except PageFormatError as error:
            damaged["index.v1_json"] = f"cannot be read: {error}"
    if listing is None:
        listing = _state_copy(state, name)
    expected = render_pages(listing) if listing is not None else {}
    known = set(listed_paths(listing)) if listing is not None else set()
    extra: set[str] = set()
    for filename, actual in found.items():
        if filename in damaged:
            continue
        if actual is None:
            damaged[filename] = "is missing"
        elif actual != expected.get(filename):
            damaged[filename] = "differs from the project's listing" if expected else "unreadable"
            if filename != "index.v1_json":
                extra |= html_paths(actual) - known
    marks = None if damaged else page_marks(storage, name, hash_index=hash_index)
    return StoredPage(name, listing, damaged, recorded, frozenset(extra), marks)


def compare_pages(
    storage: Storage, listing: ProjectListing, *, hash_index: bool = False
) -> StoredPage:
    """Read project ``listing``'s pages and compare each with its rendering: the pages of a
    hosted project, whose record (``listing``) is the truth. Raises ``OSError`` as
    ``read_project``."""
    name = canonicalize_name(listing.name)
    expected = render_pages(listing)
    damaged: dict[str, str] = {}
    for filename, key in page_keys(name, hash_index=hash_index).items():
        actual = storage.read(key)
        if actual is None:
            damaged[filename] = "is missing"
        elif actual != expected[filename]:
            damaged[filename] = "differs from the hosted project's record"
    return StoredPage(name, listing, damaged, recorded=True)


def page_marks(storage: Storage, name: str, *, hash_index: bool = False) -> str | None:
    """Return the versions of project ``name``'s page files (local: size, mtime and ctime of
    each, as text), or ``None`` if one is missing.

    A page file that still has the marks recorded when it was written (or verified) has not
    been written to since: a write sets the ctime to the time of the write, and no user can
    set it back (only the clock can go back). ``cellar verify --fast`` trusts such a page.
    """
    found = [storage.stat(key) for key in page_keys(name, hash_index=hash_index).values()]
    return " ".join(info.version for info in found if info) if all(found) else None


def _state_copy(state: MirrorState, name: str) -> ProjectListing | None:
    copy = state.project_page(name)
    if copy is None:
        return None
    try:
        return listing_from_json(copy)
    except PageFormatError:
        return None


def published_names(
    storage: Storage, state: MirrorState, *, hash_index: bool = False
) -> dict[str, bool]:
    """Return every project with pages in the tree or in the record, mapped to "is in the
    record".

    A folder under ``simple/`` (with ``hash_index``, under ``simple/<letter>/``) without any
    page file (say, holding only a crash's temporary file) is not a project.
    """
    recorded = {name for name in state.project_names() if _is_key(name)}
    parents = (
        [f"simple/{letter}/" for letter in storage.folders("simple/")]
        if hash_index
        else ["simple/"]
    )
    on_disk = {
        folder
        for parent in parents
        for folder in storage.folders(parent)
        # A folder not named as Cellar names a project's is none of Cellar's doing; one the
        # record has is listed anyway, so its pages need no looking at here.
        if folder in recorded
        or (
            _is_key(folder) and any(storage.stat(f"{parent}{folder}/{page}") for page in PAGE_FILES)
        )
    }
    return {name: name in recorded for name in sorted(recorded | on_disk)}


def _is_key(name: str) -> bool:
    """Return whether ``name`` is a project name in its normalised form (a page folder's)."""
    return is_project_name(name) and project_key(name) == name


def remove_pages(storage: Storage, name: str, *, hash_index: bool = False) -> None:
    """Remove project ``name``'s page files in one layout.

    Only the page files: a folder can hold other projects' page folders too (in the
    hash-index layout, ``simple/a/`` is both project ``a``'s flat folder and a letter's).
    Raises ``OSError`` if a page exists but cannot be removed.
    """
    storage.delete(page_keys(name, hash_index=hash_index).values())


def publish_pages(
    storage: Storage, listing: ProjectListing, *, hash_index: bool = False
) -> tuple[dict[str, bytes], str | None]:
    """Publish ``listing``'s three pages: those whose bytes changed are written (all synced
    before the first appears), unchanged ones keep their versions (and ETags); the project's
    pages in the other layout go (after ``hash-index`` is switched). Return the pages and
    their marks. Blocking. Raises ``OSError`` if a page cannot be written (then none has
    changed)."""
    name = canonicalize_name(listing.name)
    pages = render_pages(listing)
    keys = page_keys(name, hash_index=hash_index)
    storage.put({keys[filename]: body for filename, body in pages.items()})
    remove_pages(storage, name, hash_index=not hash_index)
    return pages, page_marks(storage, name, hash_index=hash_index)


def record_published(
    state: MirrorState,
    listing: ProjectListing,
    pages: Mapping[str, bytes],
    marks: str | None,
    *,
    display_name: str,
    published: str | None = None,
) -> None:
    """Record project ``listing``'s pages as published (its JSON page, counts and marks)."""
    state.record_project(
        canonicalize_name(listing.name),
        display_name,
        len(listing.files),
        sum(file.size for file in listing.files),
        pages["index.v1_json"],
        published=published,
        marks=marks,
    )


def write_project(
    storage: Storage, state: MirrorState, listing: ProjectListing, *, hash_index: bool = False
) -> None:
    """Publish ``listing``'s pages (``publish_pages``) and record the project under the name
    the state shows for it (verify's repairs, delete). Raises ``OSError`` as
    ``publish_pages``."""
    pages, marks = publish_pages(storage, listing, hash_index=hash_index)
    name = canonicalize_name(listing.name)
    display = state.display_name(name) or listing.name
    record_published(state, listing, pages, marks, display_name=display)


def root_pages(names: Iterable[str]) -> dict[str, bytes]:
    """Return the root page files listing ``names`` (display names), by file name."""
    names = list(names)
    root_html = render_root_html(names)
    return {
        "index.v1_json": render_root_json(names),
        "index.v1_html": root_html,
        "index.html": root_html,
    }


def root_names(storage: Storage, state: MirrorState, *, without: Iterable[str] = ()) -> list[str]:
    """The names the root lists: the state's projects less ``without`` (normalised names), and
    every hosted project (read from the tree: a server may have added one)."""
    left_out = set(without)
    names = {name: shown for name, shown in state.project_names().items() if name not in left_out}
    names.update({str(name): shown for name, shown in read_hosted(storage).display_names().items()})
    return list(names.values())


def damaged_root(storage: Storage, state: MirrorState) -> dict[str, str]:
    """Return the root page files that differ from the state's projects, with the reason."""
    damaged = {}
    for filename, expected in root_pages(root_names(storage, state)).items():
        found = storage.read(f"simple/{filename}")
        if found is None:
            damaged[filename] = "is missing"
        elif found != expected:
            damaged[filename] = "does not list exactly the mirror's projects"
    return damaged


def publish_root(storage: Storage, state: MirrorState, *, without: Iterable[str] = ()) -> None:
    """Publish the root pages listing the state's projects, less ``without`` (normalised
    names), and every hosted project: only the files whose bytes change are written. Raises
    ``OSError`` if a page cannot be written, ``LeaseHeldError`` if another writer of the root
    holds it too long.

    Hosted projects are read under the lease every writer of the root holds
    (``tree/lease.py``): one a server adds meanwhile is never left out.
    """
    with lease(storage, LEASE_KEY):
        names = root_names(storage, state, without=without)
        storage.put({f"simple/{filename}": body for filename, body in root_pages(names).items()})
