"""``cellar verify``: check what the pages list against the disk; repair and prune on request.

Order of work: walk the tree once (``inventory.py``: every file's size and mtime, and the
page files' marks); read every project's pages (the JSON page, else the state's copy of it)
and compare each page file with its rendering, or with ``--fast`` trust the pages that keep
the marks recorded when they were written or last found intact; examine every listed file
(a file whose size and mtime settle it costs nothing more than the walk); with ``--repair``
download bad files again, then rewrite the pages that changed or were damaged, then the root
page; last, find the orphans (files no page lists; the tree walked again if repairs changed
it) and, with ``--prune-orphans``, remove them.

Resuming: each file hashed and found intact is recorded, with its size and mtime, under the
run's id. A run that does not finish (Ctrl-C, SIGKILL, a crash) leaves that record, and the
next ``cellar verify`` of the same kind (``--fast`` or not) resumes it: a file the unfinished
run found intact, with the same size and mtime now, is skipped. A file ``--fast`` passed on
its recorded size and mtime is not recorded: the next run passes it the same way, at the same
cost. Problems are always examined again. ``--restart`` (or a run of the other kind) abandons
the unfinished run instead. The record is committed every ``checks.FLUSH_SECONDS`` and when a
run stops on an exception (Ctrl-C), so a SIGKILL costs at most that much work again.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from cellar.collector import collector_paused
from cellar.config.model import Config
from cellar.hosted.listing import hosted_listing
from cellar.hosted.model import FILES
from cellar.hosted.records import HostedTree, read_hosted
from cellar.keep.checks import (
    CheckPool,
    FileCheck,
    Outcome,
    ProgressLog,
    Shortcut,
    Status,
    file_checks,
    listed_by,
    settle,
    shortcut_from,
    size_of,
)
from cellar.keep.model import (
    Finding,
    Fix,
    Problem,
    Resolution,
    VerifyOptions,
    VerifyReporter,
    VerifyResult,
)
from cellar.keep.repair import Repairs, repair_files
from cellar.state import STATE_DIR, FileRecord, MirrorState
from cellar.sync.compat import project_directory
from cellar.sync.hosting import HostedWriter
from cellar.sync.pages import (
    PAGE_FILES,
    StoredPage,
    compare_pages,
    damaged_root,
    publish_root,
    published_names,
    read_marked,
    read_project,
    write_project,
)
from cellar.tree.inventory import Inventory, orphans_in
from cellar.tree.location import TreeLocation
from cellar.tree.lock import MirrorLock
from cellar.tree.open import open_tree
from cellar.tree.storage import Storage
from cellar.upstream.client import ClientSettings

_HOSTED_FILE = (
    "a hosted file: there is no upstream to download it from again; restore it from a "
    "backup (docs/hosting.md)"
)
_NO_COPY = (
    "no intact copy of the project's JSON page, on disk or in the state: "
    "run `cellar mirror` to publish it again"
)


def verify_mirror(
    config: Config, options: VerifyOptions | None = None, reporter: VerifyReporter | None = None
) -> VerifyResult:
    """Verify (and repair, prune, as ``options`` ask) the mirror ``config`` names.

    Raises ``MirrorStateError`` if there is no usable mirror state, ``LockHeldError`` if a
    ``cellar mirror`` (or another verify or delete) holds the mirror, and ``OSError`` for a
    page or file that cannot be written or removed. Problems with files are the result.
    """
    from cellar.sync.plan import client_settings  # noqa: PLC0415 - only repairs need it

    directory = config.mirror.directory
    with (
        MirrorState.open(directory, create=False) as state,
        MirrorLock(directory / STATE_DIR / "lock"),
    ):
        return run_verify(
            config.mirror.tree,
            state,
            options or VerifyOptions(),
            reporter or VerifyReporter(),
            client_settings(config),
            hash_index=config.mirror.hash_index,
            merged=config.hosted.allow_upstream,
        )


def run_verify(
    tree: TreeLocation,
    state: MirrorState,
    options: VerifyOptions,
    reporter: VerifyReporter,
    settings: ClientSettings,
    *,
    hash_index: bool = False,
    merged: frozenset[NormalizedName] = frozenset(),
) -> VerifyResult:
    """Verify the mirror's tree at ``tree`` (the caller holds the lock); see ``verify_mirror``.

    ``hash_index`` says the project pages are in ``simple/<first letter>/<name>/``; ``merged``
    names the hosted projects that also list upstream releases (``[hosted] allow-upstream``).
    Raises ``StorageError`` when an object store cannot be used.
    """
    where = tree.describe()
    with closing(open_tree(tree, write=True)) as storage:  # damaged pages are published again
        verification = _Verification(where, storage, state, options, reporter, settings, hash_index)
        verification.merged = merged
        return verification.run()


@dataclass(slots=True)
class _Verification:
    #: The tree's place, for messages.
    where: str
    storage: Storage
    state: MirrorState
    options: VerifyOptions
    reporter: VerifyReporter
    settings: ClientSettings
    hash_index: bool
    findings: list[Finding] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    checked: int = 0
    skipped: int = 0
    intact: int = 0
    hashed: int = 0
    #: Hosted projects (read when the run starts), and those that take upstream releases too.
    hosted: HostedTree = field(default_factory=HostedTree)
    merged: frozenset[NormalizedName] = frozenset()

    def run(self) -> VerifyResult:
        started = time.monotonic()
        run_id, previous, resumed = self._open_run()
        with collector_paused():  # a few million records, no cycles among them
            self.reporter.stage(f"walking {self.where}")
            walked = time.monotonic()
            inventory = self.storage.inventory(PAGE_FILES)
            self.reporter.stage(
                f"walked {len(inventory.files)} files in {time.monotonic() - walked:.1f} s"
            )
            self.hosted = read_hosted(self.storage)
            pages = self._read_pages(inventory)
            checks = file_checks(pages.values())
            self.reporter.planned(len(checks), size_of(checks))
            bad = self._examine(checks, run_id, previous, inventory)
        if self.options.repair:
            bad = self._hosted_not_repaired(bad)
            repairs = repair_files(
                self.storage,
                self.state,
                settings=self.settings,
                bad=bad,
                pages=pages.values(),
                reporter=self.reporter,
            )
            for resolution in repairs.resolutions:
                self.resolutions.append(resolution)
            pages = self._republish(pages, repairs)
        self._root()
        if self.options.repair and self.findings:
            inventory = self.storage.inventory()  # the tree changed
        self._orphans(pages, inventory)
        result = VerifyResult(
            projects=sum(1 for page in pages.values() if page.listing is not None),
            files=len(checks),
            checked=self.checked,
            skipped=self.skipped,
            intact=self.intact,
            bytes_checked=self.hashed,
            seconds=time.monotonic() - started,
            resumed=resumed,
            findings=tuple(self.findings),
            resolutions=tuple(self.resolutions),
        )
        self.state.finish_verify_run(run_id, checked=self.checked, problems=len(result.unsolved))
        return result

    def _read_pages(self, inventory: Inventory) -> dict[str, StoredPage]:
        """Read every project's pages, noting the damaged ones as findings, and record the
        marks of the pages found intact.

        With ``--fast``, pages whose files the walk (``inventory``) saw with the marks recorded
        are trusted: only their JSON page is read, for its listing.
        """
        recorded_marks = self.state.page_marks()
        pages: dict[str, StoredPage] = {}
        names = published_names(self.storage, self.state, hash_index=self.hash_index)
        self.reporter.stage(f"reading the pages of {len(names)} projects")
        for name in self.hosted.records:
            names.setdefault(name, True)
        for damaged, reason in sorted(self.hosted.damaged.items()):
            path = f"hosted/{damaged}.json"
            self._find(Finding(Problem.DAMAGED_PAGE, path, reason, damaged, f"{damaged}.json"))
        for key, recorded in names.items():
            name = NormalizedName(key)
            record = self.hosted.records.get(NormalizedName(name))
            if record is not None and name not in self.merged:
                # Its pages are checked against its record, never against the state.
                listing = hosted_listing(record)
                pages[name] = compare_pages(self.storage, listing, hash_index=self.hash_index)
                continue
            page = None
            marks = recorded_marks.get(name)
            if self.options.fast and marks is not None:
                directory = str(project_directory(name, hash_index=self.hash_index))
                if inventory.pages.get(directory) == marks:
                    page = read_marked(
                        inventory,
                        name,
                        recorded=recorded,
                        marks=marks,
                        hash_index=self.hash_index,
                    )
            pages[name] = page or read_project(
                self.storage, self.state, name, recorded=recorded, hash_index=self.hash_index
            )
        for page in pages.values():
            self._page_findings(page)
        self.state.record_page_marks(
            (name, page.marks)
            for name, page in pages.items()
            if page.marks is not None and page.recorded and page.marks != recorded_marks.get(name)
        )
        return pages

    def _open_run(self) -> tuple[int, dict[tuple[str, str], tuple[int, int]], bool]:
        """Return the run's id, what it verified before, and whether it is resumed."""
        unfinished = self.state.unfinished_verify_run()
        if unfinished is not None:
            if unfinished.fast == self.options.fast and not self.options.restart:
                return unfinished.id, self.state.verified_files(unfinished.id), True
            self.state.finish_verify_run(unfinished.id)
        return self.state.start_verify_run(fast=self.options.fast), {}, False

    def _find(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.reporter.found(finding)

    def _resolve(self, finding: Finding, fix: Fix, detail: str = "") -> None:
        resolution = Resolution(finding, fix, detail)
        self.resolutions.append(resolution)
        self.reporter.resolved(resolution)

    def _page_findings(self, page: StoredPage) -> None:
        directory = project_directory(page.name, hash_index=self.hash_index)
        for filename, why in page.damaged.items():
            path = f"{directory}/{filename}"
            self._find(Finding(Problem.DAMAGED_PAGE, path, why, page.name, filename))
        if page.listing is not None and not page.recorded:
            why = "published, but not in the mirror's record, so the root page does not list it"
            self._find(Finding(Problem.DAMAGED_PAGE, f"{directory}/", why, page.name))

    def _examine(
        self,
        checks: list[FileCheck],
        run_id: int,
        previous: dict[tuple[str, str], tuple[int, int]],
        inventory: Inventory,
    ) -> list[tuple[FileCheck, Finding]]:
        """Examine every check; record the intact ones; return the bad ones with findings.

        A file that the walk's size and mtime settle costs nothing more; the others (to be
        hashed, missing, not regular files) are examined on the pool's threads.
        """

        # --fast: every record read in one query, not one query per file.
        records = self.state.file_marks() if self.options.fast else {}

        def trusted(check: FileCheck) -> tuple[int, int] | None:
            record = records.get(check.path)
            if record is None or record[0] != check.sha256:
                return None
            return record[1], record[2]

        shortcut = shortcut_from(previous, trusted)
        seen = inventory.files
        bad: list[tuple[FileCheck, Finding]] = []
        progress = ProgressLog(self.state, run_id)
        rest: list[tuple[FileCheck, Shortcut]] = []
        try:
            for check in checks:
                hint = shortcut(check)
                outcome = settle(check, hint, seen.get(check.path))
                if outcome is None:
                    rest.append((check, hint))
                else:
                    self._take(outcome, progress, bad)
            rest.sort(key=lambda pair: pair[0].path)  # hashed in path order: near on disk
            pool = CheckPool(self.storage, inventory, self.options.workers)
            for outcome in pool.run(rest):
                self._take(outcome, progress, bad)
        finally:
            progress.flush()  # also when interrupted: the next run resumes from here
        return bad

    def _take(
        self, outcome: Outcome, progress: ProgressLog, bad: list[tuple[FileCheck, Finding]]
    ) -> None:
        """Count one examined file; record it if intact, make a finding if not."""
        check = outcome.check
        if outcome.status is Status.SKIPPED:
            self.skipped += 1
            self.reporter.checked(check.path, outcome.size, intact=True, skipped=True)
            return
        self.checked += 1
        self.hashed += outcome.hashed
        intact = outcome.status is Status.INTACT
        if intact:
            self.intact += 1
            if outcome.hashed:  # one that passed on its size and mtime passes so again
                self._remember(outcome)
                progress.add(check.path, check.sha256, outcome.size, outcome.mtime_ns)
        else:
            problem = Problem.MISSING if outcome.status is Status.MISSING else Problem.CORRUPT
            project, filename = check.owners[0]
            cause = outcome.cause
            if len(check.owners) > 1:
                others = ", ".join(sorted({owner for owner, _ in check.owners[1:]}))
                cause += f" (also listed by {others})"
            finding = Finding(problem, check.path, cause, project, filename)
            self._find(finding)
            bad.append((check, finding))
        self.reporter.checked(check.path, outcome.size, intact=intact, skipped=False)

    def _remember(self, outcome: Outcome) -> None:
        """Bring the state's record of a file just hashed intact up to date."""
        check = outcome.check
        record = self.state.file(check.path)
        now = (check.sha256, outcome.size, outcome.mtime_ns)
        if record is not None and (record.sha256, record.size, record.mtime_ns) == now:
            return
        project = record.project if record is not None else check.owners[0][0]
        url = record.url if record is not None else ""
        self.state.record_file(FileRecord(check.path, project, *now, url))

    def _hosted_not_repaired(
        self, bad: list[tuple[FileCheck, Finding]]
    ) -> list[tuple[FileCheck, Finding]]:
        """Resolve the bad hosted files as not fixed (there is no other copy to fetch: never
        deleted, never taken off a page); return the others, to repair."""
        others = []
        for check, finding in bad:
            if check.path.startswith(FILES):
                self._resolve(finding, Fix.NOT_FIXED, _HOSTED_FILE)
            else:
                others.append((check, finding))
        return others

    def _republish(self, pages: dict[str, StoredPage], repairs: Repairs) -> dict[str, StoredPage]:
        """Write the pages the repairs changed or that were damaged; return the pages now."""
        damaged = {f for f in self.findings if f.problem is Problem.DAMAGED_PAGE}
        revised: dict[str, StoredPage] = {}
        writer = HostedWriter(self.storage, hash_index=self.hash_index, merged=self.merged)
        for name, page in pages.items():
            page_findings = [f for f in damaged if f.project == name]
            record = self.hosted.records.get(NormalizedName(name))
            if record is not None and name not in self.merged:
                if page_findings:
                    writer.republish(record)
                    for finding in page_findings:
                        self._resolve(finding, Fix.REPAIRED, "rewritten from its hosted record")
                revised[name] = page
                continue
            if page.listing is None:
                for finding in page_findings:
                    self._resolve(finding, Fix.NOT_FIXED, _NO_COPY)
                revised[name] = page
                continue
            listing = repairs.revise(page.listing)
            if listing is not None or page_findings:
                write_project(
                    self.storage, self.state, listing or page.listing, hash_index=self.hash_index
                )
                for finding in page_findings:
                    self._resolve(finding, Fix.REPAIRED, "rewritten from the project's listing")
            revised[name] = StoredPage(name, listing or page.listing, {}, recorded=True)
        return revised

    def _root(self) -> None:
        findings = [
            Finding(Problem.DAMAGED_PAGE, f"simple/{filename}", why, None, filename)
            for filename, why in damaged_root(self.storage, self.state).items()
        ]
        for finding in findings:
            self._find(finding)
        if findings and self.options.repair:
            publish_root(self.storage, self.state)
            for finding in findings:
                self._resolve(finding, Fix.REPAIRED, "rewritten from the mirror's record")

    def _orphans(self, pages: dict[str, StoredPage], inventory: Inventory) -> None:
        orphans = [
            Finding(Problem.ORPHAN, path, why, None, path.rpartition("/")[2])
            for path, why in orphans_in(inventory, listed_by(pages.values()))
        ]
        for finding in orphans:
            self._find(finding)
        if not self.options.prune_orphans or not orphans:
            return
        unreadable = sorted(name for name, page in pages.items() if page.listing is None)
        if unreadable:
            why = (
                f"not removed: the pages of {', '.join(unreadable)} cannot be read, "
                "so which files they list is unknown"
            )
            for finding in orphans:
                self._resolve(finding, Fix.NOT_FIXED, why)
            return
        removed, _ = self.storage.delete([finding.path for finding in orphans])
        self.state.forget_files(removed)
        for finding in orphans:
            self._resolve(finding, Fix.PRUNED)
