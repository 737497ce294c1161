"""bandersnatch's filter plugins as its configuration enables and configures them.

``[plugins] enabled`` names the plugins (``all``: every one); each reads its options from
``[allowlist]``, ``[blocklist]`` or its own section. ``enabled_plugins`` and ``read_filters``
turn them into ``Filters`` with bandersnatch's semantics, and report plugins Cellar cannot
apply, options no enabled plugin reads, and unusable values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from cellar.config.checks import checked
from cellar.config.ini_options import Reader
from cellar.filters import Filters, check_pattern, parse_size, platform_rules

#: The filter plugins Cellar applies, with bandersnatch's names.
PLUGINS = (
    *("allowlist_project", "allowlist_release", "project_requirements"),
    *("project_requirements_pinned", "blocklist_project", "blocklist_release"),
    *("exclude_platform", "prerelease_release", "regex_project", "regex_release"),
    *("latest_release", "size_project_metadata"),
)
#: Plugins that filter on PyPI's JSON API metadata, which the Simple API Cellar reads lacks;
#: each is configured in the section of its name.
METADATA_PLUGINS = (
    *("regex_project_metadata", "regex_release_file_metadata"),
    *("version_range_release_file_metadata", "version_range_project_metadata"),
    "versions_count_project_metadata",
)
#: Sections that only configure a plugin, and the plugins that read them.
PLUGIN_SECTIONS = {
    "filter_regex": ("regex_project", "regex_release"),
    "filter_prerelease": ("prerelease_release",),
    "latest_release": ("latest_release",),
    "size_project_metadata": ("size_project_metadata",),
}
#: Options of shared sections, and the plugins that read them.
_PLUGIN_OPTIONS = {
    ("allowlist", "packages"): ("allowlist_project", "allowlist_release", "size_project_metadata"),
    ("allowlist", "requirements"): ("project_requirements", "project_requirements_pinned"),
    ("allowlist", "requirements_path"): ("project_requirements", "project_requirements_pinned"),
    ("blocklist", "packages"): ("blocklist_project", "blocklist_release"),
    ("blocklist", "platforms"): ("exclude_platform",),
}


def enabled_plugins(reader: Reader) -> frozenset[str]:
    """Return the filter plugins ``[plugins] enabled`` names (``all``: every one)."""
    lines = reader.lines("plugins", "enabled")
    if "all" in lines:
        for plugin in METADATA_PLUGINS:
            if reader.has_section(plugin):
                reader.warn("[plugins] enabled", _metadata_plugin_warning(plugin))
        return frozenset(PLUGINS)
    enabled: set[str] = set()
    for plugin in lines:
        if plugin in PLUGINS:
            enabled.add(plugin)
        elif plugin in METADATA_PLUGINS:
            reader.warn("[plugins] enabled", _metadata_plugin_warning(plugin))
        else:
            hint = " (one plugin per line)" if " " in plugin else ""
            known = ", ".join((*PLUGINS, *METADATA_PLUGINS))
            reader.problem("[plugins] enabled", f"unknown plugin {plugin!r}{hint}; known: {known}")
    for section, plugins in PLUGIN_SECTIONS.items():
        if reader.has_section(section) and not enabled.intersection(plugins):
            reader.warn(f"[{section}]", _no_effect(plugins))
    for (section, option), plugins in _PLUGIN_OPTIONS.items():
        if reader.has_option(section, option) and not enabled.intersection(plugins):
            reader.text(section, option, "")
            reader.warn(f"[{section}] {option}", _no_effect(plugins))
    return frozenset(enabled)


def _no_effect(plugins: Iterable[str]) -> str:
    return f"has no effect: none of {', '.join(plugins)} is in [plugins] enabled"


def _metadata_plugin_warning(plugin: str) -> str:
    return (
        f"{plugin} filters on PyPI's JSON API metadata, which the Simple API Cellar reads "
        "does not carry; ignored"
    )


def read_filters(
    reader: Reader,
    enabled: frozenset[str],
    allow: Sequence[Requirement],
    pinned: tuple[Requirement, ...],
    *,
    quiet: bool,
) -> Filters:
    """Return the filters the enabled plugins configure, with bandersnatch's semantics.

    ``allow`` is ``[allowlist] packages``; ``pinned`` are the requirements files' lines that
    restrict versions. ``quiet`` (every plugin enabled by ``all``): a plugin left
    unconfigured is no warning.
    """
    block = package_lines(reader, "blocklist", "packages")
    block_projects: set[NormalizedName] = set()
    if "blocklist_project" in enabled:
        # As bandersnatch: only bare names; lines with a specifier are blocklist_release's.
        block_projects = {canonicalize_name(line) for line in block if _is_bare_name(line)}
    patterns = reader.lines("filter_regex", "packages") if "regex_project" in enabled else []
    releases = reader.lines("filter_regex", "releases") if "regex_release" in enabled else []
    latest, latest_by = 0, "version"
    if "latest_release" in enabled:
        latest = reader.integer("latest_release", "keep", 0)
        latest_by = reader.choice("latest_release", "sort_by", ("version", "time"), "version")
    platforms: list[str] = []
    if "exclude_platform" in enabled:
        platforms = reader.text("blocklist", "platforms", "").split()
        if not platforms and not quiet:
            reader.warn("[blocklist] platforms", "exclude_platform is enabled but names none")
    size = 0
    if "size_project_metadata" in enabled:
        size = _size(reader, quiet=quiet)
    key_of = "[filter_regex] {}"
    return Filters(
        block_projects=frozenset(block_projects),
        project_patterns=checked(
            patterns, check_pattern, key_of.format("packages"), reader.problems
        ),
        allow_releases=restricting(allow) if "allowlist_release" in enabled else (),
        pinned_releases=pinned if "project_requirements_pinned" in enabled else (),
        block_releases=(
            _requirements_of(block, "[blocklist] packages", reader)
            if "blocklist_release" in enabled
            else ()
        ),
        release_patterns=checked(
            releases, check_pattern, key_of.format("releases"), reader.problems
        ),
        drop_prereleases="prerelease_release" in enabled,
        prerelease_projects=(
            frozenset(canonicalize_name(n) for n in reader.lines("filter_prerelease", "packages"))
            if "prerelease_release" in enabled
            else frozenset()
        ),
        latest=max(latest, 0),
        latest_by="time" if latest_by == "time" else "version",
        exclude_platforms=checked(
            platforms, lambda tag: platform_rules([tag]), "[blocklist] platforms", reader.problems
        ),
        max_project_size=size,
        size_exempt=frozenset(canonicalize_name(r.name) for r in allow) if size else frozenset(),
    )


def _size(reader: Reader, *, quiet: bool) -> int:
    text = reader.text("size_project_metadata", "max_package_size", "")
    if not text and quiet:
        return 0
    if not text:
        reader.warn(
            "[size_project_metadata] max_package_size",
            "size_project_metadata is enabled but sets no size; no project is too large",
        )
        return 0
    try:
        return parse_size(text)
    except ValueError as error:
        reader.problem("[size_project_metadata] max_package_size", str(error))
        return 0


def package_lines(reader: Reader, section: str, option: str) -> list[str]:
    """Return a package list's lines without comments (whole-line or after ``#``)."""
    lines = (line.split("#", 1)[0].strip() for line in reader.lines(section, option))
    return [line for line in lines if line]


def listed_requirements(reader: Reader, section: str, option: str) -> list[Requirement]:
    return list(
        _requirements_of(package_lines(reader, section, option), f"[{section}] {option}", reader)
    )


def _requirements_of(lines: Iterable[str], key: str, reader: Reader) -> tuple[Requirement, ...]:
    parsed: list[Requirement] = []
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            reader.problem(key, f"{line!r} is not a requirement: {error}")
            continue
        if requirement.url:
            reader.problem(key, f"{line!r} names a direct URL; only index projects are mirrored")
            continue
        # bandersnatch compares names and versions only: extras and markers play no part.
        parsed.append(Requirement(f"{requirement.name}{requirement.specifier}"))
    return tuple(parsed)


def restricting(found: Iterable[Requirement]) -> tuple[Requirement, ...]:
    """Return the requirements that restrict versions: those of each project that no bare
    name of the same project lifts (a bare name admits every release)."""
    by_name: dict[NormalizedName, list[Requirement]] = {}
    for requirement in found:
        plain = Requirement(f"{requirement.name}{requirement.specifier}")
        by_name.setdefault(canonicalize_name(plain.name), []).append(plain)
    return tuple(
        requirement
        for group in by_name.values()
        if all(r.specifier for r in group)
        for requirement in dict.fromkeys(group)
    )


def _is_bare_name(line: str) -> bool:
    try:
        return Requirement(line).name == line
    except InvalidRequirement:
        return False
