"""Read a bandersnatch INI configuration (``bandersnatch.conf``) into Cellar's ``Config``.

The file is read as bandersnatch reads it (``configparser``, ``=`` only, ``%`` interpolation,
case-sensitive option names). ``[mirror]`` options become mirror settings (see ``options``),
the filter plugins ``[plugins] enabled`` names become ``Filters``, and the projects its
allowlist and requirements files name become the requirements: Cellar mirrors named projects
only, never a whole index. An optional ``[cellar]`` section switches on the dependency closure
and sets targets. Every option is either used or reported: ignored ones as warnings, invalid
ones as problems naming the section and option.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from cellar.config.checks import ConfigError, ConfigProblem, make_targets, selected
from cellar.config.ini_options import Reader, mirror_settings
from cellar.config.ini_plugins import (
    METADATA_PLUGINS,
    PLUGIN_SECTIONS,
    enabled_plugins,
    listed_requirements,
    package_lines,
    read_filters,
    restricting,
)
from cellar.config.model import Config
from cellar.config.packages import PackageSettings
from cellar.errors import CellarError
from cellar.filters import Filters
from cellar.select.sources import read_requirements_file
from cellar.select.targets import TargetEnvironment

_KNOWN_SECTIONS = {
    *("mirror", "plugins", "allowlist", "blocklist", "cellar", "s3"),
    *PLUGIN_SECTIONS,
}
_CELLAR_OPTIONS = ("dependencies", "python", "platforms", "implementation", "directory")
_MIRROR_HEADER = re.compile(r"^\s*\[mirror\]\s*$", re.MULTILINE)
_NO_SELECTION = (
    "Cellar mirrors named projects only, never a whole index: enable allowlist_project in "
    "[plugins] enabled and list the projects in [allowlist] packages, or enable "
    "project_requirements and name requirements files in [allowlist] requirements "
    "(relative to requirements_path)"
)


def looks_like_ini(text: str) -> bool:
    """Whether ``text`` (not TOML) reads as a bandersnatch configuration: a ``[mirror]``
    section in an INI file."""
    if _MIRROR_HEADER.search(text) is None:
        return False
    try:
        _parser().read_string(text)
    except configparser.Error:
        return False
    return True


def parse_ini(text: str, path: Path) -> tuple[Config, tuple[ConfigProblem, ...]]:
    """Return the ``Config`` a bandersnatch configuration ``text`` (read from ``path``) asks
    for, and warnings for what Cellar ignores.

    Raises ``ConfigError`` listing every problem, each with its section and option.
    """
    parser = _parser()
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as error:
        key = _error_key(error)
        raise ConfigError(path, (ConfigProblem(key, f"not a valid INI file: {error}"),)) from None
    reader = Reader(parser)
    base = path.parent if path.parent != Path() else Path.cwd()
    for section in parser.sections():
        if section not in _KNOWN_SECTIONS and section not in METADATA_PLUGINS:
            reader.warn(f"[{section}]", "not a section Cellar reads; ignored")
    mirror = mirror_settings(reader, base)
    enabled = enabled_plugins(reader)
    allowlist = listed_requirements(reader, "allowlist", "packages")
    requirements, pinned = _selection(reader, enabled, allowlist, base)
    every = "all" in reader.lines("plugins", "enabled")
    filters = read_filters(reader, enabled, allowlist, pinned, quiet=every)
    packages = _packages(reader, requirements, filters)
    targets = _targets(reader, packages.dependencies)
    skipped = {
        section for section, plugins in PLUGIN_SECTIONS.items() if not enabled & set(plugins)
    }
    reader.warn_unread(sorted(_KNOWN_SECTIONS - skipped))
    if reader.problems:
        raise ConfigError(path, tuple(reader.problems))
    assert mirror is not None  # every way to get None is a problem  # noqa: S101
    config = Config(path, mirror, packages, targets, filters)
    return config, tuple(reader.warnings)


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # as bandersnatch
    return parser


def _error_key(error: configparser.Error) -> str:
    section = getattr(error, "section", None)
    option = getattr(error, "option", None)
    if section and option:
        return f"[{section}] {option}"
    return f"[{section}]" if section else ""


def _selection(
    reader: Reader, enabled: frozenset[str], allowlist: Sequence[Requirement], base: Path
) -> tuple[list[Requirement], tuple[Requirement, ...]]:
    """Return the projects the allowlist (``allowlist``: ``[allowlist] packages``) and the
    requirements files name, in order, and the requirements files' lines that restrict
    versions."""
    found: list[Requirement] = []
    if enabled & {"allowlist_project", "allowlist_release"}:
        found.extend(allowlist)
    pinned: list[Requirement] = []
    if enabled & {"project_requirements", "project_requirements_pinned"}:
        for path in _requirement_files(reader, base):
            try:
                pinned.extend(read_requirements_file(path).requirements)
            except (CellarError, OSError) as error:
                reader.problem("[allowlist] requirements", str(error))
        found.extend(pinned)
    listed = ("[allowlist] packages", "[allowlist] requirements")
    if not found and all(problem.key not in listed for problem in reader.problems):
        reader.problem("[allowlist] packages", _NO_SELECTION)
    return found, restricting(pinned)


def _requirement_files(reader: Reader, base: Path) -> list[Path]:
    """Return the requirements files ``[allowlist] requirements`` names (globs expanded)."""
    directory = base / Path(reader.text("allowlist", "requirements_path", "")).expanduser()
    paths: list[Path] = []
    for line in package_lines(reader, "allowlist", "requirements"):
        if "*" in line:
            matches = sorted(directory.glob(line))
            if not matches:
                reader.problem(
                    "[allowlist] requirements", f"{line!r} matches no file in {directory}"
                )
            paths.extend(matches)
        else:
            paths.append(directory / line)
    if not paths and reader.has_option("allowlist", "requirements_path"):
        reader.warn("[allowlist] requirements_path", "no [allowlist] requirements name a file")
    return paths


def _packages(
    reader: Reader, requirements: Sequence[Requirement], filters: Filters
) -> PackageSettings:
    """Return what to mirror of the named projects: as bandersnatch, every release and file,
    unless ``[cellar] dependencies`` asks for the closure."""
    dependencies = reader.flag("cellar", "dependencies", default=False)
    names: dict[tuple[NormalizedName, tuple[str, ...]], Requirement] = {}
    for requirement in requirements:
        extras = tuple(sorted(requirement.extras))
        spelled = f"{requirement.name}[{','.join(extras)}]" if extras else requirement.name
        names.setdefault((canonicalize_name(requirement.name), extras), Requirement(spelled))
    warnings = reader.warnings
    kept = selected(tuple(names.values()), filters, "[allowlist] packages", warnings)
    return PackageSettings(
        requirements=kept,
        dependencies=dependencies,
        versions=0,
        # bandersnatch keeps pre-releases unless prerelease_release says not to; a closure
        # picks its dependencies as pip does.
        prereleases=not dependencies,
        sdists="all",
    )


def _targets(reader: Reader, dependencies: bool) -> tuple[TargetEnvironment, ...]:
    """Return ``[cellar]``'s targets: none (every file) unless it names some or asks for the
    dependency closure, which is resolved for real targets (the host's by default)."""
    for option in reader.options("cellar"):
        if option not in _CELLAR_OPTIONS:
            reader.problem(
                f"[cellar] {option}", f"unknown option (known: {', '.join(_CELLAR_OPTIONS)})"
            )
    pythons = _words(reader.text("cellar", "python", "")) or None
    platforms = _words(reader.text("cellar", "platforms", "")) or None
    implementation = reader.text("cellar", "implementation", "") or None
    if not dependencies and pythons is None and platforms is None and implementation is None:
        return ()
    return make_targets(pythons, platforms, implementation, "[cellar]", reader.problems)


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\s,]+", text) if word]
