"""Show a sync or a verify as it runs (a bar on a terminal, log lines otherwise), then a summary."""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING

from cellar.keep.model import Finding, Fix, Problem, Resolution, VerifyReporter, VerifyResult
from cellar.printable import printable
from cellar.sync.reporter import Reporter
from cellar.units import counted, human_bytes

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TaskID

    from cellar.state import Failure
    from cellar.sync.engine import MirrorResult
    from cellar.sync.prune import PruneResult

log = logging.getLogger("cellar.sync")


class LogReporter(Reporter):
    """Reports as log lines: one per project, file added and failure. For cron and journald."""

    def projects_planned(self, count: int) -> None:
        log.info("syncing %d project%s", count, "" if count == 1 else "s")

    def files_planned(self, project: str, count: int, size: int) -> None:
        log.info(
            "%s: %d file%s selected (%s)",
            project,
            count,
            "" if count == 1 else "s",
            human_bytes(size),
        )

    def file_done(self, project: str, filename: str, *, added: bool, size: int) -> None:
        if added:
            log.info("%s: added %s (%s)", project, filename, human_bytes(size))
        else:
            log.debug("%s: %s already in place", project, filename)

    def failed(self, failure: Failure) -> None:
        log.error("%s", describe_failure(failure))

    def project_done(self, project: str, files: int) -> None:
        log.info("%s: published, %d file%s", project, files, "" if files == 1 else "s")


class LiveBar:
    """One live progress bar on a terminal: items done of a growing total, bytes and rate."""

    def __init__(self, console: Console, description: str) -> None:
        # rich's progress display, loaded on a terminal only: cron runs log lines instead.
        from rich.progress import (  # noqa: PLC0415
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files  {task.fields[transferred]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._description = description
        self._task: TaskID | None = None
        self._bytes = 0
        self._started = time.monotonic()

    def __enter__(self) -> LiveBar:
        self._progress.start()
        self._task = self._progress.add_task(self._description, total=0, transferred="")
        self._started = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def describe(self, text: str) -> None:
        """Show ``text`` as what the bar counts."""
        if self._task is not None:
            self._progress.update(self._task, description=text)

    def grow(self, count: int) -> None:
        """Add ``count`` items to the total."""
        if self._task is not None:
            total = self._progress.tasks[self._task].total or 0
            self._progress.update(self._task, total=total + count)

    def advance(self, size: int = 0) -> None:
        """Count one item done, and ``size`` more bytes."""
        self.add_bytes(size)
        if self._task is not None:
            self._progress.advance(self._task)

    def add_bytes(self, delta: int) -> None:
        """Count ``delta`` bytes (negative when a transfer starts over) and show the rate."""
        self._bytes += delta
        if self._task is not None and delta:
            rate = self._bytes / max(time.monotonic() - self._started, 0.001)
            shown = f"{human_bytes(self._bytes)} at {human_bytes(rate)}/s"
            self._progress.update(self._task, transferred=shown)


class BarReporter(LogReporter):
    """Reports with a live progress bar (files, bytes, rate) on a terminal, plus failures."""

    def __init__(self, console: Console) -> None:
        self._bar = LiveBar(console, "mirroring")

    def __enter__(self) -> BarReporter:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def files_planned(self, project: str, count: int, size: int) -> None:
        self._bar.grow(count)

    def bytes_transferred(self, delta: int) -> None:
        self._bar.add_bytes(delta)

    def file_done(self, project: str, filename: str, *, added: bool, size: int) -> None:
        # The bar shows progress; a line per file only with --verbose.
        log.debug("%s: %s %s", project, "added" if added else "kept", filename)
        self._bar.advance()

    def file_failed(self, project: str, filename: str) -> None:
        self._bar.advance()

    def project_done(self, project: str, files: int) -> None:
        log.debug("%s: published, %d files", project, files)

    def projects_planned(self, count: int) -> None:
        log.debug("syncing %d projects", count)


def describe_failure(failure: Failure) -> str:
    """Return ``project[: file]: message`` on one line, whatever the upstream put in them."""
    where = f"{failure.project}: {failure.filename}" if failure.filename else failure.project
    return printable(f"{where}: {failure.message}")


def summarize(result: MirrorResult) -> str:
    """Return the end-of-run summary: projects, files, bytes added, time, and each failure."""
    pages = result.pages
    lines = [
        f"{pages.checked} project page{'s' if pages.checked != 1 else ''} checked upstream: "
        f"{pages.changed} new or changed, {pages.unchanged} unchanged"
        + (f" ({pages.by_serial} known from the root page's serials)" if pages.by_serial else "")
        + f"; {counted(pages.requests, 'request')} to the upstream in all",
        f"{counted(result.projects, 'project')} mirrored, "
        f"{counted(result.files, 'file')} listed, {result.files_added} added "
        f"({human_bytes(result.bytes_added)}) in {result.seconds:.1f} s",
    ]
    if result.policy is not None:
        lines.append(result.policy.describe())
    if result.failures:
        lines.append(f"{len(result.failures)} failure{'s' if len(result.failures) != 1 else ''}:")
        lines.extend(f"  {describe_failure(failure)}" for failure in result.failures)
    else:
        lines.append("no failures")
    return "\n".join(lines)


verify_log = logging.getLogger("cellar.verify")


class LogVerifyReporter(VerifyReporter):
    """Reports a verify run as log lines: a progress line every few seconds, each problem and
    what was done about it, each file with ``--verbose``."""

    def __init__(self, every: float = 10.0) -> None:
        self._every = every
        self._next = time.monotonic() + every
        self._total = 0
        self._done = 0
        self._bytes = 0

    def stage(self, text: str) -> None:
        verify_log.info("%s", text)

    def planned(self, files: int, size: int) -> None:
        self._total = files
        verify_log.info("verifying %d files (%s)", files, human_bytes(size))

    def checked(self, path: str, size: int, *, intact: bool, skipped: bool) -> None:
        self._done += 1
        self._bytes += size
        if intact:
            verify_log.debug("%s %s", "skipped (verified before)" if skipped else "intact", path)
        if time.monotonic() >= self._next:
            self._next = time.monotonic() + self._every
            verify_log.info(
                "%d of %d files examined (%s)", self._done, self._total, human_bytes(self._bytes)
            )

    def found(self, finding: Finding) -> None:
        verify_log.warning("%s: %s: %s", finding.problem, finding.where, finding.cause)

    def resolved(self, resolution: Resolution) -> None:
        level = logging.INFO if resolution.solved else logging.ERROR
        detail = f": {resolution.detail}" if resolution.detail else ""
        verify_log.log(level, "%s: %s%s", resolution.finding.where, resolution.fix, detail)


class BarVerifyReporter(LogVerifyReporter):
    """Reports a verify run with a live bar (files, bytes, rate) on a terminal, plus problems."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._bar = LiveBar(console, "verifying")

    def __enter__(self) -> BarVerifyReporter:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def stage(self, text: str) -> None:
        verify_log.debug("%s", text)
        self._bar.describe(text)

    def planned(self, files: int, size: int) -> None:
        verify_log.debug("verifying %d files (%s)", files, human_bytes(size))
        self._bar.describe("verifying")
        self._bar.grow(files)

    def checked(self, path: str, size: int, *, intact: bool, skipped: bool) -> None:
        self._bar.advance(size)


def summarize_verify(result: VerifyResult) -> str:
    """Return the end-of-verify report: counts, each problem with what became of it, verdict."""
    resumed = (
        f", {result.skipped} skipped (found intact by the interrupted run this one resumed)"
        if result.resumed
        else ""
    )
    lines = [
        f"{result.projects} project{'s' if result.projects != 1 else ''}, {result.files} files "
        f"listed; checked {result.checked}"
        f"{resumed}; {human_bytes(result.bytes_checked)} hashed in {result.seconds:.1f} s",
        f"intact {result.intact}, missing {result.count(Problem.MISSING)}, "
        f"corrupt {result.count(Problem.CORRUPT)}, orphans {result.count(Problem.ORPHAN)}, "
        f"damaged pages {result.count(Problem.DAMAGED_PAGE)}",
    ]
    fixes = {resolution.finding: resolution for resolution in result.resolutions}
    for finding in result.findings:
        where = finding.path if finding.project is None else f"{finding.where} ({finding.path})"
        lines.append(f"  {finding.problem}: {where}: {finding.cause}")
        resolution = fixes.get(finding)
        if resolution is not None:
            detail = f": {resolution.detail}" if resolution.detail else ""
            lines.append(f"    -> {resolution.fix}{detail}")
    unlisted = [r for r in result.resolutions if r.fix in (Fix.UNLISTED, Fix.METADATA_UNLISTED)]
    if unlisted:
        lines.append(
            f"{len(unlisted)} file{'s' if len(unlisted) != 1 else ''} could not be repaired and "
            "WERE REMOVED FROM THEIR PAGES (the next `cellar mirror` adds them back if the "
            "upstream still has them):"
        )
        lines.extend(f"  {r.finding.where}: {r.detail}" for r in unlisted)
    left = len(result.unsolved)
    if left:
        lines.append(f"{left} problem{'s' if left != 1 else ''} remain")
    else:
        lines.append("all good" if not result.findings else "all problems repaired")
    return "\n".join(lines)


def summarize_prune(result: PruneResult) -> str:
    """Return what ``cellar delete`` removed (or, for a dry run, would remove)."""
    if result.unknown:
        return (
            f"unknown project{'s' if len(result.unknown) != 1 else ''}: "
            f"{', '.join(result.unknown)} (no pages and no record in this mirror); "
            "nothing was deleted"
        )
    deleted, removed, kept = (
        ("would delete", "would remove", "would keep")
        if result.dry_run
        else ("deleted", "removed", "kept")
    )
    count = len(result.projects)
    lines = [
        f"{deleted} {count} project{'s' if count != 1 else ''} ({', '.join(result.projects)}): "
        f"{len(result.files)} files, {human_bytes(result.bytes)}"
    ]
    lines.extend(f"  {removed} {path} ({human_bytes(size)})" for path, size in result.files)
    lines.extend(f"  {kept} {path}: another project's page lists it" for path in result.shared)
    if result.dry_run:
        lines.append("dry run: nothing was changed")
    return "\n".join(lines)


class BundleBar:
    """Bundle work (``cellar export``, ``cellar import``) on a terminal: one bar through its
    stages."""

    def __init__(self, console: Console) -> None:
        self._bar = LiveBar(console, "bundle")

    def __enter__(self) -> BundleBar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(None, None, None)

    def stage(self, text: str, items: int) -> None:
        self._bar.describe(text)
        self._bar.grow(items)

    def advance(self, size: int) -> None:
        self._bar.advance(size)
