"""The policy as a run applies it: the settings, the advisory database read once, the time
the run judges at, and every decision it made (what the plan, the engine, the reports and the
audit log read).

One ``PolicyGate`` per run. ``judge`` runs on the event loop (the repository's page fetches);
``refused_versions`` and ``licence`` are read by the resolver threads, and only read what
``judge`` wrote before the page was handed to them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.model import ProjectPage
from cellar.policy.judge import Judged, judge_page
from cellar.policy.licence import judge_licence
from cellar.policy.model import PolicyException, PolicySettings, Refusal
from cellar.policy.osv import AdvisoryDatabase, load_database
from cellar.policy.provenance import ProvenanceUnavailableError, verifier_available
from cellar.select.metadata import StatedLicence

log = logging.getLogger("cellar.policy")


class Sightings(Protocol):
    """Where the first sighting of each file without an upload time is kept (the state)."""

    def first_seen(self, project: str) -> dict[str, float]: ...

    def mirrored_since(self, project: str) -> dict[str, float]: ...

    def record_first_seen(self, project: str, seen: Mapping[str, float]) -> None: ...


@dataclass(slots=True)
class PolicyGate:
    """The policy of one run, at the time ``now`` (a POSIX time)."""

    settings: PolicySettings
    database: AdvisoryDatabase | None
    now: float
    sightings: Sightings | None = None
    judged: dict[NormalizedName, Judged] = field(default_factory=dict)
    #: Releases refused for their licence: (project, version) -> refusal.
    licences: dict[tuple[NormalizedName, str], Refusal] = field(default_factory=dict)
    #: Exceptions that let a licence through: (exception, project, version).
    licence_exceptions: list[tuple[PolicyException, NormalizedName, str]] = field(
        default_factory=list
    )
    #: What a project's override let through that the table's rules refuse: each refusal
    #: lifted, with the override's reason.
    overrides: list[tuple[Refusal, str]] = field(default_factory=list)

    @classmethod
    def open(
        cls, settings: PolicySettings, sightings: Sightings | None, *, now: float | None = None
    ) -> PolicyGate:
        """The gate for ``settings``, with its database read. Raises ``OsvError``."""
        every = [settings.rules, *settings.projects.values()]
        if any(rules.require_provenance for rules in every) and not verifier_available():
            raise ProvenanceUnavailableError
        database = None
        if settings.osv is not None:
            started = time.monotonic()
            database = load_database(settings.osv)
            log.info(
                "read %d advisories on %d projects from %s in %.1f s",
                len(database),
                len(database.by_project),
                settings.osv,
                time.monotonic() - started,
            )
        return cls(settings, database, time.time() if now is None else now, sightings)

    def judge(self, name: NormalizedName, page: ProjectPage) -> ProjectPage:
        """``page`` as the policy leaves it; the decisions are kept in ``judged``."""
        first_seen: dict[str, float] = {}
        rules = self.settings.rules_for(name)
        if rules.min_release_age > 0 and any(not f.upload_time for f in page.files):
            if self.sightings is not None:
                # A file mirrored before sightings were kept was seen when it was placed.
                first_seen = self.sightings.mirrored_since(name)
                for filename, seen in self.sightings.first_seen(name).items():
                    first_seen[filename] = min(seen, first_seen.get(filename, seen))
            new = {f.filename: self.now for f in page.files if not f.upload_time}
            new = {filename: seen for filename, seen in new.items() if filename not in first_seen}
            if new and self.sightings is not None:
                self.sightings.record_first_seen(name, new)
            first_seen = {**new, **first_seen}
        judged = judge_page(
            name, page, self.settings, now=self.now, first_seen=first_seen, database=self.database
        )
        self.judged[name] = judged
        if name in self.settings.projects:
            self._note_override(name, page, judged, first_seen)
        for refusal in judged.refused:
            log.info("%s: refused by policy: %s", name, refusal.describe())
        return judged.page

    def _note_override(
        self, name: NormalizedName, page: ProjectPage, judged: Judged, first_seen: dict[str, float]
    ) -> None:
        """Keep what ``name``'s override lets through that the table's rules would refuse."""
        table = dataclasses.replace(self.settings, projects={})
        strict = judge_page(
            name, page, table, now=self.now, first_seen=first_seen, database=self.database
        )
        kept = {(r.version, r.filename, r.rule) for r in judged.refused}
        reason = self.settings.projects[name].reason or ""
        self.overrides += [
            (r, reason) for r in strict.refused if (r.version, r.filename, r.rule) not in kept
        ]

    def refused_versions(self, name: NormalizedName) -> dict[str, str]:
        """The versions of ``name`` the policy refused (all or some of their files), each with
        why."""
        found: dict[str, str] = {}
        judged = self.judged.get(name)
        for refusal in judged.refused if judged is not None else ():
            found.setdefault(refusal.version, f"{refusal.rule}: {refusal.detail}")
        for (project, version), refusal in list(self.licences.items()):
            if project == name:
                found.setdefault(version, f"licence: {refusal.detail}")
        return found

    def licence(self, name: NormalizedName, version: Version, licence: StatedLicence) -> str | None:
        """Why ``name`` ``version`` is refused for its licence, or None."""
        reason = judge_licence(self.settings.licences, licence)
        if reason is None:
            return None
        exception = self.settings.excepted(name, version, "licence")
        if exception is not None:
            self.licence_exceptions.append((exception, name, str(version)))
            return None
        refusal = Refusal(name, str(version), None, "licence", reason)
        if (name, str(version)) not in self.licences:
            log.info("%s: refused by policy: %s", name, refusal.describe())
        self.licences[name, str(version)] = refusal
        return reason

    def refusals(self) -> dict[NormalizedName, list[Refusal]]:
        """Every refusal of the run, by project."""
        found: dict[NormalizedName, list[Refusal]] = {
            name: list(judged.refused) for name, judged in self.judged.items() if judged.refused
        }
        for (name, _), refusal in self.licences.items():
            found.setdefault(name, []).append(refusal)
        return found

    @property
    def held_until(self) -> float | None:
        """When the earliest file held for its age becomes old enough, if any is held."""
        times = [t for judged in self.judged.values() if (t := judged.held_until) is not None]
        return min(times) if times else None


def policy_fingerprint(settings: PolicySettings) -> str:
    """What of the policy a plan's key must hold beyond its settings: the database file as it
    is now (size and modification time, of each file in a directory), without reading it."""
    if settings.osv is None:
        return ""
    digest = hashlib.sha256()
    for path in _database_files(settings.osv):
        try:
            found = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{found.st_size}\0{found.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _database_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return sorted(Path(root) / name for root, _, names in os.walk(path) for name in names)
