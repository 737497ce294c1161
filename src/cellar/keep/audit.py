"""``cellar audit``: what the mirror holds, judged against the advisory database as it is
now, and what the policy keeps out and has withdrawn (from the state). Run it after the OSV
data is updated, on either side of an air gap: it reads only the mirror and the database."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from packaging.utils import NormalizedName

from cellar.model import ProjectPage
from cellar.policy.judge import judge_page
from cellar.policy.model import PolicySettings, ProjectRules
from cellar.policy.osv import AdvisoryDatabase, load_database
from cellar.select.releases import any_file_version
from cellar.state import MirrorState, RefusalRecord, WithdrawnRecord
from cellar.sync.pages import PageFormatError, listing_from_json

Decision = Literal["refuse", "report", "excepted"]


@dataclass(frozen=True, slots=True)
class HeldAdvisory:
    """An advisory on a release the mirror lists, and what the policy makes of the release."""

    project: str
    version: str
    advisory: str
    aliases: tuple[str, ...]
    severity: str | None
    summary: str
    malicious: bool
    #: What the policy would do with the release now: refuse it (the next ``cellar mirror``
    #: withdraws it), only report it, or let it through by an exception (``why`` says which).
    decision: Decision
    why: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``cellar audit`` says."""

    database: Path | None
    advisories: int
    projects: int
    releases: int
    held: tuple[HeldAdvisory, ...]
    refused: tuple[RefusalRecord, ...]
    withdrawn: tuple[WithdrawnRecord, ...]

    @property
    def to_withdraw(self) -> tuple[HeldAdvisory, ...]:
        """The advisories on listed releases that the policy refuses."""
        return tuple(h for h in self.held if h.decision == "refuse")


def run_audit(
    directory: Path, settings: PolicySettings, database: Path | None = None
) -> AuditReport:
    """Audit the mirror in ``directory`` against ``database`` (else ``[policy] osv``).
    Raises ``OsvError`` for a database that cannot be read, ``MirrorStateError`` for a mirror
    that is not there."""
    source = database or settings.osv
    found = load_database(source) if source is not None else None
    with MirrorState.open(directory, create=False) as state:
        holdings = _holdings(state)
        refused = tuple(state.refusals())
        withdrawn = tuple(state.withdrawn())
    held = review(holdings, settings, found) if found is not None else ()
    return AuditReport(
        database=source,
        advisories=len(found) if found is not None else 0,
        projects=len(holdings),
        releases=sum(len(page.files) for page in holdings.values()),
        held=tuple(held),
        refused=refused,
        withdrawn=withdrawn,
    )


def _holdings(state: MirrorState) -> dict[NormalizedName, ProjectPage]:
    """Each listed project's files, as its published JSON page lists them."""
    pages: dict[NormalizedName, ProjectPage] = {}
    for name in sorted(state.project_names()):
        try:
            listing = listing_from_json(state.project_page(name) or b"")
        except PageFormatError:
            continue
        files = tuple(file.entry for file in listing.files)
        pages[NormalizedName(name)] = ProjectPage(listing.name, files)
    return pages


def review(
    holdings: Mapping[NormalizedName, ProjectPage],
    settings: PolicySettings,
    database: AdvisoryDatabase,
) -> list[HeldAdvisory]:
    """Each advisory on a release in ``holdings``, with the decision the policy makes on the
    release today (its age and provenance are not judged again: they were, when it came)."""
    advisories_only = _advisories_only(settings)
    found: list[HeldAdvisory] = []
    for name, page in holdings.items():
        judged = judge_page(name, page, advisories_only, now=0.0, first_seen={}, database=database)
        refused = {r.version: r.detail for r in judged.refused}
        excepted = {f.version: f.excepted for f in judged.reported if f.excepted is not None}
        versions = {v for f in page.files if (v := any_file_version(f.filename, name))}
        for version in sorted(versions):
            shown = str(version)
            for advisory in database.advisories(name, version):
                decision: Decision = "report"
                why = ""
                if shown in refused:
                    decision, why = "refuse", refused[shown]
                elif (exception := excepted.get(shown)) is not None:
                    decision, why = "excepted", exception.reason
                found.append(
                    HeldAdvisory(
                        project=name,
                        version=shown,
                        advisory=advisory.id,
                        aliases=advisory.aliases,
                        severity=advisory.severity.word if advisory.severity else None,
                        summary=advisory.summary,
                        malicious=advisory.malicious,
                        decision=decision,
                        why=why,
                    )
                )
    return found


def _advisories_only(settings: PolicySettings) -> PolicySettings:
    def plain(rules: ProjectRules) -> ProjectRules:
        return dataclasses.replace(rules, min_release_age=0.0, require_provenance=False)

    return dataclasses.replace(
        settings,
        rules=plain(settings.rules),
        projects=MappingProxyType({n: plain(r) for n, r in settings.projects.items()}),
    )
