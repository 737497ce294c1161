"""The nodes the resolver moves between: candidates and requirements, shaped as pip shapes them.

``foo[bar]`` is a node of its own: a candidate that depends on the base ``foo`` at exactly the
same release, so that ``foo`` and ``foo[bar]`` always share one pin, and whose other
dependencies are those only the extras bring. Identifiers are ``name`` or ``name[a,b]``, with
PEP 503 names and extras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.model import DistFile


def identifier_of(name: NormalizedName, extras: frozenset[NormalizedName]) -> str:
    """Return the resolver's key for a project with extras: ``name`` or ``name[a,b]``."""
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def split_identifier(identifier: str) -> tuple[NormalizedName, frozenset[NormalizedName]]:
    """Return the project name and extras of an identifier made by ``identifier_of``."""
    name, _, rest = identifier.partition("[")
    extras = frozenset(NormalizedName(e) for e in rest.rstrip("]").split(",") if e)
    return NormalizedName(name), extras


@dataclass(frozen=True, slots=True)
class ReleaseCandidate:
    """A release the resolver may pin; ``files`` are what to mirror of it for the target."""

    name: NormalizedName
    version: Version
    files: tuple[DistFile, ...] = field(default=(), compare=False)

    @property
    def identifier(self) -> str:
        """The resolver's key: the project name."""
        return self.name

    @property
    def needs_build(self) -> bool:
        """Whether only an sdist can install it here."""
        return not any(f.filename.endswith(".whl") for f in self.files)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True, slots=True)
class ExtrasCandidate:
    """A release with extras requested: depends on ``base`` itself plus the extras' deps."""

    base: ReleaseCandidate
    extras: frozenset[NormalizedName]

    @property
    def identifier(self) -> str:
        """The resolver's key: ``name[extras]``."""
        return identifier_of(self.base.name, self.extras)

    @property
    def version(self) -> Version:
        """The base release's version."""
        return self.base.version

    def __str__(self) -> str:
        return f"{self.identifier} {self.version}"


Candidate = ReleaseCandidate | ExtrasCandidate


@dataclass(frozen=True, slots=True)
class NamedRequirement:
    """A PEP 508 requirement whose marker held; ``text`` is how it reads, marker left out."""

    name: NormalizedName
    extras: frozenset[NormalizedName]
    specifier: SpecifierSet
    text: str

    @classmethod
    def from_requirement(cls, requirement: Requirement) -> NamedRequirement:
        """Return the resolver's form of ``requirement`` (a direct URL is resolved by name)."""
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        return cls(
            name=canonicalize_name(requirement.name),
            extras=frozenset(canonicalize_name(e) for e in requirement.extras),
            specifier=requirement.specifier,
            text=f"{requirement.name}{extras}{requirement.specifier}",
        )

    @property
    def identifier(self) -> str:
        """The resolver's key: ``name`` or ``name[extras]``."""
        return identifier_of(self.name, self.extras)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class BaseRequirement:
    """What an extras candidate requires of its project: exactly its own base release."""

    candidate: ReleaseCandidate

    @property
    def identifier(self) -> str:
        """The base project's name."""
        return self.candidate.name

    def __str__(self) -> str:
        return f"{self.candidate.name}=={self.candidate.version}"


ResolverRequirement = NamedRequirement | BaseRequirement
