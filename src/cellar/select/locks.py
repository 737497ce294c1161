"""Pins from lock files: PEP 751 ``pylock.toml`` and uv's ``uv.lock``.

A lock is a resolution already made. Each package it takes from an index becomes
``name==version`` with the condition (a PEP 508 marker) under which the lock installs it, so
every target takes the pins that apply to it. Packages from a VCS, a URL or a local path are
skipped with a warning: an index does not serve them. Conditions on the extras and dependency
groups a lock is installed with count as true, so every selection the lock allows is mirrored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import VERSION_PATTERN

from cellar.select.sources import RequirementsFileError, index_requirement, load_toml

logger = logging.getLogger("cellar.config")

_VERSION = re.compile(VERSION_PATTERN, re.VERBOSE | re.IGNORECASE)
#: A PEP 751 marker atom about the extras or groups a lock is installed with, e.g. 'dev' in extras.
_SELECTION_ATOM = re.compile(r"""(['"])[^'"]*\1\s+(?:not\s+)?in\s+(?:extras|dependency_groups)\b""")
#: uv's markers for the same: ``extra == 'extra-3-foo-cpu'``, ``group == 'package-7-foo-dev'``.
_UV_SELECTION_ATOM = re.compile(r"""\b(?:extra|group)\s*(?:==|!=)\s*(['"])[^'"]*\1""")
_ALWAYS = 'python_version >= "0"'
#: The uv.lock versions this reader knows (uv writes ``version = 1`` and a ``revision``).
UV_LOCK_VERSIONS = (1,)
#: Distinct conditions kept for one package before it is taken on every target instead
#: (a lock whose markers multiply along long chains; taking more is safe, missing is not).
MAX_CONDITIONS = 64


def read_pylock(path: Path) -> tuple[Requirement, ...]:
    """Return each package of a PEP 751 lock file as ``name==version`` with its marker.

    Raises:
        RequirementsFileError: the file is not a lock file of a supported version, or an entry
            is malformed.
    """
    data = load_toml(path)
    version = data.get("lock-version")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        raise RequirementsFileError(path, "has no lock-version; is it a PEP 751 pylock.toml?")
    if version.split(".")[0] != "1":
        raise RequirementsFileError(path, f"lock-version {version} is not supported (1.x is)")
    if version != "1.0":
        logger.warning("%s: lock-version %s is newer than 1.0; reading it as 1.0", path, version)
    packages = data.get("packages", [])
    found: list[Requirement] = []
    for index, entry in enumerate(packages if isinstance(packages, list) else [None]):
        key = f"[[packages]] entry {index + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RequirementsFileError(path, f"{key} is not a table with a name")
        name, version, marker = entry["name"], entry.get("version"), entry.get("marker")
        if source := next((k for k in ("vcs", "directory", "archive") if k in entry), None):
            logger.warning("%s: skipping %s: installed from a %s, not an index", path, name, source)
            continue
        if not isinstance(version, str):
            logger.warning("%s: skipping %s: the lock gives no version", path, name)
            continue
        operator = "==" if _VERSION.fullmatch(version) else "==="
        marker = _SELECTION_ATOM.sub(_ALWAYS, marker) if isinstance(marker, str) else None
        suffix = "" if marker in (None, _ALWAYS) else f"; {marker}"
        found.append(index_requirement(path, f"{name}{operator}{version}{suffix}", key=key))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _UvPackage:
    """One ``[[package]]`` of a uv.lock."""

    index: int
    name: str
    version: str | None
    source: Mapping[str, Any]
    dependencies: tuple[Mapping[str, Any], ...]
    optional: Mapping[str, tuple[Mapping[str, Any], ...]]
    groups: Mapping[str, tuple[Mapping[str, Any], ...]]
    #: When the lock uses this version (its ``resolution-markers``, joined by "or"), if forked.
    condition: str | None

    @property
    def kind(self) -> str:
        """How it is installed: registry, git, url, path, directory, editable or virtual."""
        return next(iter(self.source), "registry")


#: A package reached along a path: its index, the conditions on that path, the extras asked.
_State = tuple[int, frozenset[str], frozenset[NormalizedName]]


def read_uv_lock(path: Path) -> tuple[Requirement, ...]:
    """Return each package a ``uv.lock`` takes from an index as ``name==version; condition``.

    The condition is the one under which ``uv sync`` installs it: the markers along every path
    from the workspace's projects (their dependencies, every extra and every dependency group)
    to it, and the version's own fork markers, all within the lock's ``requires-python``.

    Raises:
        RequirementsFileError: the file is not a uv.lock of a supported version, or is
            malformed (an entry without a name, a dependency on a package it does not hold).
    """
    data = load_toml(path)
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RequirementsFileError(path, "has no version; is it a uv.lock?")
    if version not in UV_LOCK_VERSIONS:
        raise RequirementsFileError(path, f"uv.lock version {version} is not supported (1 is)")
    packages = _uv_packages(path, data.get("package", []))
    by_name: dict[NormalizedName, list[_UvPackage]] = {}
    for package in packages:
        by_name.setdefault(canonicalize_name(package.name), []).append(package)
    members = data.get("manifest", {}).get("members", [])
    member_names = {canonicalize_name(m) for m in members if isinstance(m, str)}
    roots = [
        p
        for p in packages
        if p.kind in ("editable", "virtual") or canonicalize_name(p.name) in member_names
    ]
    conditions = (
        _walk(path, roots, by_name) if roots else {p.index: {frozenset()} for p in packages}
    )
    python = _python_condition(path, data.get("requires-python"))
    found: list[Requirement] = []
    for package in packages:
        if package.index not in conditions or (package.kind == "registry" and not package.version):
            continue
        if package.kind != "registry":
            if package not in roots:
                logger.warning(
                    "%s: skipping %s: installed from a %s, not an index",
                    path,
                    package.name,
                    package.kind,
                )
            continue
        marker = _marker(conditions[package.index], python)
        suffix = f"; {marker}" if marker else ""
        key = f"[[package]] {package.name} {package.version}"
        found.append(index_requirement(path, f"{package.name}=={package.version}{suffix}", key=key))
    return tuple(found)


def _uv_packages(path: Path, entries: object) -> list[_UvPackage]:
    if not isinstance(entries, list):
        raise RequirementsFileError(path, "[[package]] must be an array of tables")
    packages = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RequirementsFileError(
                path, f"[[package]] entry {index + 1} is not a table with a name"
            )
        where = f"[[package]] {entry['name']}"
        forks = entry.get("resolution-markers") or []
        packages.append(
            _UvPackage(
                index=index,
                name=entry["name"],
                version=entry.get("version") if isinstance(entry.get("version"), str) else None,
                source=_table(path, where, entry.get("source", {})),
                dependencies=_edges(path, where, entry.get("dependencies", [])),
                optional=_groups(path, where, entry.get("optional-dependencies", {})),
                groups=_groups(path, where, entry.get("dev-dependencies", {})),
                condition=_sanitised(path, where, " or ".join(f"({m})" for m in forks))
                if forks
                else None,
            )
        )
    return packages


def _walk(
    path: Path, roots: list[_UvPackage], by_name: Mapping[NormalizedName, list[_UvPackage]]
) -> dict[int, set[frozenset[str]]]:
    """Return, for each package reached from ``roots``, the conditions of the paths to it."""
    packages = {p.index: p for ps in by_name.values() for p in ps}
    root_indexes = {root.index for root in roots}
    found: dict[int, set[frozenset[str]]] = {}
    queue: list[_State] = [
        (root.index, frozenset(), frozenset(canonicalize_name(e) for e in root.optional))
        for root in roots
    ]
    seen: set[_State] = set()
    while queue:
        state = queue.pop()
        if state in seen:
            continue
        seen.add(state)
        index, conditions, extras = state
        kept = found.setdefault(index, set())
        if len(kept) < MAX_CONDITIONS:
            kept.add(conditions)
        else:
            kept.clear()
            kept.add(frozenset())  # too many ways here: taken everywhere
        package = packages[index]
        edges = list(package.dependencies)
        for extra, listed in package.optional.items():
            if canonicalize_name(extra) in extras:
                edges += listed
        if index in root_indexes:
            edges += [edge for listed in package.groups.values() for edge in listed]
        for edge in edges:
            marker = edge.get("marker")
            where = f"a dependency of {package.name}"
            step = _sanitised(path, where, marker) if isinstance(marker, str) else None
            wanted = frozenset(canonicalize_name(e) for e in edge.get("extra", []) or [])
            for target in _matches(path, package, edge, by_name):
                more = {c for c in (step, target.condition) if c and c != _ALWAYS}
                queue.append((target.index, conditions | more, wanted))
    return found


def _matches(
    path: Path,
    parent: _UvPackage,
    edge: Mapping[str, Any],
    by_name: Mapping[NormalizedName, list[_UvPackage]],
) -> list[_UvPackage]:
    name = edge.get("name")
    candidates = by_name.get(canonicalize_name(name), []) if isinstance(name, str) else []
    if "version" in edge:
        candidates = [c for c in candidates if c.version == edge["version"]]
    if "source" in edge:
        candidates = [c for c in candidates if dict(c.source) == edge["source"]] or candidates
    if not candidates:
        raise RequirementsFileError(
            path, f"{parent.name} depends on {name!r} {edge.get('version', '')}, not in the lock"
        )
    return candidates


def _marker(conditions: set[frozenset[str]], python: str | None) -> str | None:
    """Return the marker that holds where any of the paths' ``conditions`` all hold."""
    # A path whose conditions include all of another's adds nothing to their "or".
    conditions = {c for c in conditions if not any(other < c for other in conditions)}
    if frozenset() in conditions:
        either = None
    else:
        paths = sorted(" and ".join(f"({c})" for c in sorted(path)) for path in conditions)
        either = paths[0] if len(paths) == 1 else " or ".join(f"({p})" for p in paths)
    parts = [part for part in (python, either) if part]
    return (
        " and ".join(f"({part})" for part in parts) if len(parts) > 1 else next(iter(parts), None)
    )


def _python_condition(path: Path, requires: object) -> str | None:
    """Return the lock's ``requires-python`` as a marker (a target outside it takes nothing)."""
    if not isinstance(requires, str) or not requires.strip():
        return None
    try:
        specifiers = SpecifierSet(requires)
    except InvalidSpecifier:
        raise RequirementsFileError(path, f"requires-python {requires!r} is not valid") from None
    clauses = [f"python_full_version {s.operator} '{s.version}'" for s in specifiers]
    return " and ".join(sorted(clauses)) or None


def _sanitised(path: Path, where: str, marker: str) -> str:
    """Return ``marker`` with its conditions on extras and groups made true, checked."""
    try:
        # Written the one way packaging writes it, so the same condition is kept once.
        text = str(Marker(_UV_SELECTION_ATOM.sub(_ALWAYS, marker)))
    except InvalidMarker as error:
        raise RequirementsFileError(path, f"{where}: marker {marker!r}: {error}") from None
    return text.replace(f" and {_ALWAYS}", "").replace(f"{_ALWAYS} and ", "")


def _table(path: Path, where: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RequirementsFileError(path, f"{where}: source must be a table")
    return value


def _edges(path: Path, where: str, value: object) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RequirementsFileError(path, f"{where}: dependencies must be a list of tables")
    return tuple(value)


def _groups(path: Path, where: str, value: object) -> Mapping[str, tuple[Mapping[str, Any], ...]]:
    if not isinstance(value, dict):
        raise RequirementsFileError(path, f"{where}: optional and dev dependencies must be tables")
    return {name: _edges(path, where, listed) for name, listed in value.items()}
