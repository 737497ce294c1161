"""Read back the pages Cellar published, and write them again: the record verify and delete use.

A project's PEP 691 JSON page is parsed back into the ``ProjectListing`` it was rendered from
(``listing_from_json``, pure), so the three page files can be rendered again and compared byte
for byte, and rewritten after a repair. File URLs on the pages are relative
(``../../packages/...``): the file's mirror path is the URL path after ``../../``, unquoted.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from packaging.utils import canonicalize_name

from cellar.errors import CellarError
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
from cellar.tree.inventory import page_marks_of
from cellar.tree.paths import (
    OutsideTreeError,
    UnsafeNameError,
    is_project_name,
    project_key,
    resolves_within,
    within,
)
from cellar.tree.storage import TEMP_SUFFIX, atomic_write_all, is_temp_name

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


def project_pages(web_root: Path, name: str, *, hash_index: bool = False) -> Path:
    """Return the directory holding project ``name``'s pages: ``simple/<name>/``, or with
    ``hash_index`` bandersnatch's ``simple/<first letter>/<name>/``.

    Raises ``UnsafeNameError`` for a name that is not a valid project name, and
    ``OutsideTreeError`` if the directory would resolve outside ``web_root``.
    """
    return within(web_root, project_directory(name, hash_index=hash_index))


def page_directories(web_root: Path, name: str) -> tuple[Path, Path]:
    """Return where project ``name``'s pages may be, in the order a server looks: the flat
    layout's directory, then bandersnatch's hash-index one.

    For reading: the name is checked (``UnsafeNameError`` otherwise), so neither can leave
    the tree by its spelling; a symlink on the way is for the reader to check
    (``resolves_within``) when it opens a page.
    """
    return (
        web_root / project_directory(name, hash_index=False),
        web_root / project_directory(name, hash_index=True),
    )


def published_listing(web_root: Path, name: str) -> ProjectListing | None:
    """Return the listing of project ``name``'s (normalised) published JSON page in whichever
    layout holds it, or None if neither does.

    Raises ``PageFormatError`` (naming the page) for a page that is not what Cellar writes.
    """
    try:
        directories = page_directories(web_root, name)
    except (UnsafeNameError, OutsideTreeError):
        return None
    for directory in directories:
        page = directory / "index.v1_json"
        if not resolves_within(web_root, page):
            continue  # a symlink out of the tree: not the mirror's page
        try:
            body = page.read_bytes()
        except OSError:  # missing, or a name too long for the file system
            continue
        try:
            listing = listing_from_json(body)
        except PageFormatError as error:
            raise PageFormatError(f"{page}: {error}") from error
        if canonicalize_name(listing.name) == name:
            return listing
    return None


def read_marked(
    web_root: Path, name: str, *, recorded: bool, marks: str, hash_index: bool = False
) -> StoredPage | None:
    """Return project ``name``'s pages as ``cellar verify --fast`` trusts them: the listing of
    its JSON page, nothing compared. ``None`` if that page cannot be read or parsed.

    Only for pages whose files a walk of the tree (which follows no link to a directory) found
    in ``name``'s directory with ``marks``, the marks recorded when they were last written or
    verified: their directory is then known to be in the tree, as ``project_pages`` checks it
    for a page read in full (a page file is opened as there, links and all).
    """
    directory = project_directory(name, hash_index=hash_index)
    page = os.path.join(web_root, directory, "index.v1_json")  # noqa: PTH118
    try:
        with open(page, "rb") as stream:  # noqa: PTH123 - a string path: see listing_from_json
            listing = listing_from_json(stream.read())
    except (OSError, PageFormatError):
        return None
    return StoredPage(name, listing, {}, recorded, marks=marks)


def read_project(
    web_root: Path, state: MirrorState, name: str, *, recorded: bool, hash_index: bool = False
) -> StoredPage:
    """Read project ``name``'s pages and compare each with the rendering of the trusted listing.

    ``recorded`` says whether the state knows the project. Damaged pages are the answer,
    not an error; raises ``OSError`` only for a page that exists but cannot be read.
    """
    directory = project_pages(web_root, name, hash_index=hash_index)
    found = {filename: _read(directory / filename) for filename in PAGE_FILES}
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
    marks = None if damaged else page_marks(directory)
    return StoredPage(name, listing, damaged, recorded, frozenset(extra), marks)


def page_marks(directory: Path) -> str | None:
    """Return what ``stat`` says of the page files in ``directory`` (size, mtime and ctime of
    each, as text), or ``None`` if one is missing or not a regular file.

    A page file that still has the marks recorded when it was written (or verified) has not
    been written to since: a write sets the ctime to the time of the write, and no user can
    set it back (only the clock can go back). ``cellar verify --fast`` trusts such a page.
    """
    found = []
    for filename in PAGE_FILES:
        try:
            one = (directory / filename).stat()
        except OSError:
            return None
        if not stat.S_ISREG(one.st_mode):
            return None
        found.append(one)
    return page_marks_of(found)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _state_copy(state: MirrorState, name: str) -> ProjectListing | None:
    copy = state.project_page(name)
    if copy is None:
        return None
    try:
        return listing_from_json(copy)
    except PageFormatError:
        return None


def published_names(
    web_root: Path, state: MirrorState, *, hash_index: bool = False
) -> dict[str, bool]:
    """Return every project with pages on disk or in the record, mapped to "is in the record".

    A directory under ``simple/`` (with ``hash_index``, under ``simple/<letter>/``) without
    any page file (say, holding only a crash's temporary file) is not a project.
    """
    recorded = {name for name in state.project_names() if _is_key(name)}
    parents = _subdirectories(web_root / "simple") if hash_index else [web_root / "simple"]
    on_disk = {
        directory.name
        for parent in parents
        for directory in _subdirectories(parent)
        # A directory not named as Cellar names a project's is none of Cellar's doing; one
        # the record has is listed anyway, so its pages need no looking at here.
        if directory.name in recorded
        or (_is_key(directory.name) and any((directory / p).exists() for p in PAGE_FILES))
    }
    return {name: name in recorded for name in sorted(recorded | on_disk)}


def _is_key(name: str) -> bool:
    """Return whether ``name`` is a project name in its normalised form (a page directory's)."""
    return is_project_name(name) and project_key(name) == name


def remove_pages(directory: Path) -> None:
    """Remove the page files in ``directory``, then the directory if that leaves it empty.

    Only the page files: a directory can hold other projects' page directories too (in the
    hash-index layout, ``simple/a/`` is both project ``a``'s flat directory and a letter's).
    Raises ``OSError`` if a page exists but cannot be removed.
    """
    for filename in PAGE_FILES:
        (directory / filename).unlink(missing_ok=True)
    for leftover in directory.glob(f".*{TEMP_SUFFIX}") if directory.is_dir() else ():
        if is_temp_name(leftover.name):  # a page write a crash cut short
            leftover.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # missing, or not empty
        directory.rmdir()


def _subdirectories(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as entries:
            # A symlink is not followed: what it leads to is not the mirror's.
            return [
                directory / entry.name for entry in entries if entry.is_dir(follow_symlinks=False)
            ]
    except (NotADirectoryError, FileNotFoundError):
        return []


def write_project(
    web_root: Path, state: MirrorState, listing: ProjectListing, *, hash_index: bool = False
) -> None:
    """Write ``listing``'s three pages atomically and record the project with its JSON page.

    Raises ``OSError`` if a page cannot be written (the ones already written stay).
    """
    name = canonicalize_name(listing.name)
    pages = render_pages(listing)
    directory = project_pages(web_root, name, hash_index=hash_index)
    atomic_write_all({directory / filename: body for filename, body in pages.items()})
    display = state.display_name(name) or listing.name
    size = sum(file.size for file in listing.files)
    state.record_project(
        name,
        display,
        len(listing.files),
        size,
        pages["index.v1_json"],
        marks=page_marks(directory),
    )


def root_pages(names: Iterable[str]) -> dict[str, bytes]:
    """Return the root page files listing ``names`` (display names), by file name."""
    names = list(names)
    root_html = render_root_html(names)
    return {
        "index.v1_json": render_root_json(names),
        "index.v1_html": root_html,
        "index.html": root_html,
    }


def damaged_root(web_root: Path, state: MirrorState) -> dict[str, str]:
    """Return the root page files that differ from the state's projects, with the reason."""
    damaged = {}
    for filename, expected in root_pages(state.project_names().values()).items():
        path = web_root / "simple" / filename
        if not path.exists():
            damaged[filename] = "is missing"
        elif path.read_bytes() != expected:
            damaged[filename] = "does not list exactly the mirror's projects"
    return damaged


def write_root(web_root: Path, state: MirrorState, *, without: Iterable[str] = ()) -> None:
    """Write the root pages listing the state's projects, less ``without`` (normalised names).

    Raises ``OSError`` if a page cannot be written.
    """
    left_out = set(without)
    names = [shown for name, shown in state.project_names().items() if name not in left_out]
    pages = root_pages(names)
    paths = {within(web_root, f"simple/{filename}"): body for filename, body in pages.items()}
    atomic_write_all(paths)
