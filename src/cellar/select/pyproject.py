"""What a ``pyproject.toml`` asks a mirror for: the project's dependencies and extras, what it needs
to build, and its dependency groups (PEP 621, PEP 518, PEP 735).

Each part is installed on its own, so each is returned apart: pip builds a project in an
isolated environment holding ``[build-system] requires`` alone, and a dependency group is
installed with the project (``uv sync --group``) or alone (``pip install --group``), never
necessarily beside the others (groups may conflict with each other).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from cellar.select.metadata import DEFAULT_BUILD_REQUIRES, with_setuptools_wheel
from cellar.select.sources import (
    RequirementsFileError,
    and_marker,
    index_requirement,
    load_toml,
    toml_requirements,
)

#: A dependency group's name, as PEP 735 allows it (compared normalised, as project names).
_GROUP_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ProjectRequirements:
    """The requirements of one ``pyproject.toml``, by how they are installed.

    ``dependencies``: ``[project] dependencies`` and the chosen extras' (the project itself
    is not on the index and is left out). ``build``: ``[build-system] requires``, or what pip
    assumes for a project without one; empty for a file with no ``[project]`` (nothing to
    build). ``groups``: each ``[dependency-groups]`` group with its includes expanded, by its
    name as written.
    """

    dependencies: tuple[Requirement, ...] = ()
    build: tuple[Requirement, ...] = ()
    groups: Mapping[str, tuple[Requirement, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def read_pyproject(path: Path, *, extras: Sequence[str] | None = None) -> ProjectRequirements:
    """Return what ``path`` asks for: dependencies with ``extras``, build requirements, groups.

    ``extras=None`` means every optional-dependency group. A group naming the project itself
    (``all = ["me[test,docs]"]``) contributes those groups' requirements instead; so does the
    project named in a dependency group.

    Raises:
        RequirementsFileError: the file is not TOML, has neither a static ``[project]`` nor
            ``[dependency-groups]``, names an unknown extra or group, includes groups in a
            cycle, or holds an invalid or direct-URL requirement.
    """
    data = load_toml(path)
    project = data.get("project")
    groups_table = data.get("dependency-groups")
    if project is None and groups_table is not None:
        project = {}
    if not isinstance(project, dict):
        raise RequirementsFileError(path, "has no [project] table to read dependencies from")
    if "dependencies" not in project and "dependencies" in project.get("dynamic", []):
        raise RequirementsFileError(
            path, "[project] dependencies are dynamic (computed by the build backend); list them"
        )
    extra_tables = project.get("optional-dependencies", {})
    if not isinstance(extra_tables, dict):
        raise RequirementsFileError(path, "[project] optional-dependencies must be a table")
    own = _Project(path, canonicalize_name(str(project.get("name", ""))), extra_tables)
    for extra in [] if extras is None else extras:
        if canonicalize_name(extra) not in own.extra_names:
            known = ", ".join(extra_tables) or "none"
            raise RequirementsFileError(path, f"no optional dependencies {extra!r} (has: {known})")
    wanted = own.extra_names if extras is None else [canonicalize_name(e) for e in extras]
    dependencies = toml_requirements(
        path, "[project] dependencies", project.get("dependencies", [])
    )
    dependencies += own.extras_requirements([(extra, None) for extra in wanted])
    groups = _dependency_groups(path, groups_table, own) if groups_table is not None else {}
    return ProjectRequirements(
        dependencies=tuple(dependencies),
        build=_build_requires(path, data, has_project=bool(project)),
        groups=MappingProxyType(groups),
    )


@dataclass(frozen=True, slots=True)
class _Project:
    """The project a file describes, for requirements that name it (``me[test]``)."""

    path: Path
    name: NormalizedName
    extra_tables: Mapping[str, Any]

    @property
    def extra_names(self) -> dict[NormalizedName, str]:
        return {canonicalize_name(name): name for name in self.extra_tables}

    def extras_requirements(self, wanted: list[tuple[NormalizedName, Any]]) -> list[Requirement]:
        """Return the requirements of the extras ``wanted`` (each with the marker it was asked
        with), following extras that name the project itself."""
        by_name = self.extra_names
        queue = list(wanted)
        found: list[Requirement] = []
        # The extras read so far, True once read without a marker (then there is nothing to add).
        unconditional: dict[NormalizedName, bool] = {}
        while queue:
            extra, marker = queue.pop(0)
            if extra not in by_name or (
                extra in unconditional and (unconditional[extra] or marker)
            ):
                continue  # an unknown self-reference (pip ignores those too), or already read
            unconditional[extra] = marker is None
            key = f"[project] optional-dependencies.{by_name[extra]}"
            for listed in toml_requirements(self.path, key, self.extra_tables[by_name[extra]]):
                requirement = and_marker(listed, marker)
                if canonicalize_name(requirement.name) == self.name:
                    queue += [
                        (canonicalize_name(e), requirement.marker) for e in requirement.extras
                    ]
                else:
                    found.append(requirement)
        return found


def _build_requires(
    path: Path, data: Mapping[str, Any], *, has_project: bool
) -> tuple[Requirement, ...]:
    """Return ``[build-system] requires``, or pip's assumption for a project without it."""
    build_system = data.get("build-system")
    if build_system is None:
        defaults = DEFAULT_BUILD_REQUIRES if has_project else ()
        return tuple(Requirement(text) for text in defaults)
    if not isinstance(build_system, dict) or "requires" not in build_system:
        raise RequirementsFileError(path, "[build-system] must be a table with a requires list")
    key = "[build-system] requires"
    listed = tuple(str(r) for r in toml_requirements(path, key, build_system["requires"]))
    needed = with_setuptools_wheel(listed, build_system.get("build-backend"))
    return tuple(Requirement(text) for text in needed)


def _dependency_groups(
    path: Path, table: object, own: _Project
) -> dict[str, tuple[Requirement, ...]]:
    """Return every PEP 735 group, its includes expanded, by its name as written."""
    if not isinstance(table, dict):
        raise RequirementsFileError(path, "[dependency-groups] must be a table")
    by_name: dict[NormalizedName, str] = {}
    for name in table:
        if not _GROUP_NAME.fullmatch(name):
            raise RequirementsFileError(path, f"[dependency-groups] {name!r} is not a valid name")
        normal = canonicalize_name(name)
        if normal in by_name:
            raise RequirementsFileError(
                path, f"[dependency-groups] {by_name[normal]!r} and {name!r} are the same group"
            )
        by_name[normal] = name
    expanded: dict[NormalizedName, list[Requirement]] = {}

    def expand(name: str, chain: tuple[str, ...]) -> list[Requirement]:
        normal = canonicalize_name(name)
        if normal not in by_name:
            raise RequirementsFileError(
                path, f"[dependency-groups] {chain[-1]!r} includes {name!r}, which is not a group"
            )
        if normal in expanded:
            return expanded[normal]
        written = by_name[normal]
        if written in chain:
            cycle = " -> ".join((*chain[chain.index(written) :], written))
            raise RequirementsFileError(path, f"[dependency-groups] include a cycle: {cycle}")
        entries = table[written]
        key = f"[dependency-groups] {written}"
        if not isinstance(entries, list):
            raise RequirementsFileError(path, f"{key} must be a list")
        found: list[Requirement] = []
        for entry in entries:
            if isinstance(entry, str):
                requirement = index_requirement(path, entry, key=key)
                if canonicalize_name(requirement.name) == own.name and own.name:
                    wanted = [
                        (canonicalize_name(e), requirement.marker) for e in requirement.extras
                    ]
                    found += own.extras_requirements(wanted)
                else:
                    found.append(requirement)
            elif isinstance(entry, dict) and set(entry) == {"include-group"}:
                found += expand(str(entry["include-group"]), (*chain, written))
            else:
                raise RequirementsFileError(
                    path, f"{key}: {entry!r} is neither a requirement nor {{include-group = ...}}"
                )
        expanded[normal] = found
        return found

    return {by_name[normal]: tuple(expand(by_name[normal], ())) for normal in by_name}
