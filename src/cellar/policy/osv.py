"""An OSV advisory database read from a file: the per-ecosystem export zip for PyPI, or a
directory of OSV JSON documents (https://ossf.github.io/osv-schema/).

Everything in it is hostile until checked: entries are bounded in size and count, a document
that is not an OSV advisory is skipped and counted (a database with nothing usable is an
error), names are normalised, and a range or version that does not parse is ignored rather
than guessed at. Only ``PyPI`` packages are read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from cellar.errors import CellarError
from cellar.policy.model import SEVERITY_WORDS, Severity

log = logging.getLogger("cellar.policy")

#: An advisory larger than this is not an advisory (the largest in PyPI's export is ~200 kB).
MAX_DOCUMENT = 4 << 20
#: Documents read from one database, at most.
MAX_DOCUMENTS = 1_000_000
_BAND = ((9.0, Severity.CRITICAL), (7.0, Severity.HIGH), (4.0, Severity.MODERATE))


class OsvError(CellarError):
    """The OSV database at ``path`` cannot be used."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"cannot use the OSV database {path}: {cause}")
        self.path = path


@dataclass(frozen=True, slots=True)
class Advisory:
    """One advisory as it bears on PyPI projects."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity | None
    #: project -> (exact versions, ranges of (introduced, fixed, last_affected) events)
    affected: Mapping[
        NormalizedName, tuple[frozenset[str], tuple[tuple[tuple[str, str], ...], ...]]
    ]

    @property
    def malicious(self) -> bool:
        """An OSV malicious-package record (``MAL-``), under its own id or an alias."""
        return any(name.startswith("MAL-") for name in (self.id, *self.aliases))

    def affects(self, project: NormalizedName, version: Version) -> bool:
        """Whether ``project`` ``version`` is affected."""
        found = self.affected.get(project)
        if found is None:
            return False
        versions, ranges = found
        if str(version) in versions or any(_same(version, v) for v in versions):
            return True
        return any(_in_range(version, events) for events in ranges)


@dataclass(frozen=True, slots=True)
class AdvisoryDatabase:
    """The advisories of a database by project; ``digest`` names the file's content."""

    by_project: Mapping[NormalizedName, tuple[Advisory, ...]]
    digest: str
    source: Path
    skipped: int = 0

    def advisories(self, project: NormalizedName, version: Version) -> list[Advisory]:
        """The advisories affecting ``project`` ``version``."""
        return [a for a in self.by_project.get(project, ()) if a.affects(project, version)]

    def __len__(self) -> int:
        return len({a.id for found in self.by_project.values() for a in found})


def load_database(path: Path) -> AdvisoryDatabase:
    """Read the OSV database at ``path`` (a zip file or a directory). Raises ``OsvError``."""
    digest = hashlib.sha256()
    advisories: list[Advisory] = []
    skipped = 0
    try:
        for name, body in _documents(path):
            digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
            try:
                advisory = parse_advisory(json.loads(body))
            except (ValueError, TypeError, KeyError, AttributeError):
                skipped += 1
                log.debug("%s: %s is not an OSV advisory: skipped", path, name)
                continue
            if advisory is not None:
                advisories.append(advisory)
    except (OSError, zipfile.BadZipFile) as error:
        raise OsvError(path, str(error)) from None
    if not advisories and skipped:
        raise OsvError(path, f"none of its {skipped} documents is an OSV advisory")
    if skipped:
        log.warning("%s: %d documents are not OSV advisories: skipped", path, skipped)
    by_project: dict[NormalizedName, list[Advisory]] = {}
    for advisory in _merged(advisories):
        for project in advisory.affected:
            by_project.setdefault(project, []).append(advisory)
    return AdvisoryDatabase(
        {name: tuple(found) for name, found in by_project.items()},
        digest.hexdigest(),
        path,
        skipped,
    )


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield each JSON document's name and bytes, bounded in size and number."""
    if path.is_dir():
        count = 0
        for root, _, files in os.walk(path):
            for name in sorted(files):
                if not name.endswith(".json"):
                    continue
                count += 1
                if count > MAX_DOCUMENTS:
                    raise OsvError(path, f"more than {MAX_DOCUMENTS} documents")
                file = Path(root) / name
                with file.open("rb") as stream:
                    body = stream.read(MAX_DOCUMENT + 1)
                if len(body) > MAX_DOCUMENT:
                    log.warning("%s: larger than %d bytes: skipped", file, MAX_DOCUMENT)
                    continue
                yield str(file.relative_to(path)), body
        return
    if not path.exists():
        raise OsvError(path, "no such file or directory")
    with zipfile.ZipFile(path) as archive:
        entries = [i for i in archive.infolist() if i.filename.endswith(".json")]
        if len(entries) > MAX_DOCUMENTS:
            raise OsvError(path, f"more than {MAX_DOCUMENTS} documents")
        for info in entries:
            if info.file_size > MAX_DOCUMENT:
                log.warning(
                    "%s: %s is larger than %d bytes: skipped", path, info.filename, MAX_DOCUMENT
                )
                continue
            with archive.open(info) as stream:  # reads what the header says, at most
                body = stream.read(MAX_DOCUMENT + 1)
            if len(body) > MAX_DOCUMENT:
                continue
            yield info.filename, body


def parse_advisory(document: Any) -> Advisory | None:
    """An OSV document → an ``Advisory``, or None if it concerns no PyPI package or is
    withdrawn. Raises ``ValueError`` (or ``TypeError``, ``KeyError``) if it is no advisory."""
    if not isinstance(document, dict):
        raise ValueError("not an object")
    identifier = document["id"]
    if not isinstance(identifier, str) or not identifier or len(identifier) > 200:
        raise ValueError("no id")
    if document.get("withdrawn"):
        return None
    aliases = tuple(a for a in document.get("aliases") or () if isinstance(a, str))
    affected: dict[NormalizedName, tuple[set[str], list[tuple[tuple[str, str], ...]]]] = {}
    stated: list[Severity] = []
    for item in document.get("affected") or ():
        package = item.get("package") or {}
        if package.get("ecosystem") != "PyPI" or not isinstance(package.get("name"), str):
            continue
        versions, ranges = affected.setdefault(canonicalize_name(package["name"]), (set(), []))
        versions.update(v for v in item.get("versions") or () if isinstance(v, str))
        for found in item.get("ranges") or ():
            if found.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            events = tuple(
                (kind, str(value))
                for event in found.get("events") or ()
                for kind, value in event.items()
                if kind in ("introduced", "fixed", "last_affected")
            )
            if events:
                ranges.append(events)
        stated.extend(_stated(item.get("ecosystem_specific"), item.get("severity")))
    if not affected:
        return None
    stated.extend(_stated(document.get("database_specific"), document.get("severity")))
    summary = document.get("summary") or document.get("details") or ""
    return Advisory(
        id=identifier,
        aliases=aliases,
        summary=" ".join(str(summary).split())[:200],
        severity=max(stated) if stated else None,
        affected={
            name: (frozenset(versions), tuple(ranges))
            for name, (versions, ranges) in affected.items()
        },
    )


def _stated(specific: Any, scores: Any) -> Iterator[Severity]:
    """The severities a ``database_specific``/``ecosystem_specific`` object and a
    ``severity`` list state."""
    if isinstance(specific, dict) and isinstance(specific.get("severity"), str):
        word = specific["severity"].lower()
        found = SEVERITY_WORDS.get("moderate" if word == "medium" else word)
        if found is not None:
            yield found
    for score in scores or ():
        if isinstance(score, dict) and isinstance(score.get("score"), str):
            band = cvss_severity(str(score.get("type")), score["score"])
            if band is not None:
                yield band


def cvss_severity(kind: str, vector: str) -> Severity | None:
    """The severity band of a CVSS vector (v2, v3 or v4), or None if it does not parse."""
    from cvss import CVSS2, CVSS3, CVSS4  # noqa: PLC0415 - only when a database is read
    from cvss.exceptions import CVSSError  # noqa: PLC0415

    calculators = {"CVSS_V2": CVSS2, "CVSS_V3": CVSS3, "CVSS_V4": CVSS4}
    calculator = calculators.get(kind)
    if calculator is None:
        return None
    try:
        score = float(calculator(vector).base_score)
    except (CVSSError, ValueError, KeyError, IndexError):
        return None
    for low, band in _BAND:
        if score >= low:
            return band
    return Severity.LOW if score > 0 else None


def _merged(advisories: Iterable[Advisory]) -> list[Advisory]:
    """One advisory per vulnerability: records that alias each other (PYSEC-, GHSA-, CVE-)
    share the highest severity any of them states, and the others are dropped when one record
    already covers the same projects."""
    by_name: dict[str, list[Advisory]] = {}
    for advisory in advisories:
        for name in {advisory.id, *advisory.aliases}:
            by_name.setdefault(name, []).append(advisory)
    kept: list[Advisory] = []
    seen: set[str] = set()
    for advisory in sorted(advisories, key=lambda a: (not a.malicious, _rank(a.id), a.id)):
        if advisory.id in seen:
            continue
        group = {a.id: a for name in (advisory.id, *advisory.aliases) for a in by_name[name]}
        seen.update(group)
        if len(group) == 1:
            kept.append(advisory)  # most records alias no other record in the database
            continue
        severities = [a.severity for a in group.values() if a.severity is not None]
        affected = dict(advisory.affected)
        for other in group.values():
            for project, found in other.affected.items():
                if project in affected:
                    versions, ranges = affected[project]
                    affected[project] = (versions | found[0], (*ranges, *found[1]))
                else:
                    affected[project] = found
        kept.append(
            Advisory(
                id=advisory.id,
                aliases=tuple(
                    sorted({n for a in group.values() for n in (a.id, *a.aliases)} - {advisory.id})
                ),
                summary=advisory.summary
                or next((a.summary for a in group.values() if a.summary), ""),
                severity=max(severities) if severities else None,
                affected=affected,
            )
        )
    return kept


def _rank(identifier: str) -> int:
    """Which record of a vulnerability names it: GHSA's (it states a severity), then PyPI's."""
    for rank, prefix in enumerate(("MAL-", "GHSA-", "PYSEC-")):
        if identifier.startswith(prefix):
            return rank
    return 3


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _same(version: Version, text: str) -> bool:
    found = _version(text)
    return found is not None and found == version


def _in_range(version: Version, events: Sequence[tuple[str, str]]) -> bool:
    """OSV's rule: the version is affected if, among the events at or below it in version
    order, the last says so (``introduced``; ``last_affected`` only at the version itself)."""
    ordered: list[tuple[Version, int, str]] = []
    for kind, text in events:
        found = Version("0") if kind == "introduced" and text == "0" else _version(text)
        if found is None:
            return False  # a range Cellar cannot read is not guessed at
        ordered.append((found, {"introduced": 0, "last_affected": 1, "fixed": 2}[kind], kind))
    affected = False
    for found, _, kind in sorted(ordered):
        if kind == "introduced" and found <= version:
            affected = True
        elif (kind == "fixed" and found <= version) or (
            kind == "last_affected" and found < version
        ):
            affected = False
    return affected
