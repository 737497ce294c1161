"""What a plan says a run will mirror (``MirrorPlan``), and how much of it the mirror already
holds (``Novelty``): the values ``cellar.sync.plan`` makes and the engine and reports read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName

from cellar.model import DistFile, ProjectPage
from cellar.policy.gate import PolicyGate
from cellar.sync.errors import UnsafePathError
from cellar.sync.memo import published_key

if TYPE_CHECKING:
    from cellar.select.outcome import ClosurePlan, PlanProblem


@dataclass(frozen=True, slots=True)
class MirrorPlan:
    """What a run will mirror: per project its upstream page and chosen files; and the failures."""

    closure: ClosurePlan
    pages: Mapping[NormalizedName, ProjectPage]
    refused: Mapping[NormalizedName, tuple[UnsafePathError, ...]] = field(default_factory=dict)
    #: What planning cost: wall time, and HTTP requests to the upstream (uv's own not counted).
    seconds: float = 0.0
    requests: int = 0
    #: Projects whose last plan still holds (``cellar.sync.reuse``), unplanned: name to the
    #: published key their pages are at. Nothing of them is in ``closure`` or ``pages``.
    kept: Mapping[NormalizedName, str] = field(default_factory=dict)
    #: Every project page the plan read, found or not.
    consulted: tuple[NormalizedName, ...] = ()
    #: The warnings the plan logged (each once, with the targets it holds on).
    warnings: tuple[str, ...] = ()
    #: The policy's decisions on the pages the plan read (None: no policy, or nothing planned).
    gate: PolicyGate | None = None

    def files(self, name: NormalizedName) -> tuple[DistFile, ...]:
        """Return the files planned for project ``name``, in page order."""
        chosen = self.closure.files.get(name, {})
        page = self.pages.get(name)
        if page is None:
            return tuple(chosen.values())
        return tuple(file for file in page.files if file.filename in chosen)

    @property
    def projects(self) -> tuple[NormalizedName, ...]:
        """Every planned project, kept ones included, sorted."""
        return tuple(sorted({*self.closure.files, *self.kept}))

    def published_key(self, name: NormalizedName, *, layout: str) -> str:
        """Return the key of what project ``name``'s pages list once its files are in place."""
        if name in self.kept:
            return self.kept[name]
        return published_key(name, self.pages[name], self.files(name), layout=layout)

    @property
    def failures(self) -> tuple[PlanProblem, ...]:
        """Every resolution that failed, on every target."""
        return self.closure.failures


@dataclass(frozen=True, slots=True)
class Novelty:
    """How much of a plan the mirror on disk already holds."""

    files: int
    bytes: int
    new_files: int
    new_bytes: int
