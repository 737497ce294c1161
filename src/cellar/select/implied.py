"""Resolutions a wider one already answers: ``root==v`` alone, read off ``roots`` together (pure).

The closure resolves every target's requirements together and then each kept release of each
alone (``cellar.select.closure``). Alone, the resolver reaches only what ``root==v`` pulls in.
When the resolution together pinned ``root`` at ``v``, and every project that ``root`` reaches
in it is pinned at the release a resolver tries *first* for any of the requirements the
reached releases place on it, the resolution alone never meets a conflict and never
backtracks: it pins each project it reaches at that same first release, so its answer is the
wider one's pins restricted to what ``root`` reaches. ``implied`` checks exactly that, and
returns ``None`` (resolve it) whenever it cannot tell.

The first release tried is the newest one the requirements admit by pip's rules
(``cellar.select.releases.admitted``) whose metadata is usable. A newer release ``r`` than the
pin ``p`` is never tried first when:

- the target can install no file of ``r``, or every file of it is yanked (``p`` is installable,
  so a yanked release is never admitted beside it);
- ``r``'s metadata was read and refused for this target (the same ``TargetView``);
- the constraints exclude ``r``;
- ``r`` is a prerelease, prereleases are off, no requirement on the project names a
  prerelease, and ``p`` is final (pip then admits no prerelease);
- every one of the requirements on the project excludes ``r`` on its own: whichever of them
  the resolver holds when it picks the project, ``r`` is out.

A pin that is itself a prerelease while prereleases are off, or that only yanked files make,
is never taken as implied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from cellar.select.candidates import (
    Candidate,
    NamedRequirement,
    ResolverRequirement,
    split_identifier,
)
from cellar.select.releases import Release, TargetView


@dataclass(frozen=True, slots=True)
class ResolutionGraph:
    """How a resolution's pins hang together, for ``implied``.

    ``chosen``: each identifier's pinned candidate. ``links``: for each identifier, who
    required it (parent identifier, ``None`` for a root) and with what requirement, from the
    final pins only. ``extras``: for each ``name[extras]`` identifier, the extras the release
    provides (as ``Pin.extras`` counts them).
    """

    chosen: Mapping[str, Candidate]
    links: Mapping[str, tuple[tuple[str | None, ResolverRequirement], ...]]
    extras: Mapping[str, frozenset[NormalizedName]]


@dataclass(frozen=True, slots=True)
class Subgraph:
    """What one root reaches in a resolution: the identifiers, and each one's links."""

    reached: tuple[str, ...]
    links: Mapping[str, tuple[tuple[str | None, ResolverRequirement], ...]]


def reached_from(graph: ResolutionGraph, root: str) -> Subgraph | None:
    """Return what ``root`` pulls in of ``graph``, or ``None`` if ``graph`` did not pin it."""
    if root not in graph.chosen:
        return None
    children: dict[str, list[str]] = {}
    for identifier, required in graph.links.items():
        for parent, _ in required:
            if parent is not None:
                children.setdefault(parent, []).append(identifier)
    reached = {root: None}
    queue = deque([root])
    while queue:
        for child in children.get(queue.popleft(), ()):
            if child not in reached:
                reached[child] = None
                queue.append(child)
    links = {
        identifier: tuple(
            (parent, requirement)
            for parent, requirement in graph.links.get(identifier, ())
            if parent is not None and parent in reached
        )
        for identifier in reached
    }
    return Subgraph(tuple(reached), links)


def first_choice_is_pin(
    releases: Iterable[Release],
    pin: Version,
    requirements: Iterable[SpecifierSet],
    *,
    view: TargetView,
    name: NormalizedName,
    prereleases: bool,
    constraint: SpecifierSet,
) -> bool:
    """Whether a resolver holding any non-empty subset of ``requirements`` (and the
    constraint) on project ``name`` tries release ``pin`` first (see the module's rules)."""
    specifiers = list(requirements)
    names_prerelease = any(s.prereleases for s in (*specifiers, constraint))
    for release in releases:  # newest first
        if release.version == pin:
            return release.installable and (prereleases or not pin.is_prerelease)
        if release.version < pin:
            return False  # the pin's release is not among them
        if not release.installable:
            continue
        version = release.version
        if view.known_rejection(name, version) is not None:
            continue
        if not constraint.contains(version, prereleases=True):
            continue
        if version.is_prerelease and not prereleases and not names_prerelease:
            continue  # the pin must be final (below): pip admits no prerelease beside it
        if specifiers and all(not s.contains(version, prereleases=True) for s in specifiers):
            continue
        return False
    return False


def implied_pins(
    graph: ResolutionGraph,
    root: str,
    requirement: Requirement,
    view: TargetView,
    *,
    prereleases: bool,
    constraints: Mapping[NormalizedName, SpecifierSet],
) -> Subgraph | None:
    """Return what resolving ``requirement`` (``root``'s identifier, pinned ``==v``) alone
    would pin, as a part of ``graph``; ``None`` when the resolution alone must be run."""
    chosen = graph.chosen.get(root)
    pin = list(requirement.specifier)
    if chosen is None or len(pin) != 1 or pin[0].operator != "==":
        return None
    if pin[0].version != str(chosen.version):
        return None  # also ``==1.*``, and ``==1.0``, which a ``1.0+local`` release matches
    part = reached_from(graph, root)
    if part is None:
        return None
    for identifier in part.reached:
        if identifier == root:
            continue  # ``==v`` admits the pin alone
        name, extras = split_identifier(identifier)
        on_it = [r for _, r in part.links[identifier]]
        if extras:
            on_it += [r for _, r in part.links.get(name, ())]
        specifiers = [r.specifier for r in on_it if isinstance(r, NamedRequirement)]
        if not specifiers:
            # Only ``name[extras]`` pinned in the part require it, at their own release: the
            # resolver reaches it once one of them is pinned, and takes that release.
            continue
        if not first_choice_is_pin(
            view.releases(name) or (),
            graph.chosen[identifier].version,
            specifiers,
            view=view,
            name=name,
            prereleases=prereleases,
            constraint=constraints.get(name, SpecifierSet()),
        ):
            return None
    return part


def frozen_links(
    part: Subgraph, root: str, requirement: ResolverRequirement
) -> Mapping[str, tuple[tuple[str | None, str | None], ...]]:
    """Return the edges of a resolution alone (``Resolution.edges``): the part's links as
    text, with ``requirement`` as the one root."""
    edges: dict[str, tuple[tuple[str | None, str | None], ...]] = {}
    for identifier in part.reached:
        found: dict[tuple[str | None, str | None], None] = {}
        if identifier == root:
            found[(None, str(requirement))] = None
        for parent, required in part.links[identifier]:
            text = str(required) if isinstance(required, NamedRequirement) else None
            found[(parent, text)] = None
        edges[identifier] = tuple(found)
    return MappingProxyType(edges)
