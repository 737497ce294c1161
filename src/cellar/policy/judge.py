"""The policy applied to one upstream page: what of it is refused, reported, or let through by
an exception. Pure: the time, the first sightings and the database are given."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.model import DistFile, ProjectPage
from cellar.policy.model import (
    Finding,
    PolicyException,
    PolicySettings,
    ProjectRules,
    Refusal,
    Rule,
    Severity,
)
from cellar.policy.osv import AdvisoryDatabase
from cellar.select.releases import any_file_version


@dataclass(frozen=True, slots=True)
class Judged:
    """A page as the policy leaves it, and each decision on the way."""

    page: ProjectPage
    refused: tuple[Refusal, ...] = ()
    reported: tuple[Finding, ...] = ()
    #: Exceptions that let something through, with what they lifted: (exception, version, what).
    excepted: tuple[tuple[PolicyException, str, str], ...] = ()

    @property
    def held_until(self) -> float | None:
        """The earliest time a file held for its age becomes old enough."""
        times = [r.until for r in self.refused if r.until is not None]
        return min(times) if times else None


def upload_time(file: DistFile, first_seen: Mapping[str, float]) -> float | None:
    """When ``file`` was published: PEP 700 ``upload-time``, else when Cellar first saw it."""
    if file.upload_time:
        try:
            stamp = datetime.fromisoformat(file.upload_time.replace("Z", "+00:00"))
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is not None:
            return stamp.timestamp()
    return first_seen.get(file.filename)


def judge_page(
    name: NormalizedName,
    page: ProjectPage,
    policy: PolicySettings,
    *,
    now: float,
    first_seen: Mapping[str, float],
    database: AdvisoryDatabase | None,
) -> Judged:
    """Judge each file of ``name``'s ``page`` at the time ``now``; return what is left."""
    rules = policy.rules_for(name)
    refused: list[Refusal] = []
    reported: list[Finding] = []
    excepted: list[tuple[PolicyException, str, str]] = []
    by_version: dict[Version | None, list[DistFile]] = {}
    for file in page.files:
        by_version.setdefault(any_file_version(file.filename, name), []).append(file)
    kept: list[DistFile] = []
    for version, files in by_version.items():
        shown = str(version) if version is not None else "?"
        verdict = _Release(name, version, shown, policy, excepted)
        whole = None
        if database is not None and version is not None:
            whole = verdict.advisories(database, rules.refuse_severity, reported)
        if whole is not None:
            refused.append(whole)
            continue
        for file in files:
            refusal = _judge_file(name, file, shown, rules, now=now, first_seen=first_seen)
            if refusal is not None and not verdict.lifted(refusal.rule, refusal.rule):
                refused.append(refusal)
            else:
                kept.append(file)
    order = {id(file): index for index, file in enumerate(page.files)}
    kept.sort(key=lambda file: order[id(file)])
    return Judged(
        dataclasses.replace(page, files=tuple(kept)),
        tuple(refused),
        tuple(reported),
        tuple(excepted),
    )


@dataclass(slots=True)
class _Release:
    """The decisions on one release, recording each exception that lifts one."""

    name: NormalizedName
    version: Version | None
    shown: str
    policy: PolicySettings
    excepted: list[tuple[PolicyException, str, str]]

    def lifted(self, what: str, rule: Rule) -> bool:
        """Whether an exception lets the release through ``what`` (an advisory id, or the
        ``rule`` itself); the exception used is recorded."""
        exception = self.policy.excepted(self.name, self.version, what)
        if exception is None and what != rule:
            exception = self.policy.excepted(self.name, self.version, rule)
        if exception is not None:
            self.excepted.append((exception, self.shown, what))
        return exception is not None

    def advisories(
        self, database: AdvisoryDatabase, refuse: Severity | None, reported: list[Finding]
    ) -> Refusal | None:
        """The refusal of the whole release the advisories on it call for, if one does;
        the advisories that do not are reported."""
        assert self.version is not None  # noqa: S101 - only asked of a known version
        whole: Refusal | None = None
        for advisory in database.advisories(self.name, self.version):
            named = advisory.id + (f" ({advisory.summary})" if advisory.summary else "")
            if advisory.malicious:  # never lifted
                whole = whole or Refusal(self.name, self.shown, None, "malicious", named)
                continue
            severity = advisory.severity or self.policy.unknown_severity
            ids = (advisory.id, *advisory.aliases)
            if (
                refuse is not None
                and severity >= refuse
                and not any(self.lifted(n, "vulnerable") for n in ids)
            ):
                stated = advisory.severity.word if advisory.severity else "unknown"
                detail = f"{named}: severity {stated}"
                whole = whole or Refusal(self.name, self.shown, None, "vulnerable", detail)
                continue
            exception = next(
                (e for n in ids if (e := self.policy.excepted(self.name, self.version, n))), None
            )
            if exception is None and refuse is not None and severity >= refuse:
                exception = self.policy.excepted(self.name, self.version, "vulnerable")
            reported.append(
                Finding(
                    self.name,
                    self.shown,
                    advisory.id,
                    advisory.severity,
                    advisory.summary,
                    exception,
                )
            )
        return whole


def _judge_file(
    name: NormalizedName,
    file: DistFile,
    version: str,
    rules: ProjectRules,
    *,
    now: float,
    first_seen: Mapping[str, float],
) -> Refusal | None:
    age, provenance = rules.min_release_age, rules.require_provenance
    if age > 0:
        uploaded = upload_time(file, first_seen)
        if uploaded is None:
            uploaded = now  # first seen now
        if now - uploaded < age:
            since = datetime.fromtimestamp(uploaded, UTC).isoformat(timespec="minutes")
            ready = datetime.fromtimestamp(uploaded + age, UTC).isoformat(timespec="minutes")
            return Refusal(
                name,
                version,
                file.filename,
                "min-release-age",
                f"uploaded {since}, held until {ready}",
                until=uploaded + age,
            )
    if provenance and not file.provenance:
        return Refusal(
            name, version, file.filename, "provenance", "the upstream offers no provenance for it"
        )
    return None
