"""A distribution's core metadata as dependency resolution needs it (pure parsing, no I/O).

The bytes come from a PEP 658 ``.metadata`` file, a wheel's ``METADATA`` or an sdist's
``PKG-INFO`` (with, for sdists, egg-info ``requires.txt`` and ``pyproject.toml``);
``cellar.upstream.metadata`` fetches them. Parsing is lenient the way installers are lenient: a
malformed ``Requires-Dist`` line is reported, not fatal for the whole file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from packaging.requirements import InvalidRequirement, Requirement
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

from cellar.errors import CellarError

#: What pip assumes an sdist needs to build when it declares no ``[build-system]``
#: (``pip._internal.pyproject.load_pyproject_toml``), for every pip clients may run: pip 24.0
#: and later ask for setuptools alone, pip up to 23.3 (Debian 12's 23.0.1, and the 23.2.1
#: that CPython 3.11.7 and 3.12.1 ship) for ``wheel`` as well, so both are planned.
DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0", "wheel")
_WHEEL = re.compile(r"\s*wheel\s*(?:$|[^\w.-])", re.IGNORECASE)
_SETUPTOOLS = re.compile(r"\s*setuptools\s*(?:$|[^\w.-])", re.IGNORECASE)
_OTHER_SDIST_SUFFIXES = (".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tgz", ".tar")


class InvalidMetadataError(CellarError):
    """Core metadata that cannot be used at all (no name or version); ``source`` says whose."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"unusable core metadata in {source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StatedLicence:
    """What core metadata says of the licence: ``License-Expression`` (PEP 639), ``License``,
    and the ``License ::`` classifiers."""

    expression: str | None = None
    text: str | None = None
    classifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DistMetadata:
    """What resolution reads from core metadata; ``problems`` lists the lines that were skipped."""

    name: NormalizedName
    version: str
    requires_dist: tuple[Requirement, ...] = ()
    requires_python: SpecifierSet | None = None
    provides_extra: tuple[NormalizedName, ...] = ()
    build_requires: tuple[Requirement, ...] | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)
    licence: StatedLicence = field(default_factory=StatedLicence, compare=False)


def parse_metadata(data: bytes, source: str) -> DistMetadata:
    """Parse core metadata ``data`` (RFC 822 form) read from ``source`` (a URL or file name).

    Raises ``InvalidMetadataError`` when it has no name or version.
    """
    # Loaded with the first metadata parsed: the email parser it rests on is a fifth of the
    # start-up of commands that read none (mirror and plan runs that find nothing changed).
    from packaging.metadata import parse_email  # noqa: PLC0415

    raw, unparsed = parse_email(data)
    problems = [f"unreadable field {key}" for key in unparsed if key.lower() != "description"]
    name = raw.get("name")
    version = raw.get("version")
    if not name or not version:
        raise InvalidMetadataError(source, "no Name or no Version field")
    requirements: list[Requirement] = []
    for line in raw.get("requires_dist", []):
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement as error:
            problems.append(f"skipped Requires-Dist {line!r}: {error}")
    requires_python = None
    if raw.get("requires_python"):
        try:
            requires_python = SpecifierSet(raw["requires_python"])
        except InvalidSpecifier:
            problems.append(f"skipped Requires-Python {raw['requires_python']!r}")
    extras = tuple(canonicalize_name(extra) for extra in raw.get("provides_extra", []))
    return DistMetadata(
        name=canonicalize_name(name),
        version=version,
        requires_dist=tuple(requirements),
        requires_python=requires_python,
        provides_extra=extras,
        problems=tuple(problems),
        licence=StatedLicence(
            expression=raw.get("license_expression"),
            text=(raw.get("license") or "")[:1000] or None,
            classifiers=tuple(c for c in raw.get("classifiers", []) if c.startswith("License ::")),
        ),
    )


def parse_sdist_metadata(
    pkg_info: bytes,
    source: str,
    *,
    build_requires: Sequence[str],
    requires_txt: bytes | None = None,
) -> DistMetadata:
    """Parse an sdist's ``PKG-INFO`` with its build requirements and egg-info ``requires.txt``.

    ``requires_txt`` is used only when PKG-INFO lists no Requires-Dist and may have left them
    out (Metadata-Version below 2.2, or Requires-Dist declared Dynamic); that is noted in
    ``problems``, as is an old PKG-INFO with neither. Raises ``InvalidMetadataError`` as
    ``parse_metadata`` does.
    """
    metadata = parse_metadata(pkg_info, source)
    problems = list(metadata.problems)
    requirements, extras = metadata.requires_dist, metadata.provides_extra
    if not requirements and _may_omit_requires_dist(pkg_info):
        if requires_txt is not None:
            requirements, found, skipped = parse_requires_txt(requires_txt)
            extras = tuple(dict.fromkeys((*extras, *found)))
            problems.extend(skipped)
            problems.append("Requires-Dist read from egg-info requires.txt: PKG-INFO lists none")
        else:
            problems.append("PKG-INFO may omit Requires-Dist and there is no egg-info requires.txt")
    built: list[Requirement] = []
    for line in build_requires:
        try:
            built.append(Requirement(line))
        except InvalidRequirement as error:
            problems.append(f"skipped build requirement {line!r}: {error}")
    return replace(
        metadata,
        requires_dist=requirements,
        provides_extra=extras,
        build_requires=tuple(built),
        problems=tuple(problems),
    )


def parse_requires_txt(
    data: bytes,
) -> tuple[tuple[Requirement, ...], tuple[NormalizedName, ...], tuple[str, ...]]:
    """Parse setuptools' egg-info ``requires.txt``: requirements, extras named, lines skipped.

    A ``[extra]`` section adds ``extra == "extra"`` to the markers of the lines under it,
    ``[:marker]`` adds ``marker``, and ``[extra:marker]`` both, as importlib.metadata reads it.
    """
    requirements: list[Requirement] = []
    extras: list[NormalizedName] = []
    problems: list[str] = []
    conditions: list[str] = []
    for raw_line in data.decode("utf-8", errors="replace").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            extra, _, marker = line[1:-1].strip().partition(":")
            conditions = [f"({marker.strip()})"] if marker.strip() else []
            if extra.strip():
                extras.append(canonicalize_name(extra.strip()))
                conditions.append(f'extra == "{extra.strip()}"')
            continue
        requirement, _, own_marker = line.partition(";")
        markers = [f"({own_marker.strip()})"] if own_marker.strip() else []
        text = requirement.strip()
        if markers or conditions:
            # A URL requirement needs a space before ';' or the marker joins the URL.
            text = f"{text} ; {' and '.join([*markers, *conditions])}"
        try:
            requirements.append(Requirement(text))
        except InvalidRequirement as error:
            problems.append(f"skipped requires.txt line {line!r}: {error}")
    return tuple(requirements), tuple(dict.fromkeys(extras)), tuple(problems)


def build_requires_of(pyproject: bytes | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return an sdist's ``[build-system] requires`` as written, and the problems found.

    With no ``pyproject.toml`` or no ``[build-system]`` table, returns ``DEFAULT_BUILD_REQUIRES``
    as pip does; an unreadable file or a ``requires`` that is not a list of strings gives the
    default too, with a problem (pip would refuse to build such an sdist).
    """
    if pyproject is None:
        return DEFAULT_BUILD_REQUIRES, ()
    try:
        document = tomllib.loads(pyproject.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return DEFAULT_BUILD_REQUIRES, (f"unreadable pyproject.toml: {error}",)
    build_system = document.get("build-system")
    if build_system is None:
        return DEFAULT_BUILD_REQUIRES, ()
    requires = build_system.get("requires") if isinstance(build_system, dict) else None
    if not isinstance(requires, list) or not all(isinstance(item, str) for item in requires):
        return DEFAULT_BUILD_REQUIRES, ("pyproject.toml [build-system] requires is not a list",)
    return with_setuptools_wheel(tuple(requires), build_system.get("build-backend")), ()


def with_setuptools_wheel(requires: tuple[str, ...], backend: object) -> tuple[str, ...]:
    """Return ``requires`` and ``wheel`` for a setuptools backend (named, or pip's default when
    none is named and setuptools is required): setuptools before 70.1 asks the installer for
    ``wheel`` as well (``get_requires_for_build_wheel``), which an sdist that caps setuptools
    gets."""
    if backend is None:
        setuptools = any(_SETUPTOOLS.match(item) for item in requires)
    else:
        setuptools = isinstance(backend, str) and backend.startswith("setuptools.build_meta")
    if setuptools and not any(_WHEEL.match(item) for item in requires):
        return (*requires, "wheel")
    return requires


def file_identity(filename: str) -> tuple[NormalizedName, Version] | None:
    """Return the name and version a wheel or sdist ``filename`` states, or ``None``."""
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            return name, version
        for suffix in _OTHER_SDIST_SUFFIXES:
            if filename.lower().endswith(suffix):
                filename = filename[: -len(suffix)] + ".tar.gz"
                break
        return parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def check_identity(metadata: DistMetadata, filename: str, project: str, source: str) -> None:
    """Check that ``metadata`` read from ``source`` describes the file ``filename``.

    Names are compared normalised and versions as versions (``1.0 == 1.0.0``); when the
    filename cannot be read, only the name is checked, against ``project``. Raises
    ``InvalidMetadataError`` naming both sides on a mismatch.
    """
    expected = file_identity(filename)
    if expected is None:
        if metadata.name != canonicalize_name(project):
            raise InvalidMetadataError(source, f"it names {metadata.name!r}, not {project!r}")
        return
    name, version = expected
    if metadata.name != name:
        reason = f"it names {metadata.name!r}, the file {filename} {name!r}"
        raise InvalidMetadataError(source, reason)
    try:
        stated = Version(metadata.version)
    except InvalidVersion:
        raise InvalidMetadataError(source, f"invalid Version {metadata.version!r}") from None
    if stated != version:
        reason = f"it says version {metadata.version}, the file {filename} says {version}"
        raise InvalidMetadataError(source, reason)


def _may_omit_requires_dist(pkg_info: bytes) -> bool:
    from packaging.metadata import parse_email  # noqa: PLC0415 - see parse_metadata

    raw, _ = parse_email(pkg_info)
    dynamic = {name.lower() for name in raw.get("dynamic", [])}
    try:
        old = Version(raw.get("metadata_version", "1.0")) < Version("2.2")
    except InvalidVersion:
        old = True
    return old or "requires-dist" in dynamic
