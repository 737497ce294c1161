"""The dependency closure: what to mirror so that every requirement installs on every target.

For each target this resolves, as an installer would: all requirements together, each
requirement alone, and each kept version of each requirement pinned; each set installed apart
(a project's build requirements, a dependency group, a lock's pins) together on its own; and
for every release that only an sdist can install, its build requirements. The union of the files
those resolutions pin is the plan. Resolution itself is ``cellar.select.resolve``; this module
only decides what to resolve and collects the results (pure, synchronous; the repository does
any I/O).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from cellar.errors import CellarError
from cellar.model import DistFile
from cellar.select.outcome import PlanProblem, TargetPlan
from cellar.select.releases import (
    ProjectExcluded,
    Rejection,
    Release,
    ReleaseRefused,
    TargetView,
    any_file_version,
    file_version,
    find_releases,
    is_pinned,
)
from cellar.select.resolve import (
    Repository,
    Resolution,
    SdistPolicy,
    Target,
    installable_releases,
    resolve,
)
from cellar.select.sources import RequirementSet

#: How deep build requirements of build requirements are followed before giving up.
MAX_BUILD_DEPTH = 4


@dataclass(frozen=True, slots=True)
class ClosureSettings:
    """How much to mirror: dependencies or not, how many versions, prereleases, sdists."""

    dependencies: bool = True
    versions: int = 1
    prereleases: bool = False
    sdists: SdistPolicy = "needed"
    constraints: tuple[Requirement, ...] = ()
    #: Read the metadata of each release kept or pinned by another resolver, not only of
    #: those resolved or built: a policy may refuse a release for what it says
    #: (``ReleaseRefused``), and a refused one is never kept.
    judge_metadata: bool = False


@dataclass(frozen=True, slots=True)
class EveryTarget:
    """Every Python and platform at once: a plan for it keeps every file of the chosen
    releases, whatever it installs on, and resolves nothing (``dependencies`` must be off)."""

    name: str = "every target"


class NoReleaseError(CellarError):
    """No release of a requirement's project is left to mirror; ``reason`` says why."""

    def __init__(self, requirement: str, reason: str) -> None:
        super().__init__(f"nothing to mirror for {requirement}: {reason}")
        self.requirement = requirement
        self.reason = reason


def plan_target(
    requirements: Sequence[Requirement],
    target: Target | EveryTarget,
    repository: Repository,
    settings: ClosureSettings,
    sets: Sequence[RequirementSet] = (),
) -> TargetPlan:
    """Resolve everything one target needs and return its plan (safe to run in a thread).

    ``requirements`` are resolved together and each alone; each of ``sets`` together, apart
    from them, and its members alone as its ``alone`` says. For ``EveryTarget`` the plan takes
    the chosen releases' files as they are (markers and Requires-Python play no part).
    """
    if isinstance(target, EveryTarget):
        every = [*requirements, *(r for group in sets for r in group.requirements)]
        return _every_file(list(dict.fromkeys(every)), target.name, repository, settings)
    result = TargetPlan(target.name)
    # One view of the repository for every resolution of this target: each project's releases
    # are read from its files once, not once per resolution.
    view = TargetView(target, repository, settings.sdists)
    together, alone = _what_to_resolve(
        requirements, sets, target=target, repository=repository, settings=settings, result=result
    )
    sets_to_resolve: list[list[Requirement]] = []
    for requirement in alone:
        try:
            kept = _kept_releases(requirement, view, settings)
        except CellarError as error:
            # The upstream failed to answer for this project's page.
            result.failures.append(PlanProblem(target.name, (str(requirement),), error))
            continue
        if not kept or settings.dependencies:
            # Resolving also explains, when nothing fits, why not.
            sets_to_resolve.extend([_pinned(requirement, release.version)] for release in kept)
            sets_to_resolve.extend([[requirement]] if not kept else [])
        else:
            releases = result.direct.setdefault(canonicalize_name(requirement.name), {})
            releases.update((release.version, release.files(settings.sdists)) for release in kept)
    seen: set[tuple[str, ...]] = set()
    wider: list[Resolution] = []
    for members, report in together:
        seen.add(tuple(sorted(str(r) for r in members)))
        resolved = _resolve_into(members, view, settings, result, depth=0, report=report)
        if resolved is None:
            # A lock's pins that do not resolve as one set (a universal lock may hold two
            # versions of a project for conflicting extras): each pin is taken alone instead.
            sets_to_resolve.extend([r] for r in members)
        else:
            wider.append(resolved)
    for requirement_set in sets_to_resolve:
        key = tuple(sorted(str(r) for r in requirement_set))
        if key in seen:
            continue
        seen.add(key)
        if len(requirement_set) == 1 and _read_off(
            requirement_set[0], wider, view, settings, result
        ):
            continue
        _resolve_into(requirement_set, view, settings, result, depth=0)
    return result


def _read_off(
    requirement: Requirement,
    wider: Sequence[Resolution],
    view: TargetView,
    settings: ClosureSettings,
    result: TargetPlan,
) -> bool:
    """Add to ``result`` the resolution of ``requirement`` alone as read off one of ``wider``
    (``cellar.select.implied``); return whether one of them answered it. Its build
    requirements were resolved with the wider resolution's."""
    for resolution in wider:
        found = resolution.implied(
            requirement, view, prereleases=settings.prereleases, constraints=settings.constraints
        )
        if found is not None:
            result.resolutions.append(found)
            return True
    return False


def take_pins(
    result: TargetPlan,
    pins: Iterable[tuple[NormalizedName, Version]],
    target: Target,
    repository: Repository,
    settings: ClosureSettings,
    *,
    resolver: str,
) -> None:
    """Add to ``result`` the releases another ``resolver`` chose for its target (safe to run
    in a thread): the files the target installs of each, whatever their Requires-Python says
    (uv ignores its upper bounds, where pip does not), and the build requirements of those
    only an sdist installs. A pin that cannot be taken becomes a note, not a failure: the
    resolutions of ``result`` are whole without it."""
    result.taken_by = resolver
    pinned = result.pins()
    for name, version in sorted(pins):
        if version in pinned.get(name, ()):
            continue  # pip chose it too: its files are planned
        if str(version) in repository.policy_refused(name):
            continue  # the policy's refusals are reported on their own
        try:
            files = repository.project_files(name)
        except ProjectExcluded as error:
            result.notes.append(f"{resolver} pins {name} {version}, which {error.reason}")
            continue
        except (LookupError, CellarError) as error:
            result.notes.append(f"{resolver} pins {name} {version}: {error}")
            continue
        releases = find_releases(name, files, target, settings.sdists, requires_python=False)
        release = next((r for r in releases if r.version == version), None)
        chosen = release.files(settings.sdists) if release is not None else ()
        if release is None or not chosen:
            why = (
                "the page (as filtered) lists no file of it" if release is None else "no file fits"
            )
            result.notes.append(f"{resolver} pins {name} {version}, but {why} on {target.name}")
            continue
        if settings.judge_metadata:
            try:
                repository.metadata(name, version, chosen)
            except ReleaseRefused:
                continue  # the policy's refusals are reported on their own
            except CellarError:
                pass  # taken as before: its files are planned, its metadata is not needed
        result.taken.setdefault(name, {})[version] = chosen
        needs_build = not (release.wheels or release.yanked_wheels)
        if needs_build and settings.dependencies:
            try:
                build = repository.metadata(name, version, chosen).build_requires
            except CellarError as error:
                result.notes.append(f"{resolver} pins {name} {version}: {error}")
                continue
            if build:
                _resolve_into(
                    build,
                    TargetView(target, repository, settings.sdists),
                    settings,
                    result,
                    depth=1,
                )


def _what_to_resolve(
    requirements: Sequence[Requirement],
    sets: Sequence[RequirementSet],
    *,
    target: Target,
    repository: Repository,
    settings: ClosureSettings,
    result: TargetPlan,
) -> tuple[list[tuple[list[Requirement], bool]], list[Requirement]]:
    """Return the sets to resolve together (each with whether its failure is reported) and
    the requirements to resolve alone, of those that apply to ``target``."""
    environment = target.markers()

    def applicable(listed: Iterable[Requirement]) -> list[Requirement]:
        return [
            r
            for r in listed
            if (r.marker is None or r.marker.evaluate(environment))
            and not _left_out(r, repository, result)
        ]

    roots = applicable(requirements)
    together: list[tuple[list[Requirement], bool]] = []
    if settings.dependencies and len(roots) > 1:
        together.append((roots, True))
    alone = {str(r): r for r in roots}
    for group in sets:
        members = applicable(group.requirements)
        if settings.dependencies and members and (len(members) > 1 or not group.alone):
            together.append((members, group.alone))
        if group.alone or not settings.dependencies:
            alone.update((str(r), r) for r in members)
    return together, list(alone.values())


def _every_file(
    requirements: Sequence[Requirement],
    name: str,
    repository: Repository,
    settings: ClosureSettings,
) -> TargetPlan:
    """Return a plan holding every file of each requirement's newest N allowed releases."""
    result = TargetPlan(name)
    for requirement in requirements:
        project = canonicalize_name(requirement.name)
        if _left_out(requirement, repository, result):
            continue
        try:
            files = repository.project_files(project)
        except LookupError:
            files = ()
        except CellarError as error:
            result.failures.append(PlanProblem(name, (str(requirement),), error))
            continue
        releases: dict[Version, list[DistFile]] = {}
        for file in files:
            version = any_file_version(file.filename, project)
            if version is not None and _wanted(file.filename, project, settings):
                releases.setdefault(version, []).append(file)
        allowed = requirement.specifier.filter(
            sorted(releases, reverse=True), prereleases=True if settings.prereleases else None
        )
        # All versions include yanked ones; else, as pip, only an exact pin picks a yanked one.
        keep_yanked = settings.versions == 0 or is_pinned(requirement.specifier)
        chosen = [v for v in allowed if keep_yanked or not all(f.yanked for f in releases[v])]
        chosen = chosen[: settings.versions] if settings.versions else chosen
        if not chosen:
            reason = "no release matches" if releases else "the index lists no files of it"
            problem = NoReleaseError(str(requirement), reason)
            result.failures.append(PlanProblem(name, (str(requirement),), problem))
            continue
        result.direct[project] = {version: tuple(releases[version]) for version in chosen}
    return result


def _left_out(requirement: Requirement, repository: Repository, result: TargetPlan) -> bool:
    """Whether the filters leave the requirement's project out (noted in ``result``)."""
    name = canonicalize_name(requirement.name)
    try:
        repository.project_files(name)
    except ProjectExcluded as error:
        result.excluded[name] = error.reason
        return True
    except (LookupError, CellarError):
        return False  # reported where the releases are read
    return False


def _wanted(filename: str, project: NormalizedName, settings: ClosureSettings) -> bool:
    """Whether a file is kept when every file of a release is: all but sdists under "none"."""
    parsed = file_version(filename, project)
    return settings.sdists != "none" or parsed is None or parsed[1]


def _kept_releases(
    requirement: Requirement, view: TargetView, settings: ClosureSettings
) -> list[Release]:
    """Return the releases of ``requirement`` to keep: the newest N installable ones."""
    releases = installable_releases(
        requirement,
        view.target,
        view.repository,
        prereleases=settings.prereleases,
        sdists=settings.sdists,
        # "All versions" includes yanked ones, so exact pins in old lock files keep working.
        yanked=settings.versions == 0,
        view=view,
    )
    if settings.judge_metadata:
        releases = _admitted(canonicalize_name(requirement.name), releases, view, settings)
    return releases[: settings.versions] if settings.versions else releases


def _admitted(
    name: NormalizedName, releases: list[Release], view: TargetView, settings: ClosureSettings
) -> list[Release]:
    """The newest ``settings.versions`` (all, for 0) of ``releases`` a policy does not
    refuse, each release's metadata read only until that many are found."""
    found: list[Release] = []
    for release in releases:
        if settings.versions and len(found) == settings.versions:
            break
        if not _refused(view.metadata(name, release.version, release.files(settings.sdists))):
            found.append(release)
    return found


def _refused(metadata: object) -> bool:
    return isinstance(metadata, Rejection) and metadata.kind == "refused"


def _pinned(requirement: Requirement, version: Version) -> Requirement:
    """Return ``requirement`` pinned to ``version``, keeping its extras."""
    name = canonicalize_name(requirement.name)
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return Requirement(f"{name}{extras}=={version}")


def _resolve_into(
    requirements: Sequence[Requirement],
    view: TargetView,
    settings: ClosureSettings,
    result: TargetPlan,
    *,
    depth: int,
    report: bool = True,
) -> Resolution | None:
    """Resolve ``requirements`` (and the build requirements of what only an sdist installs)
    into ``result``; return the resolution, or ``None`` if it failed. A failure is recorded
    in ``result`` unless ``report`` is off."""
    target = view.target
    try:
        resolution = resolve(
            requirements,
            target,
            view.repository,
            prereleases=settings.prereleases,
            sdists=settings.sdists,
            constraints=settings.constraints,
            dependencies=settings.dependencies,
            view=view,
        )
    except CellarError as error:
        # ResolutionFailed, or the upstream failing to answer for a page or metadata file.
        if report:
            problem = PlanProblem(target.name, tuple(str(r) for r in requirements), error)
            result.failures.append(problem)
        return None
    result.resolutions.append(resolution)
    if depth >= MAX_BUILD_DEPTH:
        return resolution
    for pin in resolution.pins.values():
        build = pin.metadata.build_requires
        if pin.needs_build and build:
            # Many sdists share their build requirements: each set is resolved once.
            key = (tuple(sorted(str(r) for r in build)), depth + 1)
            if key not in result.builds:
                result.builds.add(key)
                _resolve_into(build, view, settings, result, depth=depth + 1)
    return resolution
