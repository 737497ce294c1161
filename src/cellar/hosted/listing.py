"""What a hosted project's pages list, made from its record (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from types import MappingProxyType

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from cellar.hosted.model import FILES, HOSTED_URL, HostedFile, HostedRecord
from cellar.model import DistFile, ProjectListing, PublishedFile
from cellar.select.releases import file_version


def hosted_listing(record: HostedRecord) -> ProjectListing:
    """The listing the project's pages show: every file, yanked ones marked (PEP 592)."""
    name = record.key
    files = tuple(published_file(name, file) for file in record.files)
    return ProjectListing(record.name, files, versions=_sorted_versions(record.versions()))


def published_file(name: NormalizedName, file: HostedFile) -> PublishedFile:
    """The file as a page lists it; its DistFile's URL marks it hosted (never fetched)."""
    path = file.path(name)
    metadata = file.metadata_sha256
    entry = DistFile(
        filename=file.filename,
        url=HOSTED_URL + path,
        hashes=MappingProxyType({"sha256": file.sha256}),
        requires_python=file.requires_python,
        yanked=file.yanked is not False,
        yanked_reason=file.yanked if isinstance(file.yanked, str) else None,
        core_metadata=MappingProxyType({"sha256": metadata}) if metadata else None,
        size=file.size,
        upload_time=file.upload_time,
    )
    return PublishedFile(entry, path, file.sha256, file.size, metadata)


def _sorted_versions(versions: Iterable[str]) -> tuple[str, ...]:
    def order(text: str) -> tuple[int, Version | str]:
        try:
            return (1, Version(text))
        except InvalidVersion:
            return (0, text)

    return tuple(sorted(set(versions), key=order))


def merged_listing(record: HostedRecord, current: ProjectListing | None) -> ProjectListing:
    """The listing of a hosted project that allows upstream releases: the mirrored files of its
    page as it stands (``current``), less any of a version the hosted side has, then the
    hosted files. A hosted version is never mixed with an upstream one."""
    hosted = hosted_listing(record)
    versions = set(record.versions())
    upstream = [
        file
        for file in (current.files if current is not None else ())
        if not file.path.startswith(FILES) and _version_of(record.key, file) not in versions
    ]
    files = (*upstream, *hosted.files)
    found = {v for f in files if (v := _version_of(record.key, f)) is not None}
    return replace(hosted, files=files, versions=_sorted_versions(found))


def _version_of(name: NormalizedName, file: PublishedFile) -> str | None:
    found = file_version(file.entry.filename, name)
    return str(found[0]) if found else None
