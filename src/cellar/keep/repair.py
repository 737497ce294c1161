"""``cellar verify --repair``: download missing and corrupt files again, and revise the pages.

A file is fetched from the upstream URL the state recorded when it was first placed, through
the same ``FileFetcher`` as ``cellar mirror``: to a temporary name, checked against the size
and sha256 the page states, then renamed into place. A corrupt file is deleted first, so it is
never kept and never served while its replacement downloads. A file that cannot be repaired
is taken off every page that lists it (its ``.metadata`` file only: the metadata is dropped
from the page), so no page lists what is not there.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from cellar.keep.checks import FileCheck
from cellar.keep.model import Finding, Fix, Problem, Resolution, VerifyReporter
from cellar.model import ProjectListing, PublishedFile, frozen_mapping
from cellar.state import MirrorState
from cellar.sync.errors import SyncFileError
from cellar.sync.fetch import FileFetcher
from cellar.sync.pages import StoredPage, versions_of
from cellar.tree.storage import Storage
from cellar.upstream.client import ClientSettings, UpstreamClient


@dataclass(slots=True)
class Repairs:
    """What repairing did to distribution files, by the mirror path the pages list them at.

    ``placed`` maps a repaired file to where it now is (the same path unless the upstream's
    URL now maps elsewhere); ``unlisted`` files must leave the pages; ``without_metadata``
    files stay but their ``.metadata`` file could not be repaired.
    """

    placed: dict[str, PurePosixPath] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)
    without_metadata: set[str] = field(default_factory=set)
    resolutions: list[Resolution] = field(default_factory=list)

    def revise(self, listing: ProjectListing) -> ProjectListing | None:
        """Return ``listing`` with the repairs applied, or ``None`` if they change nothing."""
        files: list[PublishedFile] = []
        changed = False
        for file in listing.files:
            path = file.path
            if path in self.unlisted:
                changed = True
                continue
            moved = self.placed.get(path)
            if moved is not None and str(moved) != path:
                file = dataclasses.replace(file, path=str(moved))  # noqa: PLW2901
                changed = True
            if path in self.without_metadata and file.metadata_sha256:
                file = dataclasses.replace(file, metadata_sha256=None)  # noqa: PLW2901
                changed = True
            files.append(file)
        if not changed:
            return None
        versions = listing.versions
        if len(files) != len(listing.files):
            versions = versions_of(listing.name, files)
        return dataclasses.replace(listing, files=tuple(files), versions=versions)


def repair_files(
    storage: Storage,
    state: MirrorState,
    *,
    settings: ClientSettings,
    bad: Iterable[tuple[FileCheck, Finding]],
    pages: Iterable[StoredPage],
    reporter: VerifyReporter,
) -> Repairs:
    """Download the ``bad`` files again (missing or corrupt) and return what became of each.

    Raises nothing for a file that cannot be repaired (it is in ``Repairs.unlisted`` or
    ``without_metadata`` with a resolution saying why); ``OSError`` from deleting a corrupt file.
    """
    listed: dict[str, tuple[str, PublishedFile]] = {}
    for page in pages:
        for file in page.listing.files if page.listing is not None else ():
            listed.setdefault(file.path, (page.name, file))
    by_file: dict[str, dict[bool, Finding]] = {}
    for check, finding in bad:
        by_file.setdefault(check.metadata_of or check.path, {})[check.metadata_of is not None] = (
            finding
        )
    repairs = Repairs()
    job = _Job(storage, state, repairs, reporter)
    asyncio.run(
        job.run(settings, [(path, *listed[path], found) for path, found in by_file.items()])
    )
    return repairs


@dataclass(slots=True)
class _Job:
    storage: Storage
    state: MirrorState
    repairs: Repairs
    reporter: VerifyReporter

    async def run(
        self,
        settings: ClientSettings,
        files: list[tuple[str, str, PublishedFile, dict[bool, Finding]]],
    ) -> None:
        async with UpstreamClient(settings) as client:
            fetcher = FileFetcher(client, self.state, self.storage, self.reporter.bytes_transferred)
            await asyncio.gather(*(self._file(fetcher, *file) for file in files))

    async def _file(
        self,
        fetcher: FileFetcher,
        path: str,
        project: str,
        file: PublishedFile,
        found: dict[bool, Finding],
    ) -> None:
        """Repair the distribution at ``path`` and/or its metadata file (``found[True]``)."""
        dist, metadata = found.get(False), found.get(True)
        # Never a file outside the tree: the storage skips a key that would lead out.
        fetcher.storage.delete(
            finding.path
            for finding in (dist, metadata)
            if finding is not None and finding.problem is Problem.CORRUPT
        )
        url = self._upstream_url(path)
        if url is None:
            self._give_up(path, dist, metadata, "its upstream URL is not recorded in the state")
            return
        entry = dataclasses.replace(
            file.entry,
            url=url,
            hashes=frozen_mapping({"sha256": file.sha256}),
            size=file.size,
            core_metadata=(
                frozen_mapping({"sha256": file.metadata_sha256}) if file.metadata_sha256 else None
            ),
        )
        where = PurePosixPath(path)
        if dist is not None:
            try:
                placed = await fetcher.place(project, entry)
            except SyncFileError as error:
                self._give_up(path, dist, metadata, str(error))
                return
            where = self.repairs.placed[path] = placed.path
            self._resolve(dist, Fix.REPAIRED, f"downloaded again from {url}")
        if metadata is None and (str(where) == file.path or not file.metadata_sha256):
            return
        try:
            await fetcher.place_metadata(project, entry, where)
        except SyncFileError as error:
            self.repairs.without_metadata.add(path)
            if metadata is not None:
                self._resolve(metadata, Fix.METADATA_UNLISTED, str(error))
        else:
            if metadata is not None:
                self._resolve(metadata, Fix.REPAIRED, f"downloaded again from {url}.metadata")

    def _upstream_url(self, path: str) -> str | None:
        record = self.state.file(path)
        if record is not None and record.url:
            return record.url
        metadata = self.state.file(path + ".metadata")
        if metadata is not None and metadata.url.endswith(".metadata"):
            return metadata.url.removesuffix(".metadata")
        return None

    def _give_up(self, path: str, dist: Finding | None, metadata: Finding | None, why: str) -> None:
        if dist is not None:
            self.repairs.unlisted.add(path)
            self._resolve(dist, Fix.UNLISTED, why)
            if metadata is not None:
                self._resolve(metadata, Fix.UNLISTED, "its distribution was removed from the page")
        elif metadata is not None:
            self.repairs.without_metadata.add(path)
            self._resolve(metadata, Fix.METADATA_UNLISTED, why)

    def _resolve(self, finding: Finding, fix: Fix, detail: str) -> None:
        resolution = Resolution(finding, fix, detail)
        self.repairs.resolutions.append(resolution)
        self.reporter.resolved(resolution)
