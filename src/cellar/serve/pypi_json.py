"""PyPI's JSON API documents, built from what the mirror holds (pure, no I/O).

``/pypi/<name>/json`` describes the project and its current release (PyPI's choice: the newest
final release not yanked); ``/pypi/<name>/<version>/json`` one release, without ``releases``
(as PyPI dropped it there). The shape is PyPI's: ``info``, ``last_serial``, ``releases``,
``urls``, ``vulnerabilities``. What the mirror holds decides the content:

- files, versions, sizes, sha256 digests, upload times, Requires-Python and yanked state come
  from the project's published PEP 691 page (``keep.pages.listing_from_json``), the document
  from ``bandersnatch.layout.json_api_document``; file URLs are this server's
  (``base_url`` + the file's path in the mirror);
- ``info``'s other fields come from the release's core metadata (its PEP 658 ``.metadata``
  file, a wheel's by preference), parsed leniently with ``packaging.metadata.parse_email``:
  what a field does not say, or a release without a metadata file, is ``null`` (lists ``[]``
  for ``classifiers``, as PyPI). ``project_urls`` holds ``Homepage`` and ``Download`` first,
  as PyPI builds it;
- what a mirror cannot know is PyPI's "unknown": ``last_serial`` 0, ``downloads`` -1,
  ``vulnerabilities`` empty, no PyPI page URLs.
"""

from __future__ import annotations

import json
from typing import Any, Final

from packaging.metadata import parse_email
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from cellar.filters import current_release
from cellar.model import ProjectListing, PublishedFile
from cellar.sync.compat import json_api_document, releases_of

#: ``info`` keys of PyPI's JSON API that only core metadata fills (all but ``classifiers``,
#: an empty list, are ``null`` when it does not).
_METADATA_KEYS: Final = (
    "author",
    "author_email",
    "classifiers",
    "description",
    "description_content_type",
    "download_url",
    "dynamic",
    "home_page",
    "keywords",
    "license",
    "license_expression",
    "license_files",
    "maintainer",
    "maintainer_email",
    "platform",
    "project_urls",
    "provides_extra",
    "requires_dist",
    "summary",
)
_SINGLE_FIELDS: Final = (
    "author",
    "author_email",
    "description",
    "description_content_type",
    "download_url",
    "home_page",
    "license",
    "license_expression",
    "maintainer",
    "maintainer_email",
    "summary",
)
_LIST_FIELDS: Final = ("classifiers", "dynamic", "license_files", "provides_extra", "requires_dist")


def current_version(listing: ProjectListing) -> Version | None:
    """Return the release ``/pypi/<name>/json`` describes: the newest final release not yanked
    (see ``bandersnatch.filters.current_release``), or None for a project without files."""
    releases = releases_of(listing)
    return current_release({v: [f.entry for f in files] for v, files in releases.items()})


def find_version(listing: ProjectListing, spelled: str) -> Version | None:
    """Return the release of ``listing`` that ``spelled`` names under PEP 440 (``1.0.0`` finds
    ``1.0``), or None if there is none or ``spelled`` is not a version."""
    try:
        wanted = Version(spelled)
    except InvalidVersion:
        return None
    return next((version for version in releases_of(listing) if version == wanted), None)


def metadata_source(listing: ProjectListing, version: Version) -> PublishedFile | None:
    """Return the file of ``version`` whose ``.metadata`` file fills ``info``: a wheel's if any
    has one (its metadata is static), else any file's; None if no file has one."""
    files = [f for f in releases_of(listing).get(version, []) if f.metadata_sha256]
    wheels = [f for f in files if f.entry.filename.endswith(".whl")]
    return next(iter(wheels or files), None)


def project_document(
    listing: ProjectListing,
    *,
    base_url: str,
    version: Version | None = None,
    metadata: bytes | None = None,
) -> dict[str, Any]:
    """Return the document of ``/pypi/<name>/json`` (``version`` None) or, for a ``version``
    of the listing (see ``find_version``), of ``/pypi/<name>/<version>/json``.

    ``base_url`` is the web root as clients reach it (``http://host:port/``); ``metadata`` the
    core metadata of the release described (see ``metadata_source``), if the mirror has it.
    """
    document = json_api_document(listing, version=version, base_url=base_url)
    if version is not None:
        del document["releases"]
    for files in [document["urls"], *document.get("releases", {}).values()]:
        for entry in files:
            entry.update(comment_text="", downloads=-1, has_sig=False)
    info = document["info"]
    from_files = info.get("requires_python")
    info.update(dict.fromkeys(_METADATA_KEYS), classifiers=[])
    info.update(
        bugtrack_url=None,
        docs_url=None,
        downloads={"last_day": -1, "last_month": -1, "last_week": -1},
        package_url=None,
        project_url=None,
        release_url=None,
    )
    if metadata is not None:
        info.update(info_from_metadata(metadata, listing.name))
    info["requires_python"] = info.get("requires_python") or from_files
    document["vulnerabilities"] = []
    return document


def info_from_metadata(metadata: bytes, project: str) -> dict[str, Any]:
    """Return the ``info`` fields core ``metadata`` fills (keys it does not state are left out).

    ``name`` is the metadata's spelling when it names ``project``; malformed fields are skipped,
    as PyPI shows what was uploaded rather than refusing it.
    """
    raw, _ = parse_email(metadata)
    fields: dict[str, Any] = {}
    for key in _SINGLE_FIELDS:
        value = raw.get(key)
        if isinstance(value, str) and value:
            fields[key] = value
    for key in _LIST_FIELDS:
        values = raw.get(key)
        if isinstance(values, list) and values:
            fields[key] = list(values)
    requires_python = raw.get("requires_python")
    if requires_python:
        fields["requires_python"] = requires_python
    keywords = raw.get("keywords")
    if keywords:
        fields["keywords"] = ",".join(keywords)
    platforms = raw.get("platforms")
    if platforms:
        fields["platform"] = ", ".join(platforms)
    urls = {}
    if raw.get("home_page"):
        urls["Homepage"] = raw["home_page"]
    if raw.get("download_url"):
        urls["Download"] = raw["download_url"]
    urls.update(raw.get("project_urls") or {})
    if urls:
        fields["project_urls"] = urls
    name = raw.get("name")
    if name and canonicalize_name(name) == canonicalize_name(project):
        fields["name"] = name
    return fields


def render_document(document: dict[str, Any]) -> bytes:
    """Return ``document`` as compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
