"""Why a resolution failed: the data (``UnsatisfiedRequirement``) and the sentence a person reads.

resolvelib reports the requirements that could not be met together (``ResolutionImpossible``
causes); this module looks at each against the repository, as the provider saw it, and says why:
no such project, no version matches, the matching versions require another Python, are all
yanked, have no file for the target, or fit on their own but conflict with another requirement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from cellar.errors import CellarError
from cellar.select.candidates import NamedRequirement, ResolverRequirement
from cellar.select.provider import Provider
from cellar.select.releases import Release

Reason = Literal[
    "no-project",
    "no-version",
    "requires-python",
    "yanked",
    "no-file",
    "unusable-metadata",
    "refused",
    "conflict",
    "too-deep",
]

#: How many causes ``str(ResolutionFailed)`` spells out; the rest are counted.
_SHOWN = 5


@dataclass(frozen=True, slots=True)
class UnsatisfiedRequirement:
    """One requirement that could not be met, who asked for it, and why nothing fit.

    ``required_by`` runs from the release that declared the requirement to the root requirement
    that pulled that release in, e.g. ``("pandas 2.2.3", "pandas")``; it is empty for a root
    requirement. ``detail`` is the explanation in words.
    """

    requirement: str
    required_by: tuple[str, ...]
    reason: Reason
    detail: str
    project: NormalizedName

    def describe(self) -> str:
        """Return the requirement with its chain, e.g. ``numpy>=2.1 (required by pandas 2.2.3)``."""
        if not self.required_by:
            return self.requirement
        return f"{self.requirement} (required by {' <- '.join(self.required_by)})"


class ResolutionFailed(CellarError):
    """No set of releases satisfies the requirements on ``target``; ``causes`` say which and why."""

    def __init__(
        self, target: str, causes: Sequence[UnsatisfiedRequirement], detail: str | None = None
    ) -> None:
        self.target = target
        self.causes = tuple(causes)
        sentences = _sentences(self.causes) or [detail or "the requirements cannot be resolved"]
        shown = "; ".join(sentences[:_SHOWN])
        if len(sentences) > _SHOWN:
            shown += f"; and {len(sentences) - _SHOWN} more"
        super().__init__(f"for {target}: {shown}")


def _sentences(causes: Sequence[UnsatisfiedRequirement]) -> list[str]:
    sentences: list[str] = []
    conflicts: dict[NormalizedName, list[UnsatisfiedRequirement]] = {}
    for cause in causes:
        if cause.reason == "conflict":
            conflicts.setdefault(cause.project, []).append(cause)
        else:
            sentences.append(f"{cause.describe()} cannot be satisfied: {cause.detail}")
    for project, group in conflicts.items():
        if len(group) == 1:
            sentences.append(f"{group[0].describe()} cannot be satisfied: {group[0].detail}")
            continue
        names = [c.describe() for c in group]
        if len(names) > _SHOWN:
            names[_SHOWN - 1 :] = [f"{len(names) - _SHOWN + 1} other requirements"]
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        every = "both" if len(group) == 2 else "all of them"
        sentences.append(f"{listed} conflict: no version of {project} satisfies {every}")
    return sentences


def diagnose(
    causes: Sequence[tuple[ResolverRequirement, tuple[str, ...]]], provider: Provider
) -> list[UnsatisfiedRequirement]:
    """Return an ``UnsatisfiedRequirement`` for each (requirement, chain) resolvelib gave up on.

    Only what the provider already read is consulted: no page or metadata is fetched here.
    """
    found: list[UnsatisfiedRequirement] = []
    for requirement, chain in causes:
        if isinstance(requirement, NamedRequirement):
            reason, detail = _why_nothing_fits(requirement, provider)
            name = requirement.name
        else:
            reason, detail, name = "conflict", "", requirement.candidate.name
        found.append(UnsatisfiedRequirement(str(requirement), chain, reason, detail, name))
    return _explain_conflicts(found)


def _explain_conflicts(found: list[UnsatisfiedRequirement]) -> list[UnsatisfiedRequirement]:
    """Name, for each requirement that fits alone, the others on its project it collides with.

    A project with a requirement no version fits at all is explained by that one alone.
    """
    hopeless = {c.project for c in found if c.reason != "conflict"}
    explained: list[UnsatisfiedRequirement] = []
    for cause in found:
        if cause.reason != "conflict":
            explained.append(cause)
        elif cause.project not in hopeless:
            others = [o.describe() for o in found if o.project == cause.project and o != cause]
            detail = (
                f"it conflicts with {', '.join(others)}"
                if others
                else "versions match, but none of them fits with the other requirements"
            )
            explained.append(
                UnsatisfiedRequirement(
                    cause.requirement, cause.required_by, "conflict", detail, cause.project
                )
            )
    return explained


def _why_nothing_fits(requirement: NamedRequirement, provider: Provider) -> tuple[Reason, str]:
    name = requirement.name
    releases = provider.releases(name)
    if not releases:
        excluded = provider.view.excluded.get(name)
        if excluded is not None:
            return "no-project", f"{name} is left out: {excluded}"
        return "no-project", f"the index has no project named {name!r} (or no files for it)"
    constraint = provider.constraints.get(name)
    specifier = requirement.specifier & (constraint or SpecifierSet())
    constrained = f" (with the constraint {name}{constraint})" if constraint else ""
    by_version = {r.version: r for r in releases}
    allowed = set(
        specifier.filter(list(by_version), prereleases=True if provider.prereleases else None)
    )
    usable = provider.matching_releases(name, specifier)
    matched = sorted(allowed | {r.version for r in usable})
    refused = _refused(provider, name, specifier)
    if not matched and refused:
        return "refused", refused + constrained
    if not matched:
        return "no-version", f"no version matches{constrained}; {_versions(sorted(by_version))}"
    groups: dict[tuple[Reason, str], list[Version]] = {}
    for version in matched:
        groups.setdefault(_status(by_version[version], usable, provider, name), []).append(version)
    if ("conflict", "") in groups:
        return "conflict", ""
    parts = [_explain(reason, text, versions) for (reason, text), versions in groups.items()]
    newest = _status(by_version[matched[-1]], usable, provider, name)[0]
    return newest, "; ".join([*parts, *([refused] if refused else [])]) + constrained


def _refused(provider: Provider, name: NormalizedName, specifier: SpecifierSet) -> str:
    """The versions matching ``specifier`` that a policy kept off the page, and why (the
    newest few), or an empty string."""
    found: list[tuple[Version, str]] = []
    for text, why in provider.view.repository.policy_refused(name).items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if specifier.contains(version, prereleases=True):
            found.append((version, why))
    if not found:
        return ""
    found.sort(reverse=True)
    if len(found) == 1:
        return f"the policy refuses {_span([found[0][0]])} ({found[0][1]})"
    said = "; ".join(f"{version}: {why}" for version, why in found[:3])
    more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
    return f"the policy refuses {_span(sorted(v for v, _ in found))} ({said}{more})"


def _status(
    release: Release, usable: list[Release], provider: Provider, name: NormalizedName
) -> tuple[Reason, str]:
    if release in usable:
        rejection = provider.view.known_rejection(name, release.version)
        return (rejection.kind, rejection.detail) if rejection else ("conflict", "")
    if release.only_yanked:
        return "yanked", ""
    if release.python_excluded:
        return "requires-python", " or ".join(release.python_excluded)
    return "no-file", "sdist" if release.sdists_refused else ""


def _explain(reason: Reason, text: str, versions: list[Version]) -> str:
    one = len(versions) == 1
    span = _span(versions)
    phrases: dict[str, Callable[[], str]] = {
        "requires-python": lambda: (
            f"{span} {'exists' if one else 'exist'} but {'requires' if one else 'require'} "
            f"Python {text}"
        ),
        "yanked": lambda: (
            f"{span} {'is' if one else 'are'} yanked (pin an exact version with == to use one)"
        ),
        "unusable-metadata": lambda: f"{span} {'has' if one else 'have'} unusable metadata",
        "refused": lambda: f"the policy refuses {span}: {text}",
        "no-file": lambda: (
            f"{span} {'has' if one else 'have'} no file this target can install"
            + (" (no wheel fits, and sdists are turned off)" if text == "sdist" else "")
        ),
    }
    return phrases[reason]()


def _span(versions: list[Version]) -> str:
    if len(versions) == 1:
        return f"version {versions[0]}"
    joiner = " and " if len(versions) == 2 else " to "
    return f"versions {versions[0]}{joiner}{versions[-1]}"


def _versions(versions: list[Version]) -> str:
    if not versions:
        return "the index lists no version of it"
    return f"the index has {_span(versions)}"
