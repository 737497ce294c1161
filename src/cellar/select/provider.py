"""The resolvelib provider: Python packaging rules for one target, over an abstract repository.

It follows pip's provider and factory (``pip._internal.resolution.resolvelib``): candidates are
the releases that have a file the target can install, newest first; prereleases and yanked files
are admitted by pip's rules; a release whose metadata Requires-Python excludes the target is
passed over. Metadata is read only when the resolver reaches a candidate, once per release.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.markers import Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider

from cellar.select.candidates import (
    BaseRequirement,
    Candidate,
    ExtrasCandidate,
    NamedRequirement,
    ReleaseCandidate,
    ResolverRequirement,
    split_identifier,
)
from cellar.select.metadata import DistMetadata
from cellar.select.releases import (
    Rejection,
    Release,
    Repository,
    SdistPolicy,
    Target,
    TargetView,
    admitted,
)

if TYPE_CHECKING:
    from resolvelib.providers import Preference
    from resolvelib.structs import Matches, RequirementInformation

    Information = RequirementInformation[ResolverRequirement, Candidate]

#: pip promotes a project that keeps turning up unpinned in conflicts after this many times.
_CONFLICT_PROMOTION = 5


class Provider(AbstractProvider[ResolverRequirement, Candidate, str]):
    """Answers resolvelib's questions for one target; holds the caches of one resolve call."""

    def __init__(
        self,
        target: Target,
        repository: Repository,
        *,
        prereleases: bool,
        sdists: SdistPolicy,
        dependencies: bool = True,
        view: TargetView | None = None,
    ) -> None:
        """``view`` shares what was read of the repository with other resolutions for the
        same target, repository and sdist policy (a new one by default)."""
        self.target = target
        self.prereleases = prereleases
        self.sdists: SdistPolicy = sdists
        self.dependencies = dependencies
        #: Version limits by project (``-c`` constraints); they add no project themselves.
        self.constraints: dict[NormalizedName, SpecifierSet] = {}
        #: The position of each root requirement's identifier, for ``get_preference``.
        self.requested: dict[str, int] = {}
        self.view = view if view is not None else TargetView(target, repository, sdists)
        self._environment = dict(target.markers())
        self._dependencies: dict[Candidate, list[ResolverRequirement]] = {}
        self._satisfied: dict[tuple[str, Version], bool] = {}
        self._conflicts: defaultdict[str, int] = defaultdict(int)
        self._promoted: set[str] = set()
        self.notes: dict[str, None] = {}

    # -- the repository, as this target sees it ---------------------------------------------

    def releases(self, name: NormalizedName) -> tuple[Release, ...] | None:
        """Return the project's releases for the target, or ``None`` if the index has none."""
        return self.view.releases(name)

    def metadata(self, candidate: ReleaseCandidate) -> DistMetadata | Rejection:
        """Return the release's metadata, or why it cannot be used here; read once per release."""
        found = self.view.metadata(candidate.name, candidate.version, candidate.files)
        if isinstance(found, Rejection) and found.kind == "unusable-metadata":
            self.note(f"skipped {candidate}: unusable metadata ({found.detail})")
        return found

    # -- rules ------------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """Record something the caller should show, once."""
        self.notes[text] = None

    def applies(self, marker: Marker | None, extra: str = "") -> bool:
        """Whether ``marker`` holds for the target with ``extra`` requested (``""``: none)."""
        if marker is None:
            return True
        try:
            return marker.evaluate(self._environment | {"extra": extra})
        except (UndefinedComparison, UndefinedEnvironmentName) as error:
            self.note(f"ignored a requirement whose marker {marker} cannot be evaluated: {error}")
            return False

    def matching_releases(self, name: NormalizedName, specifier: SpecifierSet) -> list[Release]:
        """Return the project's releases ``specifier`` admits by pip's rules, newest first."""
        return admitted(self.releases(name) or (), specifier, prereleases=self.prereleases)

    def usable(self, candidate: Candidate) -> bool:
        """Whether the candidate's metadata was readable and its Requires-Python fits."""
        base = candidate.base if isinstance(candidate, ExtrasCandidate) else candidate
        return not isinstance(self.metadata(base), Rejection)

    # -- resolvelib -------------------------------------------------------------------------

    def identify(self, requirement_or_candidate: ResolverRequirement | Candidate) -> str:
        """Return the key of a requirement or candidate: ``name`` or ``name[extras]``."""
        return requirement_or_candidate.identifier

    def narrow_requirement_selection(
        self,
        identifiers: Iterable[str],
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[Information]],
        backtrack_causes: Sequence[Information],
    ) -> Iterable[str]:
        """Work on the latest conflict's projects first, then on often-conflicting ones (pip)."""
        causes: set[str] = set()
        for info in backtrack_causes:
            names = [info.requirement.identifier]
            if info.parent is not None:
                names.append(info.parent.identifier)
            for name in names:
                causes.add(name)
                if name not in resolutions:
                    self._conflicts[name] += 1
                    if self._conflicts[name] >= _CONFLICT_PROMOTION:
                        self._promoted.add(name)
        identifiers = list(identifiers)
        in_causes = [i for i in identifiers if i in causes]
        promoted = [i for i in identifiers if i in self._promoted]
        return in_causes or promoted or identifiers

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterable[Information]],
        backtrack_causes: Sequence[Information],
    ) -> Preference:
        """Return pip's sort key: exact base pins, ``==`` pins, upper bounds, the order the
        user wrote, any specifier at all, then the name."""
        requirements = [info.requirement for info in information[identifier]]
        operators = [
            (spec.operator, spec.version)
            for r in requirements
            if isinstance(r, NamedRequirement)
            for spec in r.specifier
        ]
        pinned = any(op[:2] == "==" and "*" not in version for op, version in operators)
        upper = any(op in ("<", "<=", "~=") or (op == "==" and "*" in v) for op, v in operators)
        return (
            identifier not in self._promoted,
            not any(isinstance(r, BaseRequirement) for r in requirements),
            not pinned,
            not upper,
            self.requested.get(identifier, math.inf),
            not operators,
            identifier,
        )

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[ResolverRequirement]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Matches[Candidate]:
        """Return the candidates for ``identifier`` that satisfy every requirement on it."""
        name, extras = split_identifier(identifier)
        own = list(requirements.get(identifier, ()))
        every = own + list(requirements.get(name, ())) if extras else own
        excluded = set(incompatibilities.get(identifier, ()))
        constraint = self.constraints.get(name, SpecifierSet())

        def wrap(base: ReleaseCandidate) -> Candidate:
            return ExtrasCandidate(base, extras) if extras else base

        exact = [r.candidate for r in every if isinstance(r, BaseRequirement)]
        if exact:  # an extras candidate fixed the release: only it can do (pip's explicit path)
            found = [wrap(base) for base in dict.fromkeys(exact)]
            return [
                c
                for c in found
                if c not in excluded
                and constraint.contains(c.version, prereleases=True)
                and all(self.is_satisfied_by(r, c) for r in own)
                and self.usable(c)
            ]
        specifier = constraint
        for requirement in every:
            if isinstance(requirement, NamedRequirement):
                specifier &= requirement.specifier
        releases = self.matching_releases(name, specifier)

        def candidates() -> Iterator[Candidate]:
            for release in releases:
                found = wrap(ReleaseCandidate(name, release.version, release.files(self.sdists)))
                if found not in excluded and self.usable(found):
                    yield found

        produce: Callable[[], Iterator[Candidate]] = candidates
        return produce

    def is_satisfied_by(self, requirement: ResolverRequirement, candidate: Candidate) -> bool:
        """Whether ``candidate`` fits ``requirement`` (prereleases already filtered, as in pip)."""
        if isinstance(requirement, BaseRequirement):
            return candidate == requirement.candidate
        # resolvelib asks again for every pin on every round; pip caches the answers too.
        key = (requirement.text, candidate.version)
        found = self._satisfied.get(key)
        if found is None:
            found = self._satisfied[key] = requirement.specifier.contains(
                candidate.version, prereleases=True
            )
        return found

    def get_dependencies(self, candidate: Candidate) -> Iterable[ResolverRequirement]:
        """Return what ``candidate`` requires on this target (computed once per candidate)."""
        if candidate not in self._dependencies:
            self._dependencies[candidate] = self._compute_dependencies(candidate)
        return self._dependencies[candidate]

    def _compute_dependencies(self, candidate: Candidate) -> list[ResolverRequirement]:
        base = candidate.base if isinstance(candidate, ExtrasCandidate) else candidate
        metadata = self.metadata(base)
        if isinstance(metadata, Rejection):
            return []
        if isinstance(candidate, ReleaseCandidate):
            if not self.dependencies:
                return []
            return [self.requirement(r) for r in metadata.requires_dist if self.applies(r.marker)]
        dependencies: list[ResolverRequirement] = [BaseRequirement(base)]
        if not self.dependencies:
            return dependencies
        valid = self.valid_extras(candidate, metadata)
        for requirement in metadata.requires_dist:
            if requirement.marker is None or self.applies(requirement.marker):
                continue  # the base release has it already
            if any(self.applies(requirement.marker, extra) for extra in sorted(valid)):
                dependencies.append(self.requirement(requirement))
        return dependencies

    def valid_extras(
        self, candidate: ExtrasCandidate, metadata: DistMetadata
    ) -> frozenset[NormalizedName]:
        """Return the requested extras the release provides, noting the others as pip warns.

        An extra missing from Provides-Extra that Requires-Dist markers still use counts: pip
        ignores it, uv follows it, and a mirror must serve both, so it follows it too.
        """
        provided = {canonicalize_name(e) for e in metadata.provides_extra}
        valid = set(candidate.extras & provided)
        for extra in sorted(candidate.extras - provided):
            if any(
                r.marker is not None
                and self.applies(r.marker, extra)
                and not self.applies(r.marker)
                for r in metadata.requires_dist
            ):
                valid.add(extra)
                self.note(
                    f"{candidate.base} uses the extra '{extra}' without declaring it "
                    "(Provides-Extra); its requirements are followed, as uv does"
                )
            else:
                self.note(f"{candidate.base} does not provide the extra '{extra}'")
        return frozenset(valid)

    def requirement(self, requirement: Requirement) -> NamedRequirement:
        """Return the resolver's form of a PEP 508 requirement, noting a URL it leaves aside."""
        if requirement.url:
            self.note(f"{requirement.name} @ {requirement.url}: resolved by name from the index")
        return NamedRequirement.from_requirement(requirement)
