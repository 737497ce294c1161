"""Resolve requirements for one target environment as pip would (pure and synchronous).

``resolve`` picks the newest releases that fit the target (Requires-Python, markers, extras,
yanked files, prereleases, conflicts), backtracking through resolvelib, against an abstract
``Repository``; it reads metadata only of the releases it tries. The Python packaging rules live
in ``cellar.select.provider``, what a target can install of a project in
``cellar.select.candidates``, and the explanation of a failure in ``cellar.select.failure``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver

from cellar.model import DistFile
from cellar.select.candidates import (
    BaseRequirement,
    Candidate,
    ExtrasCandidate,
    ReleaseCandidate,
    ResolverRequirement,
    split_identifier,
)
from cellar.select.failure import ResolutionFailed, UnsatisfiedRequirement, diagnose
from cellar.select.implied import ResolutionGraph, frozen_links, implied_pins
from cellar.select.metadata import DistMetadata
from cellar.select.provider import Provider
from cellar.select.releases import Release, Repository, SdistPolicy, Target, TargetView, admitted

if TYPE_CHECKING:
    from resolvelib.resolvers.criterion import Criterion

__all__ = [
    "Pin",
    "Repository",
    "Resolution",
    "ResolutionFailed",
    "SdistPolicy",
    "Target",
    "UnsatisfiedRequirement",
    "installable_releases",
    "resolve",
]

#: resolvelib's limit on pin attempts, as pip sets it; reached only by pathological graphs.
MAX_ROUNDS = 200_000
#: ``Resolution.why`` lists at most this many chains, shortest first.
MAX_CHAINS = 100

#: For each identifier, who required it: (parent identifier or None for a root, requirement
#: text, or None for the link from ``name[extra]`` to its base ``name``).
Edges = Mapping[str, tuple[tuple[str | None, str | None], ...]]


@dataclass(frozen=True, slots=True)
class Pin:
    """One release a resolution chose, and the files of it to mirror for the target.

    ``files``: every installable wheel (best first), plus sdists when the policy is ``"all"``,
    or when it is ``"needed"`` and no wheel fits; ``needs_build`` says only an sdist fits.
    ``extras`` are the requested extras the release provides.
    """

    name: NormalizedName
    version: Version
    extras: frozenset[NormalizedName]
    files: tuple[DistFile, ...]
    needs_build: bool
    metadata: DistMetadata


@dataclass(frozen=True, slots=True)
class Resolution:
    """The pins of one target; ``notes`` are warnings to show (unknown extras, skipped files)."""

    target: str
    pins: Mapping[NormalizedName, Pin]
    edges: Edges = field(default_factory=lambda: MappingProxyType({}), repr=False)
    notes: tuple[str, ...] = ()
    #: How the pins hang together, for reading resolutions of a part off this one
    #: (``implied``); ``None`` for a resolution that was itself read off another.
    graph: ResolutionGraph | None = field(default=None, repr=False, compare=False)

    def implied(
        self,
        requirement: Requirement,
        view: TargetView,
        *,
        prereleases: bool,
        constraints: Sequence[Requirement] = (),
    ) -> Resolution | None:
        """Return what ``resolve([requirement])`` gives for the same target and settings,
        read off this resolution, when it can be (``cellar.select.implied``); else ``None``.

        ``requirement`` must pin one release (``name==v``), as the closure's resolutions of
        each kept release alone do.
        """
        if self.graph is None:
            return None
        provider = Provider(
            view.target, view.repository, prereleases=prereleases, sdists=view.sdists, view=view
        )
        root = provider.requirement(requirement)
        part = implied_pins(
            self.graph,
            root.identifier,
            requirement,
            view,
            prereleases=prereleases,
            constraints=_constraints(provider, constraints),
        )
        if part is None:
            return None
        extras: dict[NormalizedName, set[NormalizedName]] = {}
        names: dict[NormalizedName, None] = {}
        for identifier in part.reached:
            name, _ = split_identifier(identifier)
            names[name] = None
            extras.setdefault(name, set()).update(self.graph.extras.get(identifier, ()))
        pins = {
            name: replace(pin, extras=frozenset(extras[name]))
            for name, pin in self.pins.items()
            if name in names
        }
        return Resolution(
            target=self.target,
            pins=MappingProxyType(pins),
            edges=frozen_links(part, root.identifier, root),
            notes=tuple(provider.notes),
        )

    def why(self, name: str) -> tuple[tuple[str, ...], ...]:
        """Return each chain of requirements from a root requirement to project ``name``.

        ``(("pandas", "numpy>=1.23.2"),)`` means the root requirement ``pandas`` pulled in
        ``numpy>=1.23.2``. Returns ``()`` for a project not pinned; at most ``MAX_CHAINS``
        chains, shortest first.
        """
        project = canonicalize_name(name)
        starts = [i for i in self.edges if split_identifier(i)[0] == project]
        queue: deque[tuple[str, tuple[str, ...], frozenset[str]]] = deque(
            (i, (), frozenset({i})) for i in starts
        )
        chains: dict[tuple[str, ...], None] = {}
        while queue and len(chains) < MAX_CHAINS:
            identifier, suffix, seen = queue.popleft()
            for parent, text in self.edges.get(identifier, ()):
                chain: tuple[str, ...] = (text, *suffix) if text is not None else suffix
                if parent is None:
                    chains[chain] = None
                elif parent not in seen:
                    queue.append((parent, chain, seen | {parent}))
        return tuple(sorted(chains, key=lambda c: (len(c), c)))


class _Trail(BaseReporter[ResolverRequirement, Candidate, str]):
    """Remembers who required what during the search, to explain a failure."""

    def __init__(self) -> None:
        self.required: dict[str, dict[tuple[ResolverRequirement, Candidate | None], None]] = {}

    def adding_requirement(
        self, requirement: ResolverRequirement, parent: Candidate | None
    ) -> None:
        """Record that ``parent`` (``None``: the user) required ``requirement``."""
        self.required.setdefault(requirement.identifier, {})[(requirement, parent)] = None

    def chain(self, parent: Candidate | None, provider: Provider) -> tuple[str, ...]:
        """Return ``parent`` and who required it, up to a root requirement."""
        chain: list[str] = []
        seen: set[str] = set()
        node = parent
        while node is not None and node.identifier not in seen:
            seen.add(node.identifier)
            chain.append(str(node))
            infos = [
                (r, p)
                for r, p in self.required.get(node.identifier, {})
                if provider.is_satisfied_by(r, node)
            ]
            if not infos:
                break
            requirement, node = min(infos, key=lambda info: info[1] is not None)
            if isinstance(requirement, BaseRequirement):
                chain.pop()  # "foo 1.0 <- foo[bar] 1.0" says no more than "foo[bar] 1.0"
            elif node is None:
                chain.append(str(requirement))
        return tuple(chain)


def resolve(
    requirements: Sequence[Requirement],
    target: Target,
    repository: Repository,
    *,
    prereleases: bool = False,
    sdists: SdistPolicy = "needed",
    constraints: Sequence[Requirement] = (),
    dependencies: bool = True,
    view: TargetView | None = None,
) -> Resolution:
    """Return the releases pip would install for ``requirements`` on ``target``.

    Requirements whose marker is false for the target are dropped; ``constraints`` restrict
    versions without adding projects; ``dependencies=False`` resolves the requirements alone
    (pip's ``--no-deps``); ``view`` shares reads with other resolutions (see ``Provider``).
    Raises ``ResolutionFailed`` when no set of releases fits; errors of the repository (an
    upstream that cannot answer) propagate unchanged.
    """
    provider = Provider(
        target,
        repository,
        prereleases=prereleases,
        sdists=sdists,
        dependencies=dependencies,
        view=view,
    )
    provider.constraints.update(_constraints(provider, constraints))
    roots = [provider.requirement(r) for r in requirements if provider.applies(r.marker)]
    for index, root in enumerate(roots):
        provider.requested.setdefault(root.identifier, index)
    trail = _Trail()
    try:
        result = Resolver(provider, trail).resolve(roots, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as impossible:
        causes = [
            (info.requirement, trail.chain(info.parent, provider)) for info in impossible.causes
        ]
        unique = list(dict.fromkeys((r, c) for r, c in causes))
        raise ResolutionFailed(target.name, diagnose(unique, provider)) from None
    except ResolutionTooDeep as deep:
        detail = f"gave up after {deep.round_count} rounds of backtracking"
        raise ResolutionFailed(target.name, (), detail) from None
    return _resolution(target.name, result.mapping, result.criteria, provider)


def _constraints(
    provider: Provider, constraints: Sequence[Requirement]
) -> dict[NormalizedName, SpecifierSet]:
    """Return the version limits ``constraints`` set on the target, by project."""
    found: dict[NormalizedName, SpecifierSet] = {}
    for constraint in constraints:
        if provider.applies(constraint.marker):
            name = canonicalize_name(constraint.name)
            found[name] = found.get(name, SpecifierSet()) & constraint.specifier
    return found


def installable_releases(
    requirement: Requirement,
    target: Target,
    repository: Repository,
    *,
    prereleases: bool = False,
    sdists: SdistPolicy = "needed",
    yanked: bool = False,
    view: TargetView | None = None,
) -> list[Release]:
    """Return the releases ``requirement`` admits that have a file the target can install.

    Newest first, by the same rules as ``resolve`` (prereleases, yanked files, file-level
    Requires-Python); no metadata is read, so a release whose metadata alone excludes the
    target's Python is still listed. With ``yanked``, releases whose files are all yanked are
    listed too. Returns ``[]`` when the requirement's marker is false.
    """
    provider = Provider(target, repository, prereleases=prereleases, sdists=sdists, view=view)
    if not provider.applies(requirement.marker):
        return []
    releases = provider.releases(canonicalize_name(requirement.name)) or ()
    return admitted(releases, requirement.specifier, prereleases=prereleases, yanked=yanked)


def _resolution(
    target: str,
    mapping: Mapping[str, Candidate],
    criteria: Mapping[str, Criterion[ResolverRequirement, Candidate]],
    provider: Provider,
) -> Resolution:
    extras: dict[NormalizedName, set[NormalizedName]] = {}
    valid_extras: dict[str, frozenset[NormalizedName]] = {}
    edges: dict[str, tuple[tuple[str | None, str | None], ...]] = {}
    links: dict[str, tuple[tuple[str | None, ResolverRequirement], ...]] = {}
    for identifier, candidate in mapping.items():
        if isinstance(candidate, ExtrasCandidate):
            metadata = provider.metadata(candidate.base)
            assert isinstance(metadata, DistMetadata)  # noqa: S101 - pinned, so it was usable
            valid = valid_extras[identifier] = provider.valid_extras(candidate, metadata)
            extras.setdefault(candidate.base.name, set()).update(valid)
        information = criteria[identifier].information if identifier in criteria else ()
        found: dict[tuple[str | None, str | None], None] = {}
        required: dict[tuple[str | None, ResolverRequirement], None] = {}
        for requirement, parent in information:
            if parent is not None and mapping.get(parent.identifier) != parent:
                continue  # left over from a release the resolver moved away from
            text = None if isinstance(requirement, BaseRequirement) else str(requirement)
            by = None if parent is None else parent.identifier
            found[(by, text)] = None
            required[(by, requirement)] = None
        edges[identifier] = tuple(found)
        links[identifier] = tuple(required)
    pins: dict[NormalizedName, Pin] = {}
    for candidate in sorted(mapping.values(), key=lambda c: c.identifier):
        if isinstance(candidate, ReleaseCandidate):
            metadata = provider.metadata(candidate)
            assert isinstance(metadata, DistMetadata)  # noqa: S101 - pinned, so it was usable
            pins[candidate.name] = Pin(
                name=candidate.name,
                version=candidate.version,
                extras=frozenset(extras.get(candidate.name, ())),
                files=candidate.files,
                needs_build=candidate.needs_build,
                metadata=metadata,
            )
    return Resolution(
        target=target,
        pins=MappingProxyType(pins),
        edges=MappingProxyType(edges),
        notes=tuple(provider.notes),
        graph=ResolutionGraph(
            chosen=MappingProxyType(dict(mapping)),
            links=MappingProxyType(links),
            extras=MappingProxyType(valid_extras),
        ),
    )
