"""bandersnatch's filter plugins as one frozen value, and what they leave of a project page (pure).

``Filters`` holds every filter a configuration names, from a bandersnatch INI file or from
Cellar's ``[filters]`` table. ``Filters.apply`` runs them on an upstream page in bandersnatch's
order: whole-project filters (blocklist, regex, total size), then file filters (platforms),
then release filters (allow/block lists, regex, pre-releases, newest N); a release none of
whose files is left disappears. Where bandersnatch's result depends on the order its plugins
happen to be loaded in, each release filter here decides independently and ``latest`` counts
among the releases the others keep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Literal

from packaging.requirements import Requirement
from packaging.tags import INTERPRETER_SHORT_NAMES
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.model import DistFile, ProjectPage
from cellar.select.releases import any_file_version

#: prerelease_release's patterns, matched (``re.match``) against the version string.
PRERELEASE_PATTERNS = (r".+rc\d+$", r".+a(lpha)?\d+$", r".+b(eta)?\d+$", r".+dev\d+$")

#: exclude_platform's tables, as bandersnatch has them (``bandersnatch_filter_plugins``).
PYTHON_VERSIONS = ("py2", *(f"py2.{m}" for m in range(4, 8)), "py3")
PYTHON_VERSIONS += tuple(f"py3.{minor}" for minor in range(15))
WINDOWS_TYPES = (".win32", "-win32", "win_amd64", "win-amd64", "win_arm64", "win-arm64")
LINUX_TYPES = (
    *("linux-i686", "linux-x86_64", "linux_armv7l", "linux_armv6l"),
    *("manylinux1_i686", "manylinux1_x86_64", "manylinux2010_i686", "manylinux2010_x86_64"),
    *("manylinux2014_x86_64", "manylinux2014_i686", "manylinux2014_aarch64"),
    *("manylinux2014_armv7l", "manylinux2014_ppc64", "manylinux2014_ppc64le"),
    *("manylinux2014_s390x", "-manylinux_", "musllinux"),
)
PLATFORM_NAMES = ("windows", "win", "macos", "macosx", "freebsd", "linux")
KNOWN_PLATFORMS = frozenset((*PLATFORM_NAMES, *PYTHON_VERSIONS, *WINDOWS_TYPES, *LINUX_TYPES))

LatestBy = Literal["version", "time"]
_ARCHIVES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.Z", ".tgz", ".tbz", ".tar", ".zip")
_BUILT_ARCHIVE = re.compile(r"\.(?:linux|win32|win-|macosx|freebsd|cygwin)")
_PACKAGE_TYPES = {
    ".whl": "bdist_wheel",
    ".egg": "bdist_egg",
    ".exe": "bdist_wininst",
    ".msi": "bdist_msi",
    ".rpm": "bdist_rpm",
    ".dmg": "bdist_dmg",
}


@dataclass(frozen=True, slots=True)
class Filters:
    """What to leave out of the mirror: whole projects, releases and files.

    Requirements name projects in any spelling; their specifiers admit pre-releases, as
    bandersnatch's do. Patterns are regular expressions matched with ``re.match``.
    """

    #: blocklist_project: projects never mirrored.
    block_projects: frozenset[NormalizedName] = frozenset()
    #: regex_project: a project whose name matches one is never mirrored.
    project_patterns: tuple[str, ...] = ()
    #: allowlist_release: the releases of each named project must match one of its specifiers.
    allow_releases: tuple[Requirement, ...] = ()
    #: project_requirements_pinned: like ``allow_releases``, and where such a requirement has
    #: a specifier no other release filter applies to that project.
    pinned_releases: tuple[Requirement, ...] = ()
    #: blocklist_release: releases matching a specifier are left out.
    block_releases: tuple[Requirement, ...] = ()
    #: regex_release: releases whose version matches one are left out.
    release_patterns: tuple[str, ...] = ()
    #: prerelease_release: leave out pre-releases (of ``prerelease_projects``; empty: of all).
    drop_prereleases: bool = False
    prerelease_projects: frozenset[NormalizedName] = frozenset()
    #: latest_release: keep the newest N releases (0: all), by version or by upload time.
    latest: int = 0
    latest_by: LatestBy = "version"
    #: exclude_platform: platform and Python tags whose binary files are left out.
    exclude_platforms: tuple[str, ...] = ()
    #: size_project_metadata: projects whose files total more bytes are left out (0: no limit),
    #: except those in ``size_exempt``.
    max_project_size: int = 0
    size_exempt: frozenset[NormalizedName] = frozenset()

    def project_excluded(self, name: str) -> str | None:
        """Return why project ``name`` (any spelling) is never mirrored, or ``None``.

        Regex patterns are tried on the name as given and on its normalised form.
        """
        normal = canonicalize_name(name)
        if normal in self.block_projects:
            return "it is in the project blocklist"
        for pattern in self.project_patterns:
            if re.match(pattern, name) or re.match(pattern, normal):
                return f"its name matches the project pattern {pattern!r}"
        return None

    def apply(self, page: ProjectPage) -> tuple[ProjectPage, str | None]:
        """Return ``page`` with only the files the filters keep, and why the whole project is
        left out (then no file is kept), or ``None``."""
        name = canonicalize_name(page.name)
        reason = self.project_excluded(page.name) or self._too_large(name, page.files)
        if reason is not None:
            return replace(page, files=()), reason
        files = [file for file in page.files if not self.file_excluded(file.filename)]
        if self._release_filters_active(name):
            releases = _by_version(name, files)
            kept = self._kept_versions(name, releases, _by_version(name, page.files))
            files = [f for f in files if any_file_version(f.filename, name) in kept]
        return replace(page, files=tuple(files)), None

    def file_excluded(self, filename: str) -> bool:
        """Whether exclude_platform leaves this file out; sdists never are."""
        kind = package_type(filename)
        if kind == "sdist" or not self.exclude_platforms:
            return False
        patterns, kinds = _cached_rules(self.exclude_platforms)
        return kind in kinds or any(pattern in filename for pattern in patterns)

    def release_excluded(self, name: NormalizedName, version: Version) -> bool:
        """Whether the allow/block lists, regex or pre-release filters leave a release out."""
        text = str(version)
        allowed = [r for r in self.allow_releases if canonicalize_name(r.name) == name]
        if allowed and not _matches(allowed, version):
            return True
        blocked = [r for r in self.block_releases if canonicalize_name(r.name) == name]
        if blocked and _matches(blocked, version):
            return True
        if any(re.match(pattern, text) for pattern in self.release_patterns):
            return True
        if self.drop_prereleases and (
            not self.prerelease_projects or name in self.prerelease_projects
        ):
            return any(re.match(pattern, text) for pattern in PRERELEASE_PATTERNS)
        return False

    def _release_filters_active(self, name: NormalizedName) -> bool:
        return bool(
            self.latest > 0
            or self.release_patterns
            or self.drop_prereleases
            or any(canonicalize_name(r.name) == name for r in self._named_releases())
        )

    def _named_releases(self) -> Iterable[Requirement]:
        yield from self.allow_releases
        yield from self.pinned_releases
        yield from self.block_releases

    def _kept_versions(
        self,
        name: NormalizedName,
        releases: Mapping[Version, Sequence[DistFile]],
        every_release: Mapping[Version, Sequence[DistFile]],
    ) -> set[Version]:
        pinned = [r for r in self.pinned_releases if canonicalize_name(r.name) == name]
        if any(r.specifier for r in pinned):
            return {version for version in releases if _matches(pinned, version)}
        kept = {version for version in releases if not self.release_excluded(name, version)}
        if 0 < self.latest < len(kept):
            kept = self._newest(kept, releases, current_release(every_release))
        return kept

    def _newest(
        self,
        kept: set[Version],
        releases: Mapping[Version, Sequence[DistFile]],
        current: Version | None,
    ) -> set[Version]:
        if self.latest_by == "time":

            def key(version: Version) -> tuple[datetime, Version]:
                return (_released(releases[version]), version)

            ordered = sorted(kept, key=key, reverse=True)
        else:
            ordered = sorted(kept, reverse=True)
        newest = ordered[: self.latest]
        # As bandersnatch: the release PyPI calls current stays, in place of the Nth newest.
        if current is not None and current in kept and current not in newest:
            newest[-1] = current
        return set(newest)

    def _too_large(self, name: NormalizedName, files: Sequence[DistFile]) -> str | None:
        if self.max_project_size <= 0 or name in self.size_exempt:
            return None
        total = sum(file.size or 0 for file in files)
        if total <= self.max_project_size:
            return None
        return f"its files total {total} bytes, more than the limit of {self.max_project_size}"


def _matches(requirements: Iterable[Requirement], version: Version) -> bool:
    return any(r.specifier.contains(version, prereleases=True) for r in requirements)


def _by_version(name: NormalizedName, files: Iterable[DistFile]) -> dict[Version, list[DistFile]]:
    found: dict[Version, list[DistFile]] = {}
    for file in files:
        version = any_file_version(file.filename, name)
        if version is not None:
            found.setdefault(version, []).append(file)
    return found


def _released(files: Sequence[DistFile]) -> datetime:
    """Return when a release was uploaded: its earliest file's upload time (oldest if none)."""
    times = []
    for file in files:
        try:
            times.append(datetime.fromisoformat(file.upload_time or ""))
        except ValueError:
            continue
    return min(times, default=datetime.min).replace(tzinfo=None)


def current_release(releases: Mapping[Version, Sequence[DistFile]]) -> Version | None:
    """Return the release PyPI's JSON API calls the project's version: the newest final
    release not yanked, else the newest pre-release not yanked, else the newest."""
    live = [v for v, files in releases.items() if not all(file.yanked for file in files)]
    finals = [v for v in live if not v.is_prerelease]
    return max(finals or live or releases, default=None)


def package_type(filename: str) -> str:
    """Return the PyPI package type a file name implies (``bdist_wheel``, ``sdist``, ...).

    Archives naming a platform (``foo-1.0.linux-x86_64.tar.gz``) are ``bdist_dumb``.
    """
    lower = filename.lower()
    for suffix, kind in _PACKAGE_TYPES.items():
        if lower.endswith(suffix):
            return kind
    if lower.endswith(_ARCHIVES):
        return "bdist_dumb" if _BUILT_ARCHIVE.search(lower) else "sdist"
    return "unknown"


def platform_rules(tags: Iterable[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """Return exclude_platform's file name substrings and package types for ``tags``.

    Raises ``ValueError`` naming a tag bandersnatch does not know.
    """
    patterns: list[str] = []
    kinds: set[str] = set()
    for tag in tags:
        lower = tag.lower()
        if lower in ("windows", "win"):
            patterns += WINDOWS_TYPES
            kinds |= {"bdist_msi", "bdist_wininst"}
        elif lower in ("macos", "macosx"):
            patterns += ("macosx_", "macosx-")
            kinds.add("bdist_dmg")
        elif lower == "freebsd":
            patterns += (".freebsd", "-freebsd")
        elif lower == "linux":
            patterns += LINUX_TYPES
            kinds.add("bdist_rpm")
        elif lower in PYTHON_VERSIONS:
            patterns += python_tag_patterns(lower)
        elif lower in WINDOWS_TYPES or lower in LINUX_TYPES:
            patterns.append(lower)
        else:
            known = ", ".join((*PLATFORM_NAMES, "py2.7", "py3.12", "win_amd64", "..."))
            msg = f"{tag!r} is not a platform exclude_platform knows ({known})"
            raise ValueError(msg)
    return tuple(patterns), frozenset(kinds)


@lru_cache(maxsize=32)
def _cached_rules(tags: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    return platform_rules(tags)


def python_tag_patterns(tag: str) -> tuple[str, ...]:
    """Return the file name substrings that mark a ``pyX.Y`` tag's binaries, as bandersnatch's
    ``parse_version``: ``-cp27-``, ``-pp27-``, ``-ip27-``, ``-jy27-``, ``-py2.7-``, ``-py2.7.``."""
    dotted = tag.lower().removeprefix("py")
    plain = dotted.replace(".", "")
    others = [short for short in INTERPRETER_SHORT_NAMES.values() if short != "py"]
    return (*(f"-{short}{plain}-" for short in others), f"-py{dotted}-", f"-py{dotted}.")


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_UNITS = "kmgtpezy"


def parse_size(text: str) -> int:
    """Return the bytes a size such as ``1G``, ``500 MB``, ``2GiB`` or ``1048576`` stands for.

    As bandersnatch (humanfriendly, binary): a unit is read by its first letter, so K, KB,
    KiB and kilobytes are all 1024 bytes; B or no unit means bytes. Raises ``ValueError``
    for anything else.
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        msg = f"{text!r} is not a size (such as 1048576, 500M or 1G)"
        raise ValueError(msg)
    number, unit = float(match.group(1)), match.group(2).lower().rstrip("s")
    if not unit or unit.startswith("b"):
        return int(number)
    if unit[0] not in _UNITS:
        msg = f"{text!r} is not a size: unknown unit {match.group(2)!r}"
        raise ValueError(msg)
    return int(number * 1024 ** (_UNITS.index(unit[0]) + 1))


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it compiles as a regular expression; raise ``ValueError`` if not."""
    try:
        re.compile(pattern)
    except re.error as error:
        msg = f"{pattern!r} is not a regular expression: {error}"
        raise ValueError(msg) from None
    return pattern
