"""The files bandersnatch writes beside the Simple API pages, rendered the same way (pure).

- ``web/json/<name>`` and a copy at ``web/pypi/<name>/json`` (``json = true``): a document in
  the shape of PyPI's JSON API (``/pypi/<name>/json``), built from what the mirror holds.
  Cellar reads no JSON API, so what only it carries (summary, requires_dist, ...) is ``null``;
  file URLs are the upstream's, as in the document bandersnatch saves verbatim from PyPI.
- ``generation`` (``5``) and ``status`` (the last serial synced) in the mirror directory, and
  ``web/last-modified`` (the time of the last successful run).
- ``web/simple/<first letter>/<name>/`` for project pages with ``hash-index = true``.
- The diff file: the absolute path of every file a run wrote, one a line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from packaging.utils import canonicalize_name
from packaging.version import Version

from cellar.filters import current_release, package_type
from cellar.model import ProjectListing, PublishedFile
from cellar.select.releases import any_file_version
from cellar.tree.paths import project_key

#: bandersnatch's ``CURRENT_GENERATION``: the layout version of the mirror directory.
GENERATION = 5
GENERATION_FILE = "generation"
STATUS_FILE = "status"
LAST_MODIFIED_FILE = PurePosixPath("last-modified")
#: The name bandersnatch gives the diff file when ``diff-file`` names a directory.
DIFF_FILE_NAME = "mirrored-files"


def render_generation() -> bytes:
    """Return the ``generation`` file's content (no newline, as bandersnatch writes it)."""
    return str(GENERATION).encode("ascii")


def render_status(serial: int) -> bytes:
    """Return the ``status`` file's content: the serial the mirror is synced to."""
    return str(serial).encode("ascii")


def status_serial(previous: int | None, serials: Iterable[int | None]) -> int:
    """Return the serial to record: the highest of the previous one and the upstream's
    ``last_serial`` of each page this run synced (unknown ones ignored; 0 if none is known)."""
    known = [serial for serial in serials if serial is not None]
    return max([previous or 0, *known])


def render_last_modified(now: datetime) -> bytes:
    """Return ``web/last-modified``'s content: ``now`` in UTC as ``YYYYMMDDTHH:MM:SS``."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H:%M:%S\n").encode("ascii")


def parse_last_modified(body: bytes) -> datetime | None:
    """Return the time a ``web/last-modified`` file holds (UTC), or None if ``body`` is not what
    ``render_last_modified`` writes."""
    try:
        stamp = datetime.strptime(body.decode("ascii").strip(), "%Y%m%dT%H:%M:%S")
    except (UnicodeDecodeError, ValueError):
        return None
    return stamp.replace(tzinfo=UTC)


def project_directory(name: str, *, hash_index: bool) -> PurePosixPath:
    """Return a project's page directory below the web root: ``simple/<name>``, or with
    ``hash_index`` ``simple/<first letter>/<name>`` (the name PEP 503-normalised).

    Raises ``UnsafeNameError`` unless ``name`` is a valid project name.
    """
    return PurePosixPath(*project_directory_parts(project_key(name), hash_index=hash_index))


def project_directory_parts(normal: str, *, hash_index: bool) -> tuple[str, ...]:
    """Return ``project_directory``'s segments for ``normal``, a name already checked and
    normalised (``project_key``): what a server joins for every request, without a path object.
    """
    return ("simple", normal[0], normal) if hash_index else ("simple", normal)


def json_api_paths(name: str) -> tuple[PurePosixPath, PurePosixPath]:
    """Return where a project's JSON API document goes below the web root: ``json/<name>``
    and its copy ``pypi/<name>/json`` (the name PEP 503-normalised).

    Raises ``UnsafeNameError`` unless ``name`` is a valid project name.
    """
    normal = project_key(name)
    return PurePosixPath("json", normal), PurePosixPath("pypi", normal, "json")


def render_json_api(
    listing: ProjectListing, *, last_serial: int | None = None, base_url: str | None = None
) -> bytes:
    """Return the JSON API document of ``listing``'s project (``indent=4``, sorted keys).

    ``info.version`` is the release PyPI would call current (newest final release not
    yanked); ``urls`` lists its files. Each file's ``url`` is the upstream's, or with
    ``base_url`` that URL joined with the file's path in the mirror. ``last_serial`` is 0
    when unknown.
    """
    document = json_api_document(listing, last_serial=last_serial, base_url=base_url)
    return json.dumps(document, indent=4, sort_keys=True).encode("utf-8")


def releases_of(listing: ProjectListing) -> dict[Version, list[PublishedFile]]:
    """Return ``listing``'s files by the version their names carry (files without one left out)."""
    name = canonicalize_name(listing.name)
    releases: dict[Version, list[PublishedFile]] = {}
    for file in listing.files:
        version = any_file_version(file.entry.filename, name)
        if version is not None:
            releases.setdefault(version, []).append(file)
    return releases


def json_api_document(
    listing: ProjectListing,
    *,
    version: Version | None = None,
    last_serial: int | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Return the JSON API document of ``listing``'s project as a dict (see ``render_json_api``).

    ``info`` and ``urls`` describe ``version`` (default: the current release); a version the
    listing does not hold has no files.
    """
    releases = releases_of(listing)
    if version is None:
        version = current_release({v: [f.entry for f in files] for v, files in releases.items()})
    files = releases.get(version, []) if version is not None else []

    def entry(file: PublishedFile) -> dict[str, Any]:
        return _file_entry(file, base_url)

    return {
        "info": _info(listing.name, version, files),
        "last_serial": last_serial or 0,
        "releases": {str(v): [entry(f) for f in found] for v, found in releases.items()},
        "urls": [entry(file) for file in files],
    }


def _info(name: str, version: Version | None, files: Sequence[PublishedFile]) -> dict[str, Any]:
    yanked = bool(files) and all(file.entry.yanked for file in files)
    return {
        "name": name,
        "version": str(version) if version is not None else None,
        "summary": None,
        "requires_dist": None,
        "requires_python": next(
            (f.entry.requires_python for f in files if f.entry.requires_python), None
        ),
        "yanked": yanked,
        "yanked_reason": next((f.entry.yanked_reason for f in files if f.entry.yanked_reason), None)
        if yanked
        else None,
    }


def _file_entry(file: PublishedFile, base_url: str | None) -> dict[str, Any]:
    entry = file.entry
    digests = {"sha256": file.sha256}
    for algorithm in ("md5", "blake2b_256"):
        if algorithm in entry.hashes:
            digests[algorithm] = entry.hashes[algorithm]
    url = entry.url
    if base_url is not None:
        url = f"{base_url.rstrip('/')}/{quote(file.path, safe='/')}"
    uploaded = _upload_time(entry.upload_time)
    return {
        "digests": digests,
        "filename": entry.filename,
        "md5_digest": entry.hashes.get("md5"),
        "packagetype": package_type(entry.filename),
        "python_version": _python_version(entry.filename),
        "requires_python": entry.requires_python,
        "size": file.size,
        "upload_time": uploaded.strftime("%Y-%m-%dT%H:%M:%S") if uploaded else None,
        "upload_time_iso_8601": uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if uploaded else None,
        "url": url,
        "yanked": entry.yanked,
        "yanked_reason": entry.yanked_reason if entry.yanked else None,
    }


def _upload_time(stamp: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(stamp or "")
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _python_version(filename: str) -> str | None:
    """Return PyPI's ``python_version`` of a file: a wheel's Python tag, ``source`` for sdists,
    an egg's ``pyX.Y``."""
    kind = package_type(filename)
    if kind == "sdist":
        return "source"
    if kind == "bdist_wheel":
        return filename[: -len(".whl")].split("-")[-3]
    if kind == "bdist_egg":
        return next(
            (part for part in filename[: -len(".egg")].split("-") if part.startswith("py")), None
        )
    return None


def diff_file_path(configured: Path, *, epoch: int | None, is_dir: Callable[[Path], bool]) -> Path:
    """Return where to write the diff file, as bandersnatch decides: ``configured``, with
    ``-<epoch>`` appended to its name when ``epoch`` is given, and ``mirrored-files`` inside
    it when that is a directory (``is_dir`` says)."""
    path = configured.with_name(f"{configured.name}-{epoch}") if epoch is not None else configured
    return path / DIFF_FILE_NAME if is_dir(path) else path


def render_diff_file(paths: Iterable[Path]) -> bytes:
    """Return the diff file's content: each path made absolute, one a line, in the order
    written (pages and JSON documents, then downloaded files), without a final newline."""
    return "\n".join(str(path.absolute()) for path in paths).encode("utf-8")
