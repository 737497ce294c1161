"""Choose the files of a project page that a set of requirements selects (pure, no I/O).

In this release a requirement selects its project and every version its specifier allows;
requirements naming the same project add up (a version is kept if any of them allows it).
Prereleases follow PEP 440: kept when asked for, when a specifier names one, or when a project
has nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from pypi_simple import UnparsableFilenameError, parse_filename

from cellar.simple_api import DistFile, ProjectPage


@dataclass(frozen=True, slots=True)
class Selection:
    """What a project's requirements keep of its page, and the files passed over with why."""

    project: NormalizedName
    files: tuple[DistFile, ...]
    versions: tuple[Version, ...]
    passed_over: tuple[tuple[str, str], ...] = ()


def group_requirements(
    requirements: Iterable[Requirement],
) -> dict[NormalizedName, tuple[Requirement, ...]]:
    """Return the requirements grouped by PEP 503-normalised project name, in first-seen order."""
    grouped: dict[NormalizedName, list[Requirement]] = {}
    for requirement in requirements:
        grouped.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return {name: tuple(group) for name, group in grouped.items()}


def file_version(file: DistFile, project: str) -> Version | None:
    """Return the version a distribution's file name states, or ``None`` if it states none."""
    try:
        _, version, _ = parse_filename(file.filename, project)
    except UnparsableFilenameError:
        return None
    if version is None:
        return None
    try:
        return Version(version)
    except InvalidVersion:
        return None


def select_files(
    page: ProjectPage,
    requirements: Sequence[Requirement],
    *,
    prereleases: bool = False,
) -> Selection:
    """Return the files of ``page`` whose version some requirement in ``requirements`` allows."""
    project = canonicalize_name(page.name)
    by_version: dict[Version, list[DistFile]] = {}
    passed_over: list[tuple[str, str]] = []
    for file in page.files:
        version = file_version(file, page.name)
        if version is None:
            passed_over.append((file.filename, "no PEP 440 version in its file name"))
            continue
        by_version.setdefault(version, []).append(file)

    wanted: set[Version] = set()
    for requirement in requirements:
        allowed = requirement.specifier.filter(by_version, prereleases=prereleases or None)
        wanted.update(allowed)
    versions = tuple(sorted(wanted))
    files = tuple(file for version in versions for file in by_version[version])
    return Selection(project, files, versions, tuple(passed_over))
