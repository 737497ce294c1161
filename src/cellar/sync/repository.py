"""The upstream as the resolver sees it: synchronous calls answered by the async client.

Resolution (resolvelib) is synchronous and runs in worker threads, one resolution per thread;
page and metadata fetches run on the event loop, shared by every resolution, each fetched once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.filters import Filters
from cellar.hosted.overlay import HostedOverlay
from cellar.model import DistFile, ProjectPage
from cellar.policy.gate import PolicyGate
from cellar.select.metadata import DistMetadata
from cellar.select.releases import ProjectExcluded, ReleaseRefused
from cellar.sync.errors import UnsafePathError
from cellar.sync.paths import split_unsafe
from cellar.upstream.client import UpstreamClient
from cellar.upstream.errors import ProjectNotFoundError
from cellar.upstream.metadata import MetadataFetcher

log = logging.getLogger("cellar.sync")


@dataclass(slots=True)
class UpstreamRepository:
    """Answers ``project_files`` and ``metadata`` from the upstream, caching pages for the run.

    Each page is seen through ``filters`` (bandersnatch's filter plugins): what they leave out
    is never resolved, planned or published; a project they leave out entirely has no files
    and the reason in ``excluded``. Only call its methods from worker threads; ``loop`` is the
    event loop the client runs on.
    """

    loop: asyncio.AbstractEventLoop
    client: UpstreamClient
    fetcher: MetadataFetcher
    filters: Filters = field(default_factory=Filters)
    #: The policy (``[policy]``) each page is judged by after the filters, if one is set.
    gate: PolicyGate | None = None
    #: Hosted projects: their names are answered from the tree, never from the upstream.
    hosted: HostedOverlay | None = None
    pages: dict[NormalizedName, ProjectPage] = field(default_factory=dict)
    refused: dict[NormalizedName, tuple[UnsafePathError, ...]] = field(default_factory=dict)
    excluded: dict[NormalizedName, str] = field(default_factory=dict)
    #: The hosted and reserved names asked for (answered here, never upstream).
    local_asked: set[NormalizedName] = field(default_factory=set)
    _pages: dict[NormalizedName, asyncio.Future[ProjectPage | None]] = field(default_factory=dict)

    def project_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Return the files on ``name``'s upstream page (none for an unknown project).

        Raises ``ProjectExcluded`` for a project the filters leave out.
        """
        page = self.page(name)
        if name in self.excluded:
            raise ProjectExcluded(name, self.excluded[name])
        if page is None and self.hosted is not None and self.hosted.is_local(name):
            raise ProjectExcluded(
                name,
                "the name is reserved for hosting ([hosted] reserve), and nothing is uploaded yet",
            )
        return page.files if page is not None else ()

    @property
    def consulted(self) -> tuple[NormalizedName, ...]:
        """Every project whose page was asked for, found or not."""
        return tuple(self._pages)

    def page(self, name: NormalizedName) -> ProjectPage | None:
        """Return ``name``'s upstream page, fetched once per run; ``None`` if it does not exist."""
        return asyncio.run_coroutine_threadsafe(self._page(name), self.loop).result()

    def metadata(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> DistMetadata:
        """Return the core metadata of ``name`` ``version``, read from the cheapest of ``files``."""
        file = min(files, key=_metadata_cost)
        if self.hosted is not None:
            local = self.hosted.metadata(name, file)
            if local is not None:
                return local  # the organisation's own: no licence judged
        found = asyncio.run_coroutine_threadsafe(self.fetcher.fetch(name, file), self.loop).result()
        if self.gate is not None and self.gate.settings.licences.active:
            reason = self.gate.licence(name, version, found.licence)
            if reason is not None:
                raise ReleaseRefused(reason)
        return found

    def policy_refused(self, name: NormalizedName) -> dict[str, str]:
        """The versions of ``name`` the policy kept off its page, with why."""
        return self.gate.refused_versions(name) if self.gate is not None else {}

    async def page_on_loop(self, name: NormalizedName) -> ProjectPage | None:
        """``page`` for callers on the event loop itself."""
        return await self._page(name)

    async def _page(self, name: NormalizedName) -> ProjectPage | None:
        if self.hosted is not None and self.hosted.is_local(name):
            # Hosted or reserved: never asked of the upstream, never published by the run.
            self.local_asked.add(name)
            return self.hosted.page(name)
        # Runs on the loop, so the dict of futures is only ever touched from one thread.
        future = self._pages.get(name)
        if future is None:
            future = self.loop.create_future()
            self._pages[name] = future
            try:
                page = await self._fetch(name)
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as error:  # noqa: BLE001 - handed to every waiter, not swallowed
                future.set_exception(error)
            else:
                future.set_result(page)
        return await asyncio.shield(future)

    async def _fetch(self, name: NormalizedName) -> ProjectPage | None:
        """Fetch ``name``'s page, set aside unsafe file names, apply the filters, and keep the
        page for publishing."""
        try:
            page = await self.client.fetch_project(name)
        except ProjectNotFoundError:
            if self.hosted is None or not self.hosted.is_merged(name):
                return None
            merged = self.hosted.merge(name, None)
            if merged is not None:
                self.pages[name] = merged
            return merged
        # Names that would escape the mirror, and files on hosts not allowed, never reach the
        # resolver.
        safe, refused = split_unsafe(name, page.files, self.client.settings.hosts)
        before = len(safe)
        page, reason = self.filters.apply(dataclasses.replace(page, files=safe))
        if reason is not None:
            self.excluded[name] = reason
            log.info("%s: left out: %s", name, reason)
        elif len(page.files) < before:
            log.debug(
                "%s: the filters leave out %d of %d files", name, before - len(page.files), before
            )
        if reason is None and self.gate is not None:
            page = self.gate.judge(name, page)
        if self.hosted is not None and self.hosted.is_merged(name):
            page = self.hosted.merge(name, page) or page
        self.pages[name] = page
        if refused:
            self.refused[name] = refused
        return page


def _metadata_cost(file: DistFile) -> tuple[int, int]:
    """Order files by how cheaply their metadata can be read: PEP 658, wheel, then sdist."""
    if file.core_metadata is not None:
        return (0, 0)
    if file.filename.endswith(".whl"):
        return (1, file.size or 0)
    return (2, file.size or 0)
