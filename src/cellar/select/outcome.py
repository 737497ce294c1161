"""What a closure plan holds: per target, the resolutions and failures; over all targets, the
files of each project (pure values, apart from the resolver that makes them, so that a run that
plans nothing need not load it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.errors import CellarError
from cellar.model import DistFile

if TYPE_CHECKING:
    from cellar.select.resolve import Resolution


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """What could not be planned: on which target, resolving which requirements, and why."""

    target: str
    requirements: tuple[str, ...]
    error: CellarError

    @property
    def projects(self) -> tuple[NormalizedName, ...]:
        """The projects of the requirements being resolved."""
        return tuple(canonicalize_name(Requirement(r).name) for r in self.requirements)

    @property
    def blamed(self) -> tuple[NormalizedName, ...]:
        """The projects the failure is about: those whose requirements could not be met when
        the resolver says which (not every root resolved with them), else ``projects``."""
        from cellar.select.failure import ResolutionFailed  # noqa: PLC0415 - see the module

        if isinstance(self.error, ResolutionFailed) and self.error.causes:
            return tuple(sorted({cause.project for cause in self.error.causes}))
        return self.projects

    def __str__(self) -> str:
        text = str(self.error)
        return text if text.startswith("for ") else f"for {self.target}: {text}"


@dataclass(slots=True)
class TargetPlan:
    """What one target needs: its pins (name -> versions) and the resolutions that failed."""

    target: str
    resolutions: list[Resolution] = field(default_factory=list)
    failures: list[PlanProblem] = field(default_factory=list)
    #: Releases taken as they are, without dependencies (``dependencies = false``).
    direct: dict[NormalizedName, dict[Version, tuple[DistFile, ...]]] = field(default_factory=dict)
    #: Requirements whose whole project the filters leave out, and why (not failures).
    excluded: dict[NormalizedName, str] = field(default_factory=dict)
    #: Releases another resolver chose (uv), with the files the target installs of each.
    taken: dict[NormalizedName, dict[Version, tuple[DistFile, ...]]] = field(default_factory=dict)
    #: Who chose ``taken`` (``"uv"``), for ``why``.
    taken_by: str = ""
    #: Warnings to show besides the resolutions' own notes: pins of another resolver that
    #: could not be taken.
    notes: list[str] = field(default_factory=list)
    #: The build requirement sets resolved (with their depth), each once.
    builds: set[tuple[tuple[str, ...], int]] = field(default_factory=set, repr=False)

    def pins(self) -> dict[NormalizedName, set[Version]]:
        """Return every project this target needs, with every version some resolution pinned."""
        pinned: dict[NormalizedName, set[Version]] = {}
        for releases_by_name in (self.direct, self.taken):
            for name, releases in releases_by_name.items():
                pinned.setdefault(name, set()).update(releases)
        for resolution in self.resolutions:
            for name, pin in resolution.pins.items():
                pinned.setdefault(name, set()).add(pin.version)
        return pinned

    def files(self) -> dict[NormalizedName, list[DistFile]]:
        """Return the files this target needs, by project."""
        found: dict[NormalizedName, list[DistFile]] = {}
        for releases_by_name in (self.direct, self.taken):
            for name, releases in releases_by_name.items():
                for files in releases.values():
                    found.setdefault(name, []).extend(files)
        for resolution in self.resolutions:
            for pin in resolution.pins.values():
                found.setdefault(pin.name, []).extend(pin.files)
        return found

    def why(self, name: NormalizedName) -> tuple[tuple[str, ...], ...]:
        """Return each distinct chain of requirements that pulled ``name`` in for this target."""
        chains: dict[tuple[str, ...], None] = {}
        if name in self.direct:
            # Taken as named, without dependencies: the requirement is its own chain.
            chains[(name,)] = None
        for resolution in self.resolutions:
            if name in resolution.pins:
                chains.update(dict.fromkeys(resolution.why(name)))
        if name in self.taken:
            versions = ", ".join(str(v) for v in sorted(self.taken[name]))
            chains[(f"{self.taken_by}'s resolution: {name} {versions}",)] = None
        return tuple(chains)


@dataclass(slots=True)
class ClosurePlan:
    """The union over targets: the files of each project to mirror, and each target's plan."""

    files: dict[NormalizedName, dict[str, DistFile]] = field(default_factory=dict)
    targets: dict[str, TargetPlan] = field(default_factory=dict)

    def add(self, files: Mapping[NormalizedName, Iterable[DistFile]]) -> None:
        """Add ``files`` (by project) to the union."""
        for name, found in files.items():
            chosen = self.files.setdefault(name, {})
            for file in found:
                chosen.setdefault(file.filename, file)

    @property
    def failures(self) -> tuple[PlanProblem, ...]:
        """Every resolution that failed, on every target."""
        return tuple(f for plan in self.targets.values() for f in plan.failures)


def merge_plans(target_plans: Iterable[TargetPlan]) -> ClosurePlan:
    """Return the union of the files each target's resolutions pinned."""
    plan = ClosurePlan()
    for target_plan in target_plans:
        plan.targets[target_plan.target] = target_plan
        plan.add(target_plan.files())
    return plan
