"""What the mirror's plan sees of hosted projects (pure, once the records are read).

- A hosted name is answered from its record: its page lists the hosted files, and their
  metadata comes from the record. The upstream is never asked for it, not even whether it
  exists there (dependency confusion: a public project taking an internal one's name).
- A reserved name with nothing uploaded yet does not exist, for the same reason.
- A hosted project that allows upstream releases (``[hosted] allow-upstream``) is fetched
  from the upstream, and its hosted files are added to that page; a version the hosted side
  has is never taken from the upstream.
- Each hosted release is a requirement set of its own (``name==version``), resolved for every
  target, so its public dependencies are mirrored without being listed by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from cellar.config.hosted import HostedSettings
from cellar.hosted.listing import published_file
from cellar.hosted.model import HOSTED_URL, HostedFile, HostedRecord
from cellar.hosted.records import HostedTree
from cellar.model import DistFile, ProjectPage, PublishedFile
from cellar.select.metadata import DistMetadata
from cellar.select.releases import file_version
from cellar.select.sources import RequirementSet

#: What a requirement set made from a hosted release says it comes from (messages, memos).
SOURCE_PREFIX = "hosted "


@dataclass(frozen=True, slots=True)
class HostedOverlay:
    """Hosted projects as the plan sees them: the records read from the tree, and ``[hosted]``."""

    tree: HostedTree = field(default_factory=HostedTree)
    settings: HostedSettings = field(default_factory=HostedSettings)

    @property
    def names(self) -> frozenset[NormalizedName]:
        """Every hosted project (damaged records included)."""
        return self.tree.names

    def is_local(self, name: NormalizedName) -> bool:
        """Whether ``name`` is answered here alone, the upstream never asked: hosted (and not
        allowing upstream releases), or reserved."""
        if name in self.settings.allow_upstream:
            return False
        return name in self.tree.names or self.settings.reserved(name)

    def is_merged(self, name: NormalizedName) -> bool:
        """Whether ``name`` is hosted and also takes upstream releases."""
        return name in self.settings.allow_upstream and name in self.tree.records

    def page(self, name: NormalizedName) -> ProjectPage | None:
        """The hosted page of ``name`` (None: reserved, or nothing uploaded)."""
        record = self.tree.records.get(name)
        if record is None:
            return None
        return ProjectPage(record.name, tuple(_entries(record)))

    def merge(self, name: NormalizedName, page: ProjectPage | None) -> ProjectPage | None:
        """The upstream ``page`` of a project that allows it, with the hosted files added and
        the upstream's files of the hosted versions left out."""
        record = self.tree.records.get(name)
        if record is None:
            return page
        hosted = _entries(record)
        versions = {_version(file.version) for file in record.files}
        upstream = [
            file
            for file in (page.files if page is not None else ())
            if _file_version(name, file) not in versions
        ]
        base = page or ProjectPage(record.name, ())
        return replace(base, files=(*upstream, *hosted))

    def metadata(self, name: NormalizedName, file: DistFile) -> DistMetadata | None:
        """The metadata of a hosted ``file`` from its record, or None if it is not one."""
        if not file.url.startswith(HOSTED_URL):
            return None
        record = self.tree.records.get(name)
        found = record.file(file.filename) if record is not None else None
        if found is None:
            return None
        return _metadata(name, found)

    def requirement_sets(self) -> tuple[RequirementSet, ...]:
        """One set per hosted release (yanked ones too: a pinned install still gets them)."""
        sets = []
        for name, record in sorted(self.tree.records.items()):
            for version in record.versions():
                files = [file for file in record.files if file.version == version]
                digest = hashlib.sha256(
                    "\n".join(f"{file.filename}:{file.sha256}" for file in files).encode()
                ).hexdigest()[:16]
                try:
                    requirement = Requirement(f"{name}=={version}")
                except InvalidRequirement:
                    continue
                sets.append(
                    RequirementSet(
                        f"{SOURCE_PREFIX}{record.name} {version} ({digest})",
                        (requirement,),
                        alone=False,
                    )
                )
        return tuple(sets)

    def local_names(self, names: Iterable[NormalizedName]) -> set[NormalizedName]:
        """Those of ``names`` answered here alone (``is_local``)."""
        return {name for name in names if self.is_local(name)}


def _entries(record: HostedRecord) -> list[DistFile]:
    return [published_file(record.key, file).entry for file in record.files]


def _version(text: str) -> Version | str:
    try:
        return Version(text)
    except InvalidVersion:
        return text


def _file_version(name: NormalizedName, file: DistFile) -> Version | str | None:
    found = file_version(file.filename, name)
    return found[0] if found else None


def _metadata(name: NormalizedName, file: HostedFile) -> DistMetadata:
    requirements = []
    for text in file.requires_dist:
        try:
            requirements.append(Requirement(text))
        except InvalidRequirement:
            continue  # checked at upload: a record edited by hand
    try:
        requires_python = SpecifierSet(file.requires_python) if file.requires_python else None
    except InvalidSpecifier:
        requires_python = None
    build = None
    if file.build_requires is not None:
        build = tuple(Requirement(text) for text in file.build_requires)
    return DistMetadata(
        name=name,
        version=file.version,
        requires_dist=tuple(requirements),
        requires_python=requires_python,
        provides_extra=tuple(canonicalize_name(extra) for extra in file.provides_extra),
        build_requires=build,
    )


def hosted_file(overlay: HostedOverlay, project: str, entry: DistFile) -> PublishedFile | None:
    """The hosted file ``entry`` names, as a page lists it, or None if no record has it."""
    name = canonicalize_name(project)
    record = overlay.tree.records.get(name)
    found = record.file(entry.filename) if record is not None else None
    return published_file(name, found) if found is not None else None
