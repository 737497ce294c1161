"""A distribution's core metadata as dependency resolution needs it (pure parsing, no I/O).

The bytes come from a PEP 658 ``.metadata`` file, a wheel's ``METADATA`` or an sdist's
``PKG-INFO``; ``cellar.upstream.metadata`` fetches them. Parsing is lenient the way installers are
lenient: a malformed ``Requires-Dist`` line is reported, not fatal for the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from cellar.errors import CellarError


class InvalidMetadataError(CellarError):
    """Core metadata that cannot be used at all (no name or version); ``source`` says whose."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"unusable core metadata in {source}: {reason}")
        self.source = source
        self.reason = reason


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


def parse_metadata(data: bytes, source: str) -> DistMetadata:
    """Parse core metadata ``data`` (RFC 822 form) read from ``source`` (a URL or file name).

    Raises ``InvalidMetadataError`` when it has no name or version.
    """
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
    )
