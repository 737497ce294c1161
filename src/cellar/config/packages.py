"""The ``[packages]`` and ``[targets]`` tables: what to mirror, and for which environments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast

from packaging.requirements import InvalidRequirement, Requirement

from cellar.config.checks import ConfigProblem, get_value, make_targets
from cellar.errors import CellarError
from cellar.select.locks import read_pylock, read_uv_lock
from cellar.select.pyproject import read_pyproject
from cellar.select.sources import RequirementSet, read_requirements_file
from cellar.select.targets import TargetEnvironment

PACKAGES_KEYS: Final = frozenset(
    {
        *("requirements", "requirements-files", "pyproject-files", "pylock-files"),
        *("uv-lock-files", "resolvers", "uv-builds"),
        *("dependencies", "versions", "prereleases", "sdists"),
    }
)
TARGETS_KEYS: Final = frozenset({"python", "platforms", "implementation", "all"})

SdistPolicy = Literal["all", "needed", "none"]
SDIST_POLICIES: tuple[SdistPolicy, ...] = ("all", "needed", "none")
#: Whose pins the closure holds: pip's always (Cellar resolves as pip does), uv's on request.
RESOLVERS: Final = ("pip", "uv")


@dataclass(frozen=True, slots=True)
class PackageSettings:
    """The ``[packages]`` table: what to mirror, from all requirement sources together."""

    requirements: tuple[Requirement, ...] = ()
    constraints: tuple[Requirement, ...] = ()
    #: Requirements installed together apart from ``requirements``: a project's build
    #: requirements, its dependency groups, the pins of a lock file.
    sets: tuple[RequirementSet, ...] = ()
    dependencies: bool = True
    versions: int = 1
    prereleases: bool = False
    sdists: SdistPolicy = "needed"
    #: Whose pins the closure holds; ``None``: pip's, and uv's when uv is installed.
    resolvers: tuple[str, ...] | None = None
    #: Let uv build the sdists it must learn the dependencies of while planning.
    uv_builds: bool = False


def packages_table(
    table: Mapping[str, Any], base: Path, problems: list[ConfigProblem]
) -> PackageSettings:
    """Validate ``[packages]`` and read every requirement source it names."""
    requirements = list(
        _parse_requirements(
            get_value(table, "packages", "requirements", list, problems) or [], problems
        )
    )
    constraints: list[Requirement] = []
    sets: list[RequirementSet] = []
    for key, reader in (
        ("requirements-files", _read_requirements_file),
        ("pyproject-files", _read_pyproject),
        ("pylock-files", _read_lock(read_pylock)),
        ("uv-lock-files", _read_lock(read_uv_lock)),
    ):
        for index, path in enumerate(get_value(table, "packages", key, list, problems) or []):
            where = f"[packages] {key}[{index}]"
            if not isinstance(path, str):
                problems.append(ConfigProblem(where, f"must be a path string, not {path!r}"))
                continue
            try:
                found = reader(base / Path(path).expanduser())
            except (CellarError, OSError) as error:
                problems.append(ConfigProblem(where, str(error)))
                continue
            requirements.extend(found.requirements)
            constraints.extend(found.constraints)
            sets.extend(found.sets)
    dependencies = get_value(table, "packages", "dependencies", bool, problems)
    versions = get_value(table, "packages", "versions", int, problems)
    if versions is not None and versions < 0:
        problems.append(
            ConfigProblem("[packages] versions", f"must be 0 (all) or more, not {versions}")
        )
    sdists = get_value(table, "packages", "sdists", str, problems)
    if sdists is not None and sdists not in SDIST_POLICIES:
        problems.append(
            ConfigProblem("[packages] sdists", f'must be "all", "needed" or "none", not {sdists!r}')
        )
    return PackageSettings(
        resolvers=_resolvers(table, problems),
        uv_builds=bool(get_value(table, "packages", "uv-builds", bool, problems)),
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        sets=tuple(sets),
        dependencies=dependencies if dependencies is not None else True,
        versions=versions if versions is not None else 1,
        prereleases=bool(get_value(table, "packages", "prereleases", bool, problems)),
        sdists=cast(SdistPolicy, sdists) if sdists in SDIST_POLICIES else "needed",
    )


@dataclass(frozen=True, slots=True)
class _Found:
    """What one requirement source adds: requirements, constraints and sets of their own."""

    requirements: tuple[Requirement, ...] = ()
    constraints: tuple[Requirement, ...] = ()
    sets: tuple[RequirementSet, ...] = ()


def _read_requirements_file(path: Path) -> _Found:
    source = read_requirements_file(path)
    return _Found(source.requirements, source.constraints)


def _read_pyproject(path: Path) -> _Found:
    """A project's dependencies join the requirements; what it needs to build, and each
    dependency group with the project's dependencies, are sets of their own."""
    project = read_pyproject(path)
    sets = [RequirementSet(f"{path} [build-system] requires", project.build)]
    sets += [
        RequirementSet(f"{path} [dependency-groups] {name}", project.dependencies + group)
        for name, group in project.groups.items()
    ]
    return _Found(project.dependencies, (), tuple(s for s in sets if s.requirements))


def _read_lock(read: Callable[[Path], tuple[Requirement, ...]]) -> Callable[[Path], _Found]:
    """A lock's pins are a set: its resolution, taken whole (``RequirementSet.alone`` off)."""

    def reader(path: Path) -> _Found:
        pins = read(path)
        return _Found(sets=(RequirementSet(str(path), pins, alone=False),) if pins else ())

    return reader


def _resolvers(table: Mapping[str, Any], problems: list[ConfigProblem]) -> tuple[str, ...] | None:
    listed = get_value(table, "packages", "resolvers", list, problems)
    if listed is None:
        return None
    unknown = [r for r in listed if r not in RESOLVERS]
    if unknown or "pip" not in listed:
        problems.append(
            ConfigProblem(
                "[packages] resolvers",
                f'must be ["pip"] or ["pip", "uv"] (pip\'s closure is always planned), '
                f"not {listed!r}",
            )
        )
        return None
    return tuple(dict.fromkeys(listed))


def targets_table(
    table: Mapping[str, Any], problems: list[ConfigProblem]
) -> tuple[TargetEnvironment, ...]:
    """Validate ``[targets]``; what it leaves out is taken from the running interpreter.

    ``all = true`` returns no targets: every file of the selected releases is kept.
    """
    if get_value(table, "targets", "all", bool, problems):
        others = sorted(key for key in table if key != "all")
        if others:
            problems.append(
                ConfigProblem(
                    "[targets] all",
                    f"true keeps the files of every target; remove {', '.join(others)}",
                )
            )
        return ()
    pythons = get_value(table, "targets", "python", list, problems)
    platforms = get_value(table, "targets", "platforms", list, problems)
    implementation = get_value(table, "targets", "implementation", str, problems)
    for key, values in (("python", pythons), ("platforms", platforms)):
        if values is not None and not all(isinstance(value, str) for value in values):
            problems.append(ConfigProblem(f"[targets] {key}", "must be a list of strings"))
            return ()
        if values == []:
            problems.append(ConfigProblem(f"[targets] {key}", "must not be empty"))
            return ()
    return make_targets(pythons, platforms, implementation, "[targets]", problems)


def _parse_requirements(raw: list[Any], problems: list[ConfigProblem]) -> tuple[Requirement, ...]:
    parsed: list[Requirement] = []
    for index, line in enumerate(raw):
        key = f"[packages] requirements[{index}]"
        if not isinstance(line, str):
            problems.append(ConfigProblem(key, f"must be a string, not {line!r}"))
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problems.append(ConfigProblem(key, f"{line!r} is not a PEP 508 requirement: {error}"))
            continue
        if requirement.url:
            problems.append(
                ConfigProblem(key, f"{line!r} names a direct URL; only index projects are mirrored")
            )
            continue
        parsed.append(requirement)
    return tuple(parsed)
