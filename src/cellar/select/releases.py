"""What one target can install of a project: its releases, read from file names (pure).

Every resolution of every target reads the same file names and Requires-Python values: what
is read from each (a version, whether a Python fits) is computed once per process, in bounded
caches of these pure functions.

A project's files become ``Release`` values, one per version a file names, holding the files the
target could install (wheels best first, then sdists) and, when there are none, why not. The
rules that admit a release for a specifier (prereleases, yanked files) are pip's. ``Target`` and
``Repository`` are what the resolver needs of the world; ``TargetView`` reads the repository
for one target, each page and each release's metadata at most once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from cellar.model import DistFile
from cellar.select.metadata import DistMetadata, InvalidMetadataError

#: Which sdists a pin mirrors: every installable one, only when no wheel fits, or none at all.
SdistPolicy = Literal["all", "needed", "none"]


class Target(Protocol):
    """The environment a resolution is for; ``cellar.select.targets.TargetEnvironment`` is one."""

    @property
    def name(self) -> str:
        """A short label for messages, such as ``cp311-manylinux_2_28_x86_64``."""
        ...

    @property
    def python_full_version(self) -> Version:
        """The Python version that Requires-Python is checked against."""
        ...

    def markers(self) -> dict[str, str]:
        """Return the PEP 508 marker environment, without ``extra``."""
        ...

    def wheel_rank(self, filename: str) -> int | None:
        """Return the rank of a wheel (lower is better), or ``None`` if it cannot install here."""
        ...


class ReleaseRefused(Exception):
    """The repository refuses a release once its metadata is read (a licence policy)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ProjectExcluded(LookupError):
    """The configuration's filters leave a whole project out; ``reason`` says why."""

    def __init__(self, project: str, reason: str) -> None:
        super().__init__(f"{project} is left out: {reason}")
        self.project = project
        self.reason = reason


class Repository(Protocol):
    """An index as the resolver sees it: files per project, and core metadata per release."""

    def project_files(self, name: NormalizedName) -> Sequence[DistFile]:
        """Return every file on the project's page; raise ``LookupError`` or return ``()``
        for a project the index does not have, ``ProjectExcluded`` for one the configuration
        leaves out."""
        ...

    def metadata(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> DistMetadata:
        """Return the core metadata of a release; ``files`` are its installable files, best
        first. Raise ``InvalidMetadataError`` when it cannot be used, ``ReleaseRefused`` when
        a policy refuses the release for what it says."""
        ...

    def policy_refused(self, name: NormalizedName) -> Mapping[str, str]:
        """Return the versions of the project a policy kept off its page (version to why):
        what explains a requirement nothing fits."""
        ...


@dataclass(frozen=True, slots=True)
class Release:
    """One version of a project as one target sees it.

    ``wheels`` and ``sdists`` are the files the target could install that are not yanked;
    ``yanked_wheels`` and ``yanked_sdists`` those that are. ``python_excluded`` holds the
    Requires-Python of files that would fit but for the target's Python, and ``sdists_refused``
    says the policy ``"none"`` turned an sdist away: together they explain an empty release.
    """

    version: Version
    wheels: tuple[DistFile, ...] = ()
    sdists: tuple[DistFile, ...] = ()
    yanked_wheels: tuple[DistFile, ...] = ()
    yanked_sdists: tuple[DistFile, ...] = ()
    python_excluded: tuple[str, ...] = ()
    sdists_refused: bool = False

    @property
    def installable(self) -> bool:
        """Whether the target can install a file of this release that is not yanked."""
        return bool(self.wheels or self.sdists)

    @property
    def only_yanked(self) -> bool:
        """Whether every file the target could install is yanked (PEP 592)."""
        return not self.installable and bool(self.yanked_wheels or self.yanked_sdists)

    def files(self, policy: SdistPolicy) -> tuple[DistFile, ...]:
        """Return the files to mirror: the wheels, best first, then sdists as ``policy`` says."""
        if self.installable:
            wheels, sdists = self.wheels, self.sdists
        else:
            wheels, sdists = self.yanked_wheels, self.yanked_sdists
        return wheels + sdists if policy == "all" or not wheels else wheels


@lru_cache(maxsize=1 << 17)
def file_version(filename: str, project: NormalizedName) -> tuple[Version, bool] | None:
    """Return the version a file of ``project`` names and whether it is a wheel.

    Returns ``None`` for a name that is not a wheel or a ``.tar.gz``/``.zip`` sdist of this
    project with a PEP 440 version: installers pass such files over, and so does Cellar.
    """
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return (version, filename.endswith(".whl")) if name == project else None


#: Suffixes of the distribution kinds older than wheels that indexes still list (eggs, Windows
#: and RPM installers, bdist_dumb archives, sdists in other archive formats).
_LEGACY_SUFFIXES = (
    *(".tar.gz", ".tar.bz2", ".tar.xz", ".tar.Z", ".tgz", ".tbz", ".tar", ".zip"),
    *(".egg", ".exe", ".msi", ".rpm", ".dmg"),
)
#: What follows the version in a legacy installer's or built archive's name: ``.win32``,
#: ``.win-amd64``, ``.linux-x86_64``, ``.macosx-10.9-x86_64``, ``-1.noarch`` ...
_PLATFORM_PART = re.compile(r"\.(?:win|linux|macosx|freebsd|cygwin|solaris|sunos)[-_.\w]*$")


def any_file_version(filename: str, project: NormalizedName) -> Version | None:
    """Return the version any distribution file of ``project`` names, wheels and sdists first.

    Also reads eggs (``name-1.0-py2.7.egg``), Windows installers (``name-1.0.win32-py2.7.exe``,
    ``name-1.0.win-amd64.msi``), RPMs and sdists in old archive formats, which installers pass
    over but a mirror that keeps every file of a release must place. Returns ``None`` when the
    name does not start with the project's name and a PEP 440 version.
    """
    parsed = file_version(filename, project)
    if parsed is not None:
        return parsed[0]
    suffix = next((s for s in _LEGACY_SUFFIXES if filename.lower().endswith(s.lower())), None)
    if suffix is None:
        return None
    stem = filename[: -len(suffix)]
    for cut in (index for index, char in enumerate(stem) if char == "-"):
        if canonicalize_name(stem[:cut]) != project:
            continue
        candidate = _PLATFORM_PART.sub("", stem[cut + 1 :].split("-", 1)[0])
        try:
            return Version(candidate)
        except InvalidVersion:
            continue
    return None


@lru_cache(maxsize=1 << 12)
def python_fits(requires_python: str | None, python: Version) -> bool:
    """Whether a file's Requires-Python admits ``python``; unreadable values admit it, as in pip."""
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True


@dataclass(slots=True)
class _Files:
    """The files of one version while they are sorted; becomes a ``Release``."""

    wheels: list[tuple[int, DistFile]] = field(default_factory=list)
    sdists: list[DistFile] = field(default_factory=list)
    yanked_wheels: list[tuple[int, DistFile]] = field(default_factory=list)
    yanked_sdists: list[DistFile] = field(default_factory=list)
    python_excluded: dict[str, None] = field(default_factory=dict)
    sdists_refused: bool = False

    def release(self, version: Version) -> Release:
        def best_first(ranked: list[tuple[int, DistFile]]) -> tuple[DistFile, ...]:
            return tuple(f for _, f in sorted(ranked, key=lambda item: (item[0], item[1].filename)))

        return Release(
            version=version,
            wheels=best_first(self.wheels),
            sdists=tuple(sorted(self.sdists, key=lambda f: f.filename)),
            yanked_wheels=best_first(self.yanked_wheels),
            yanked_sdists=tuple(sorted(self.yanked_sdists, key=lambda f: f.filename)),
            python_excluded=tuple(self.python_excluded),
            sdists_refused=self.sdists_refused,
        )


def find_releases(
    project: NormalizedName,
    files: Iterable[DistFile],
    target: Target,
    policy: SdistPolicy,
    *,
    requires_python: bool = True,
) -> tuple[Release, ...]:
    """Return a ``Release`` for every version the files of ``project`` name, newest first.

    A file is installable only if its Requires-Python (as the index states it) admits the
    target's Python (unless ``requires_python`` is off: uv, for one, ignores upper bounds);
    then a wheel when the target ranks it, an sdist unless ``policy`` is ``"none"``.
    """
    python = target.python_full_version
    versions: dict[Version, _Files] = {}
    for file in files:
        parsed = file_version(file.filename, project)
        if parsed is None:
            continue
        version, is_wheel = parsed
        found = versions.setdefault(version, _Files())
        # Requires-Python first: a wheel for another Python is best explained by that.
        if requires_python and not python_fits(file.requires_python, python):
            found.python_excluded[file.requires_python or ""] = None
            continue
        rank = target.wheel_rank(file.filename) if is_wheel else 0
        if rank is None:
            continue
        if not is_wheel and policy == "none":
            found.sdists_refused = True
        elif is_wheel:
            (found.yanked_wheels if file.yanked else found.wheels).append((rank, file))
        else:
            (found.yanked_sdists if file.yanked else found.sdists).append(file)
    return tuple(versions[v].release(v) for v in sorted(versions, reverse=True))


def is_pinned(specifier: SpecifierSet) -> bool:
    """Whether ``specifier`` pins one version (``===``, or ``==`` without a wildcard)."""
    return any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
        for s in specifier
    )


def admitted(
    releases: Iterable[Release],
    specifier: SpecifierSet,
    *,
    prereleases: bool,
    yanked: bool = False,
) -> list[Release]:
    """Return the releases ``specifier`` admits by pip's rules, in the order given.

    Only releases with a file the target can install count. Prereleases: all of them with
    ``prereleases``, else as ``SpecifierSet.filter`` decides (when the specifier names one, or
    when no final release matches). Yanked releases only when the specifier pins a version and
    every match is yanked (PEP 592), or always with ``yanked`` (a mirror keeps them so that
    exact pins keep installing).
    """
    applicable = [r for r in releases if r.installable or r.only_yanked]
    allowed = set(
        specifier.filter([r.version for r in applicable], prereleases=True if prereleases else None)
    )
    matched = [r for r in applicable if r.version in allowed]
    use_yanked = yanked or (is_pinned(specifier) and all(r.only_yanked for r in matched))
    return [r for r in matched if use_yanked or not r.only_yanked]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a release was passed over once its metadata was read."""

    kind: Literal["requires-python", "unusable-metadata", "refused"]
    detail: str


class TargetView:
    """The repository as one target sees it, read lazily and once: releases, then metadata."""

    def __init__(self, target: Target, repository: Repository, sdists: SdistPolicy) -> None:
        self.target = target
        self.repository = repository
        self.sdists: SdistPolicy = sdists
        self._releases: dict[NormalizedName, tuple[Release, ...] | None] = {}
        #: Why projects with no releases were left out (filters, names kept for hosting).
        self.excluded: dict[NormalizedName, str] = {}
        self._metadata: dict[tuple[NormalizedName, Version], DistMetadata | Rejection] = {}

    def releases(self, name: NormalizedName) -> tuple[Release, ...] | None:
        """Return the project's releases, newest first, or ``None`` if the index has none."""
        if name not in self._releases:
            try:
                files = self.repository.project_files(name)
            except ProjectExcluded as error:
                self.excluded[name] = error.reason
                files = ()
            except LookupError:
                files = ()
            found = find_releases(name, files, self.target, self.sdists) if files else None
            self._releases[name] = found
        return self._releases[name]

    def metadata(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> DistMetadata | Rejection:
        """Return a release's metadata, or why the target cannot use it (unusable metadata,
        or a Requires-Python that excludes it). Errors of the repository propagate."""
        key = (name, version)
        if key not in self._metadata:
            self._metadata[key] = self._read(name, version, files)
        return self._metadata[key]

    def known_rejection(self, name: NormalizedName, version: Version) -> Rejection | None:
        """Return why a release was passed over, if its metadata has been read and said so."""
        found = self._metadata.get((name, version))
        return found if isinstance(found, Rejection) else None

    def _read(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> DistMetadata | Rejection:
        try:
            metadata = self.repository.metadata(name, version, files)
            stated = Version(metadata.version)
        except (InvalidMetadataError, InvalidVersion) as error:
            return Rejection("unusable-metadata", str(error))
        except ReleaseRefused as refused:
            return Rejection("refused", refused.detail)
        if canonicalize_name(metadata.name) != name or stated != version:
            return Rejection("unusable-metadata", f"it names {metadata.name} {metadata.version}")
        required = metadata.requires_python
        python = self.target.python_full_version
        if required is not None and not required.contains(python, prereleases=True):
            return Rejection("requires-python", str(required))
        return metadata
