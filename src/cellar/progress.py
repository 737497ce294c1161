"""Show a sync as it runs (a bar on a terminal, plain log lines otherwise), then a summary."""

from __future__ import annotations

import logging
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from cellar.state import Failure
from cellar.sync.engine import MirrorResult
from cellar.sync.reporter import Reporter

log = logging.getLogger("cellar.sync")


def human_bytes(size: float) -> str:
    """Return ``size`` in bytes as a short decimal string (``"1.5 MB"``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError  # pragma: no cover - the loop always returns


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
        where = f"{failure.project}: {failure.filename}" if failure.filename else failure.project
        log.error("%s: %s", where, failure.message)

    def project_done(self, project: str, files: int) -> None:
        log.info("%s: published, %d file%s", project, files, "" if files == 1 else "s")


class BarReporter(LogReporter):
    """Reports with a live progress bar (files, bytes, rate) on a terminal, plus failures."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files  {task.fields[transferred]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._files: TaskID | None = None
        self._bytes = 0
        self._started = time.monotonic()

    def __enter__(self) -> BarReporter:
        self._progress.start()
        self._files = self._progress.add_task("mirroring", total=0, transferred="")
        self._started = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def files_planned(self, project: str, count: int, size: int) -> None:
        if self._files is not None:
            task = self._progress.tasks[self._files]
            self._progress.update(self._files, total=(task.total or 0) + count)

    def bytes_transferred(self, delta: int) -> None:
        self._bytes += delta
        if self._files is not None:
            rate = self._bytes / max(time.monotonic() - self._started, 0.001)
            transferred = f"{human_bytes(self._bytes)} at {human_bytes(rate)}/s"
            self._progress.update(self._files, transferred=transferred)

    def file_done(self, project: str, filename: str, *, added: bool, size: int) -> None:
        # The bar shows progress; a line per file only with --verbose.
        log.debug("%s: %s %s", project, "added" if added else "kept", filename)
        if self._files is not None:
            self._progress.advance(self._files)

    def file_failed(self, project: str, filename: str) -> None:
        if self._files is not None:
            self._progress.advance(self._files)

    def project_done(self, project: str, files: int) -> None:
        log.debug("%s: published, %d files", project, files)

    def projects_planned(self, count: int) -> None:
        log.debug("syncing %d projects", count)


def summarize(result: MirrorResult) -> str:
    """Return the end-of-run summary: projects, files, bytes added, time, and each failure."""
    pages = result.pages
    lines = [
        f"{pages.checked} project page{'s' if pages.checked != 1 else ''} checked upstream: "
        f"{pages.changed} new or changed, {pages.unchanged} unchanged",
        f"{result.projects} project{'s' if result.projects != 1 else ''} mirrored, "
        f"{result.files} files listed, {result.files_added} added "
        f"({human_bytes(result.bytes_added)}) in {result.seconds:.1f} s",
    ]
    if result.failures:
        lines.append(f"{len(result.failures)} failure{'s' if len(result.failures) != 1 else ''}:")
        for failure in result.failures:
            where = (
                f"{failure.project}: {failure.filename}" if failure.filename else failure.project
            )
            lines.append(f"  {where}: {failure.message}")
    else:
        lines.append("no failures")
    return "\n".join(lines)
