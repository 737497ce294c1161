"""``cellar mirror``: plan the closure, put the planned files in place, publish the pages.

Order matters for whoever is serving the tree meanwhile: a project's pages are written only
after every file they list is in place, and the root page only after the project pages, so the
mirror never lists a file it does not have. A project that fails keeps its previous pages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from contextlib import closing
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from cellar import aio
from cellar.config.model import Config
from cellar.hosted.model import HOSTED_URL
from cellar.hosted.overlay import HostedOverlay, hosted_file
from cellar.hosted.records import iter_paths
from cellar.model import DistFile, ProjectListing, ProjectPage, PublishedFile
from cellar.policy.audit import AUDIT_LOG
from cellar.select.releases import file_version
from cellar.state import STATE_DIR, Failure, MirrorState
from cellar.state.snapshots import PageStats
from cellar.state.summary import publish_summary
from cellar.sync.bounded import each_bounded
from cellar.sync.errors import SyncFileError
from cellar.sync.extras import MirrorExtras
from cellar.sync.fetch import FileFetcher
from cellar.sync.memo import display_name, layout, published_key
from cellar.sync.pages import (
    PageFormatError,
    listed_paths,
    listing_from_json,
    page_folder,
    publish_pages,
    publish_root,
    record_published,
)
from cellar.sync.paths import mirror_path
from cellar.sync.plan import client_settings, make_plan, read_overlay, with_hosted
from cellar.sync.planned import MirrorPlan
from cellar.sync.policy_records import PolicyOutcome, settle_decisions
from cellar.sync.provenance import SUFFIX as PROVENANCE_SUFFIX
from cellar.sync.provenance import fetch_provenance, provenance_href
from cellar.sync.prune import prune_projects
from cellar.sync.reporter import Reporter
from cellar.sync.space import DiskSpace
from cellar.sync.withdraw import restore_admitted, withdraw_refused
from cellar.tree.inventory import orphans_in
from cellar.tree.lock import MirrorLock
from cellar.tree.open import open_tree
from cellar.tree.paths import OutsideTreeError, UnsafeNameError
from cellar.tree.storage import Storage
from cellar.units import counted
from cellar.upstream.client import UpstreamClient

log = logging.getLogger("cellar.sync")

#: Projects in progress at once, per upstream connection ([mirror] workers): enough to keep
#: every connection busy between one project's files and the next's.
PROJECTS_PER_WORKER = 4


@dataclass(frozen=True, slots=True)
class MirrorResult:
    """How a run went: what the pages now list, what was added, how long, and what failed."""

    projects: int
    files: int
    files_added: int
    bytes_added: int
    seconds: float
    failures: tuple[Failure, ...]
    pages: PageStats = dataclasses.field(default_factory=PageStats)
    #: What the policy did: files and releases it refused (of those judged this run), and
    #: files it took out of the tree.
    policy: PolicyOutcome | None = None

    @property
    def ok(self) -> bool:
        """True when everything asked for is mirrored."""
        return not self.failures


@dataclass(slots=True)
class _FileOutcome:
    published: PublishedFile | None
    added: bool
    #: False when something offered with the file (its provenance) could not be had: the
    #: project is published without it, and planned again by the next run.
    whole: bool = True


@dataclass(slots=True)
class _ProjectOutcome:
    listing: ProjectListing | None = None
    files_added: int = 0
    bytes_added: int = 0


def run_mirror(
    config: Config, reporter: Reporter | None = None, *, now: float | None = None
) -> MirrorResult:
    """Mirror what ``config`` selects into its directory and return how it went; the policy
    judges at the time ``now`` (a POSIX time; the present by default).

    Raises ``LockHeldError`` if another run holds the mirror, ``MirrorStateError`` if the
    state database is unusable. Per-project and per-file problems do not raise: they are
    in the result's ``failures``.
    """
    directory = config.mirror.directory
    with (
        MirrorLock(directory / STATE_DIR / "lock"),
        MirrorState.open(directory) as state,
        closing(open_tree(config.mirror.tree, write=True)) as storage,
    ):
        hosted = read_overlay(config, storage)
        run = _Run(with_hosted(config, hosted), state, storage, reporter or Reporter(), now=now)
        run.hosted = hosted
        return aio.run(run.run())


@dataclass(slots=True)
class _Run:
    config: Config
    state: MirrorState
    storage: Storage
    reporter: Reporter
    now: float | None = None
    extras: MirrorExtras | None = None
    stopping: bool = False
    tasks: list[asyncio.Future[None]] = dataclasses.field(default_factory=list)
    #: Every failure of the run, as reported (kept here too: a stopped project returns none).
    failures: list[Failure] = dataclasses.field(default_factory=list)
    #: No previous run finished: temporary files may be anywhere in the tree.
    interrupted: bool = False
    #: Whether this run has published any project's pages (so the root may have changed).
    published_any: bool = False
    #: Planned projects already published from the same selection: nothing done for them.
    unchanged: list[NormalizedName] = dataclasses.field(default_factory=list)
    #: Hosted projects (read from the tree when the run starts).
    hosted: HostedOverlay = dataclasses.field(default_factory=HostedOverlay)

    async def run(self) -> MirrorResult:
        started = time.monotonic()
        previous = self.state.last_run()
        # Temporary files can only be left by a run that never finished (killed, interrupted),
        # or be in a tree no run made (a bandersnatch mirror taken over): only then is the
        # tree searched for them.
        self.interrupted = previous is None or previous.finished_at is None
        run_id = self.state.start_run()
        self._forget_records()
        if not self.config.packages.requirements and not self.config.packages.sets:
            log.warning(
                "%s selects no projects: add requirements to [packages] requirements",
                self.config.source,
            )
        mirror = self.config.mirror
        settings = client_settings(self.config)
        space = DiskSpace(mirror.directory, mirror.limits.keep_free)
        space.warn_if_low()
        self.extras = MirrorExtras(mirror, self.storage)
        self.extras.start()
        # The root first too, after a run that did not finish: one killed with SIGKILL leaves
        # a root that lists, at worst, a little less than the project pages on disk, never a
        # project without pages.
        if self.interrupted:
            self._publish_root()
        # Before anything is downloaded: the walk meets only what the last run left.
        self._sweep_temporaries()
        try:
            async with UpstreamClient(settings, pages=self.state) as client:
                plan = await make_plan(
                    self.config, client, self.state, reuse=True, now=self.now, hosted=self.hosted
                )
                self._report_plan_failures(plan)
                restored = restore_admitted(
                    self.storage,
                    self.state,
                    ((name, file) for name in plan.closure.files for file in plan.files(name)),
                )
                self.reporter.projects_planned(len(plan.projects))
                fetcher = FileFetcher(
                    client,
                    self.state,
                    self.storage,
                    self.reporter.bytes_transferred,
                    space=space,
                )
                published = self.state.published_keys()
                to_publish = [
                    name
                    for name in plan.projects
                    if published.get(name) != plan.published_key(name, layout=layout(self.config))
                ]
                self.unchanged = sorted(set(plan.projects) - set(to_publish))
                outcomes: list[_ProjectOutcome] = []

                async def publish(name: NormalizedName) -> None:
                    files = plan.files(name)
                    outcomes.append(await self._project(fetcher, name, plan.pages[name], files))

                # Projects a few at a time: a coroutine per file of every project at once is
                # memory in proportion to the mirror's size.
                in_flight = mirror.workers * PROJECTS_PER_WORKER
                self.tasks = [asyncio.ensure_future(each_bounded(to_publish, in_flight, publish))]
                await _gather_unless_stopped(self.tasks)
                fetcher.flush()  # what projects that published nothing placed
            self._forget_partials(fetcher.partials)
        finally:
            # Also when interrupted: the root lists every project whose pages are published.
            if self.published_any or self.interrupted:
                self._publish_root()
        listings = [outcome.listing for outcome in outcomes if outcome.listing is not None]
        counts = self.state.project_counts() if self.unchanged else {}
        same = [counts[name] for name in self.unchanged if name in counts]
        result = MirrorResult(
            projects=len(listings) + len(same),
            files=sum(len(listing.files) for listing in listings) + sum(c[0] for c in same),
            files_added=sum(outcome.files_added for outcome in outcomes),
            bytes_added=sum(outcome.bytes_added for outcome in outcomes),
            seconds=time.monotonic() - started,
            failures=tuple(self.failures),
            pages=client.page_stats,
            policy=self._settle_policy(plan, listings, restored),
        )
        if self.unchanged:
            log.info(
                "%s unchanged since the last run: nothing to do for them",
                counted(len(self.unchanged), "project"),
            )
        if self.config.mirror.prune:
            self._prune(plan, listings, clean=result.ok)
        self.extras.finish(ok=result.ok, serials=[page.last_serial for page in plan.pages.values()])
        self.state.finish_run(
            run_id,
            projects=result.projects,
            files_added=result.files_added,
            bytes_added=result.bytes_added,
            failures=result.failures,
        )
        self._publish_summary()
        return result

    def _forget_records(self) -> None:
        """Forget the records of names that cannot be projects, and of projects hosted now."""
        for name in self.state.forget_invalid_projects():
            log.warning("forgot the record of %r: not a project name, so never a path", name)
        recorded = [NormalizedName(name) for name in self.state.project_names()]
        for name in sorted(self.hosted.local_names(recorded)):
            # Mirrored once, hosted now: its pages are the hosted side's, never pruned.
            self.state.forget_project(name)
            log.warning("%s is hosted now: the mirror no longer keeps its upstream files", name)

    def _settle_policy(
        self, plan: MirrorPlan, listings: list[ProjectListing], restored: list[str]
    ) -> PolicyOutcome | None:
        """Record what the policy decided, take refused files out of the tree once no page
        lists them, and write the audit log."""
        gate = plan.gate
        if gate is None:
            return None
        refusals = gate.refusals()
        listed = {path for listing in listings for path in listed_paths(listing)}
        published = {canonicalize_name(listing.name) for listing in listings}
        for name in set(refusals) - published:
            try:
                listed.update(listed_paths(listing_from_json(self.state.project_page(name) or b"")))
            except PageFormatError:
                listed.update(record.path for record in self.state.project_files(name))
        withdrawn = withdraw_refused(self.storage, self.state, refusals, listed)
        if not plan.kept:
            # Every page the selection needs was judged: a project it no longer reaches has
            # nothing kept out any more.
            self.state.forget_refusals(set(self.state.refused_projects()) - set(plan.consulted))
        return settle_decisions(
            self.state,
            gate,
            refusals,
            withdrawn,
            restored,
            log_path=self.config.policy.audit_log
            or self.config.mirror.directory / STATE_DIR / AUDIT_LOG,
        )

    def _publish_summary(self) -> None:
        try:
            publish_summary(self.storage, self.state)
        except OSError as error:
            log.warning("the summary for servers of the tree was not written: %s", error)

    def _sweep_temporaries(self) -> None:
        """After a run that never finished, remove what it left in the tree but its partial
        downloads, which are recorded: ``_forget_partials`` removes those not resumed."""
        if not self.interrupted:
            return  # every run that finished recorded what it left: nothing else is there
        removed, partials = self.storage.sweep()
        self.state.replace_partials(sorted(set(partials) | set(self.state.partials())))
        _said_removed(removed)

    def _forget_partials(self, kept: set[str]) -> None:
        """Remove the recorded partial downloads this run neither resumed nor kept, and
        record those it kept."""
        removed = self.storage.drop_partials(set(self.state.partials()) - kept)
        self.state.replace_partials(sorted(kept))
        _said_removed(removed)

    def _report_plan_failures(self, plan: MirrorPlan) -> None:
        """Report what planning could not do: refused files, failed resolutions."""
        for name, refusals in plan.refused.items():
            for refusal in refusals:
                self._fail(name, refusal.filename, str(refusal))
        seen: set[str] = set()
        for problem in plan.failures:
            message = str(problem.error)
            if message in seen:
                # The same upstream fault met by several targets or requirement sets.
                continue
            seen.add(message)
            self._fail(", ".join(problem.blamed), None, str(problem))

    async def _project(
        self,
        fetcher: FileFetcher,
        name: NormalizedName,
        page: ProjectPage,
        files: tuple[DistFile, ...],
    ) -> _ProjectOutcome:
        """Put ``files`` of project ``name`` (as asked for) in place, then publish its pages.

        Every path comes from ``name``, never from the page: the upstream client has checked
        that the page's own name is a spelling of it.
        """
        self.reporter.files_planned(name, len(files), sum(file.size or 0 for file in files))
        outcomes = await asyncio.gather(*(self._file(fetcher, name, entry) for entry in files))
        outcome = _ProjectOutcome()
        published: list[PublishedFile] = []
        complete = all(file.published is not None and file.whole for file in outcomes)
        for file in outcomes:
            if file.published is None:
                continue
            published.append(file.published)
            if file.added:
                outcome.files_added += 1
                outcome.bytes_added += file.published.size
        if not published:
            return outcome
        versions = sorted(
            {found[0] for file in published if (found := file_version(file.entry.filename, name))}
        )
        listing = ProjectListing(
            name=display_name(name, page),
            files=tuple(published),
            versions=tuple(str(version) for version in versions),
            status=page.status,
            status_reason=page.status_reason,
        )
        # The key of what is published, when all of it is: a re-run with the same key skips.
        key = (
            published_key(name, page, files, layout=layout(self.config))
            if complete
            and all(file.metadata_sha256 or file.entry.core_metadata is None for file in published)
            else None
        )
        try:
            fetcher.flush()  # the records of every file the pages list
            await self._publish_project(name, listing, page.last_serial, key)
        except (OSError, UnsafeNameError, OutsideTreeError) as error:
            self._fail(name, None, f"cannot write the project's pages: {error}")
            return outcome
        self.reporter.project_done(name, len(published))
        outcome.listing = listing
        return outcome

    async def _file(self, fetcher: FileFetcher, project: str, entry: DistFile) -> _FileOutcome:
        """Place one file and its metadata file, reporting as soon as it is done."""
        if self.stopping:
            # stop-on-error: after the first failure nothing new is started.
            return _FileOutcome(None, added=False)
        if entry.url.startswith(HOSTED_URL):
            # A hosted file of a project that also takes upstream releases: in place already.
            file = hosted_file(self.hosted, project, entry)
            return _FileOutcome(file, added=False, whole=file is not None)
        provenance = None
        try:
            if entry.provenance and self.config.policy.mirror_provenance:
                # Before the file: one whose required provenance does not verify is never
                # placed, so it is not in the tree at all.
                provenance = await fetch_provenance(
                    fetcher.client,
                    self.storage,
                    project,
                    entry,
                    path=mirror_path(project, entry, entry.sha256),
                    rules=self.config.policy.rules_for(canonicalize_name(project)),
                )
            placed = await fetcher.place(project, entry)
            if provenance is not None:
                key = str(placed.path) + PROVENANCE_SUFFIX
                await asyncio.to_thread(self.storage.put, {key: provenance})
        except (SyncFileError, OSError) as error:
            self.reporter.file_failed(project, entry.filename)
            self._fail(project, entry.filename, str(error))
            return _FileOutcome(None, added=False)
        dropped = False
        if self.config.policy.mirror_provenance and entry.provenance:
            # Listed from the mirror (behind an air gap the upstream's URL leads nowhere).
            dropped = provenance is None
            href = provenance_href(str(placed.path)) if provenance is not None else None
            entry = dataclasses.replace(entry, provenance=href)
        metadata_sha256 = None
        if entry.core_metadata is not None:
            try:
                metadata = await fetcher.place_metadata(project, entry, placed.path)
                metadata_sha256 = metadata.sha256
            except SyncFileError as error:
                self._fail(project, error.filename, str(error))
        if placed.added and self.extras is not None:
            self.extras.file_added(placed.path)
        file = PublishedFile(entry, str(placed.path), placed.sha256, placed.size, metadata_sha256)
        self.reporter.file_done(project, entry.filename, added=placed.added, size=placed.size)
        return _FileOutcome(file, added=placed.added, whole=not dropped)

    def _fail(self, project: str, filename: str | None, message: str) -> Failure:
        failure = Failure(project, filename, message)
        self.failures.append(failure)
        self.reporter.failed(failure)
        if self.config.mirror.stop_on_error and not self.stopping:
            log.error("stop-on-error: stopping after this failure; what is in place stays")
            self.stopping = True
            for task in self.tasks:
                task.cancel()
        return failure

    def _prune(self, plan: MirrorPlan, listings: list[ProjectListing], *, clean: bool) -> None:
        """Remove projects the plan no longer has, and files no page lists any more.

        Only after a run without failures: a project missing from a plan that failed may
        only be missing for now. A file a kept page lists is never removed.
        """
        if not clean:
            log.warning("pruning skipped: this run had failures, so its plan may be incomplete")
            return
        stale = sorted(set(self.state.project_names()) - set(plan.projects) - self.hosted.names)
        if stale:
            pruned = prune_projects(
                self.storage, self.state, stale, hash_index=self.config.mirror.hash_index
            )
            log.info(
                "pruned %d projects no longer selected (%s): %d files, %d bytes",
                len(stale),
                ", ".join(stale),
                len(pruned.files),
                pruned.bytes,
            )
        listed = {path for listing in listings for path in listed_paths(listing)}
        listed.update(iter_paths(self.hosted.tree))
        for name in self.unchanged:  # as published before: the state keeps each JSON page
            body = self.state.project_page(name)
            try:
                listing = listing_from_json(body or b"")
            except PageFormatError:
                log.warning("pruning skipped: the record of %s's published page is damaged", name)
                return
            listed.update(listed_paths(listing))
        orphans = [path for path, _ in orphans_in(self.storage.inventory(), listed)]
        if orphans:
            removed, size = self.storage.delete(orphans)
            log.info("pruned %d files no page lists any more (%d bytes)", len(removed), size)

    async def _publish_project(
        self, name: str, listing: ProjectListing, serial: int | None, key: str | None
    ) -> None:
        self.published_any = True
        hash_index = self.config.mirror.hash_index
        # Written (and synced) off the event loop: downloads go on meanwhile.
        pages, marks = await asyncio.to_thread(
            publish_pages, self.storage, listing, hash_index=hash_index
        )
        record_published(
            self.state, listing, pages, marks, display_name=listing.name, published=key
        )
        if self.extras is not None:
            directory = self.config.mirror.web_root / page_folder(name, hash_index=hash_index)
            self.extras.project_published(name, directory, listing, serial)

    def _publish_root(self) -> None:
        publish_root(self.storage, self.state)


def _said_removed(count: int) -> None:
    if count:
        log.info(
            "removed %d temporary file%s left by an interrupted run", count, "s" * (count != 1)
        )


async def _gather_unless_stopped(tasks: list[asyncio.Future[None]]) -> None:
    """Wait for the work; cancelled by stop-on-error, it has simply stopped."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result
