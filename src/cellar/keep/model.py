"""What ``cellar verify`` finds and does, as values, and the reporter it tells as it goes."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


class Problem(StrEnum):
    """What can be wrong with a mirror."""

    MISSING = "missing"
    CORRUPT = "corrupt"
    ORPHAN = "orphan"
    DAMAGED_PAGE = "damaged page"


class Fix(StrEnum):
    """What became of a problem."""

    REPAIRED = "repaired"
    UNLISTED = "removed from its page"
    METADATA_UNLISTED = "metadata removed from its page"
    PRUNED = "pruned"
    NOT_FIXED = "not fixed"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what, where (mirror path below the web root), why, and whose.

    ``project`` is ``None`` for orphans and the root page; ``filename`` names the file (a
    distribution, its ``.metadata`` file, or a page file).
    """

    problem: Problem
    path: str
    cause: str
    project: str | None = None
    filename: str | None = None

    @property
    def where(self) -> str:
        """``project: filename`` (or the path for files no project owns)."""
        if self.project is None:
            return self.path
        return f"{self.project}: {self.filename or self.path}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What was done about ``finding``, with the details (URL, error) in ``detail``."""

    finding: Finding
    fix: Fix
    detail: str = ""

    @property
    def solved(self) -> bool:
        """True when the problem is gone and nothing was lost from the pages."""
        return self.fix in (Fix.REPAIRED, Fix.PRUNED)


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """How to verify: ``fast`` trusts size and mtime against the record; the rest act on findings.

    ``restart`` starts a new run even when an interrupted one could be resumed; ``workers``
    is the number of hashing threads.
    """

    fast: bool = False
    repair: bool = False
    prune_orphans: bool = False
    restart: bool = False
    workers: int = max(os.cpu_count() or 1, 1)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """How a verify run went.

    ``files`` distinct files are listed by ``projects`` projects; ``checked`` were examined by
    this run and ``skipped`` had been found intact by the interrupted run this one resumed.
    ``bytes_checked`` were hashed.
    """

    projects: int
    files: int
    checked: int
    skipped: int
    intact: int
    bytes_checked: int
    seconds: float
    resumed: bool
    findings: tuple[Finding, ...]
    resolutions: tuple[Resolution, ...]

    def count(self, problem: Problem) -> int:
        """Return how many findings are of kind ``problem``."""
        return Counter(finding.problem for finding in self.findings)[problem]

    @property
    def unsolved(self) -> tuple[Finding, ...]:
        """The findings that remain (or cost a listed file), after any repair or pruning."""
        solved = {r.finding for r in self.resolutions if r.solved}
        return tuple(finding for finding in self.findings if finding not in solved)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong with the mirror (any more)."""
        return not self.unsolved


class VerifyReporter:
    """Receives progress from a verify run; every method does nothing by default."""

    def stage(self, text: str) -> None:
        """The run moves on to what ``text`` says (walking the tree, reading pages)."""

    def planned(self, files: int, size: int) -> None:
        """``files`` files of ``size`` bytes (as the pages say) are to be examined."""

    def checked(self, path: str, size: int, *, intact: bool, skipped: bool) -> None:
        """The file at ``path`` was examined (or ``skipped``: verified by the resumed run)."""

    def found(self, finding: Finding) -> None:
        """Something is wrong."""

    def resolved(self, resolution: Resolution) -> None:
        """Something was done about a finding."""

    def bytes_transferred(self, delta: int) -> None:
        """``delta`` bytes arrived while repairing (negative when a download starts over)."""
