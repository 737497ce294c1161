"""The values of ``[policy]``, and of what it decides.

A policy is judged per file and per release: a file too young (``min-release-age``), a release
an advisory marks malicious or vulnerable past the severity the site refuses, a file without
the provenance a project must have, a release whose licence is not allowed. What is refused is
neither mirrored nor listed, and the closure resolves as if it did not exist. An exception (a
project, its versions, the rules or advisories it lifts, and a reason) lets a release through;
nothing lifts a malicious advisory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

#: The rules a release or file can be refused by; an exception names them (or advisory ids).
Rule = Literal["min-release-age", "malicious", "vulnerable", "provenance", "licence"]
RULES: tuple[Rule, ...] = ("min-release-age", "malicious", "vulnerable", "provenance", "licence")


class Severity(IntEnum):
    """How bad a vulnerability is, in the words of GitHub's advisories and CVSS's bands."""

    LOW = 1
    MODERATE = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def word(self) -> str:
        return self.name.lower()


#: The words ``refuse-severity`` and ``unknown-severity`` take.
SEVERITY_WORDS: Mapping[str, Severity] = MappingProxyType({s.word: s for s in Severity})


@dataclass(frozen=True, slots=True)
class ProjectRules:
    """The rules one project is judged by: the table's, or a ``[policy.projects.<name>]``
    override of them (with the reason it was made, recorded)."""

    #: Seconds a file must have been public before it is taken; 0: no wait.
    min_release_age: float = 0.0
    #: Refuse releases with a vulnerability at or above this; None: only report them.
    refuse_severity: Severity | None = None
    #: Refuse files without PEP 740 provenance, and verify the provenance of those taken.
    require_provenance: bool = False
    #: The publisher repository the provenance must name (``owner/name``), if pinned.
    provenance_repository: str | None = None
    #: Why these rules differ from the table's (an override only).
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyException:
    """Lets ``project``'s ``versions`` through the rules or advisories in ``allow``."""

    project: NormalizedName
    versions: SpecifierSet
    allow: frozenset[str]
    reason: str

    def covers(self, project: NormalizedName, version: Version | None, what: str) -> bool:
        """Whether this exception lets ``project`` ``version`` through ``what`` (a rule, or
        an advisory id)."""
        if project != self.project or what not in self.allow:
            return False
        if not str(self.versions):
            return True
        return version is not None and self.versions.contains(version, prereleases=True)

    def describe(self) -> str:
        versions = f" {self.versions}" if str(self.versions) else ""
        return f"{self.project}{versions}: {', '.join(sorted(self.allow))} ({self.reason})"


@dataclass(frozen=True, slots=True)
class LicencePolicy:
    """Licence allow and deny lists of SPDX identifiers (opt-in); an empty policy judges
    nothing."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    #: What to do with a release whose licence is not an SPDX expression Cellar can read.
    unknown: Literal["allow", "refuse"] = "allow"

    @property
    def active(self) -> bool:
        return bool(self.allow or self.deny)


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """The ``[policy]`` table, validated; paths absolute."""

    rules: ProjectRules = field(default_factory=ProjectRules)
    projects: Mapping[NormalizedName, ProjectRules] = field(
        default_factory=lambda: MappingProxyType({})
    )
    exceptions: tuple[PolicyException, ...] = ()
    #: An OSV database: the per-ecosystem export zip for PyPI, or a directory of OSV JSON.
    osv: Path | None = None
    #: The severity given to a vulnerability whose advisory states none Cellar can read.
    unknown_severity: Severity = Severity.HIGH
    licences: LicencePolicy = field(default_factory=LicencePolicy)
    #: Mirror the PEP 740 provenance objects the upstream offers, and list them.
    mirror_provenance: bool = True
    #: Where each decision is appended (JSON lines); None: ``<directory>/.cellar/audit.log``.
    audit_log: Path | None = None

    def rules_for(self, project: NormalizedName) -> ProjectRules:
        """The rules ``project`` is judged by."""
        return self.projects.get(project, self.rules)

    @property
    def active(self) -> bool:
        """Whether the policy can refuse anything at all."""
        every = [self.rules, *self.projects.values()]
        return (
            self.osv is not None
            or self.licences.active
            or any(r.min_release_age > 0 or r.require_provenance for r in every)
        )

    def excepted(
        self, project: NormalizedName, version: Version | None, what: str
    ) -> PolicyException | None:
        """The exception that lets ``project`` ``version`` through ``what``, if one does."""
        for exception in self.exceptions:
            if exception.covers(project, version, what):
                return exception
        return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A file (or every file of a release, ``filename`` None) the policy keeps out."""

    project: NormalizedName
    version: str
    filename: str | None
    rule: Rule
    detail: str
    #: For ``min-release-age``: when the file will be old enough (a POSIX time).
    until: float | None = None

    def describe(self) -> str:
        what = self.filename or f"{self.project} {self.version}"
        return f"{what}: {self.rule}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Finding:
    """An advisory on a release that the policy reports without refusing it (or lets through
    by an exception, then ``excepted`` says which)."""

    project: NormalizedName
    version: str
    advisory: str
    severity: Severity | None
    summary: str
    excepted: PolicyException | None = None
