"""``cellar config convert``: write the ``cellar.toml`` equivalent to a configuration.

The TOML says everything the ``Config`` holds, so loading it gives the same ``Config`` back;
what the source asked that Cellar ignores is kept as comments at the top. Lists read from
requirements files are written out literally: edit them in the TOML from then on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from cellar.config.checks import ConfigError, ConfigProblem
from cellar.config.load import read_config
from cellar.config.model import Config, default_upstream
from cellar.filters import Filters


def convert_command(path: Path) -> tuple[str, int]:
    """Return the TOML equivalent to the configuration at ``path`` and exit code 0, or the
    error message and exit code 2 when it cannot be read."""
    try:
        config, warnings = read_config(path)
    except ConfigError as error:
        return str(error), 2
    return to_toml(config, warnings), 0


def to_toml(config: Config, warnings: Iterable[ConfigProblem] = ()) -> str:
    """Return ``config`` as ``cellar.toml`` text, ``warnings`` as comments at the top."""
    lines = [f"# cellar.toml converted from {config.source}"]
    notes = list(warnings)
    if notes:
        lines.append("# Ignored or left out, as the source asked:")
        lines.extend(f"#   {note}" for note in notes)
    lines += ["", "[mirror]", *_mirror(config)]
    lines += ["", "[packages]", *_packages(config)]
    lines += ["", "[targets]", *_targets(config)]
    filters = _filters(config.filters)
    if filters:
        lines += ["", "[filters]", *filters]
    return "\n".join(lines) + "\n"


def _mirror(config: Config) -> list[str]:
    mirror = config.mirror
    lines = [f"directory = {_string(str(mirror.directory))}"]
    if mirror.upstream != default_upstream():
        lines.append(f"upstream = {_string(mirror.upstream)}")
    lines += [
        f"workers = {mirror.workers}",
        f"timeout = {mirror.timeout!r}",
        f"retries = {mirror.retries}",
    ]
    flags = {
        "json-api": mirror.json_api,
        "hash-index": mirror.hash_index,
        "diff-append-epoch": mirror.diff_append_epoch,
        "stop-on-error": mirror.stop_on_error,
        "prune": mirror.prune,
    }
    lines += [f"{key} = true" for key, value in flags.items() if value]
    if mirror.diff_file is not None:
        lines.append(f"diff-file = {_string(str(mirror.diff_file))}")
    if mirror.proxy is not None:
        lines.append(f"proxy = {_string(mirror.proxy)}")
    return lines


def _packages(config: Config) -> list[str]:
    packages = config.packages
    return [
        *_list("requirements", (str(r) for r in packages.requirements)),
        f"dependencies = {_bool(packages.dependencies)}",
        f"versions = {packages.versions}",
        f"prereleases = {_bool(packages.prereleases)}",
        f"sdists = {_string(packages.sdists)}",
    ]


def _targets(config: Config) -> list[str]:
    if not config.targets:
        return [
            "# every file of the chosen releases, whatever Python or platform it is for",
            "all = true",
        ]
    pythons = dict.fromkeys(target.python for target in config.targets)
    platforms = dict.fromkeys(target.platform for target in config.targets)
    return [
        *_list("python", pythons),
        *_list("platforms", platforms),
        f"implementation = {_string(config.targets[0].implementation)}",
    ]


def _filters(filters: Filters) -> list[str]:
    """Return the ``[filters]`` lines that differ from no filtering."""
    lines: list[str] = []
    lines += _list("block-projects", sorted(filters.block_projects))
    lines += _list("project-patterns", filters.project_patterns)
    lines += _list("allow-releases", (str(r) for r in filters.allow_releases))
    lines += _list("pinned-releases", (str(r) for r in filters.pinned_releases))
    lines += _list("block-releases", (str(r) for r in filters.block_releases))
    lines += _list("release-patterns", filters.release_patterns)
    if filters.drop_prereleases:
        lines.append("drop-prereleases = true")
    lines += _list("prerelease-projects", sorted(filters.prerelease_projects))
    if filters.latest:
        lines += [f"latest = {filters.latest}", f"latest-by = {_string(filters.latest_by)}"]
    lines += _list("exclude-platforms", filters.exclude_platforms)
    if filters.max_project_size:
        lines.append(f"max-project-size = {filters.max_project_size}")
    lines += _list("size-exempt", sorted(filters.size_exempt))
    return lines


def _list(key: str, values: Iterable[str]) -> list[str]:
    items = list(values)
    if not items:
        return []
    if len(items) == 1:
        return [f"{key} = [{_string(items[0])}]"]
    return [f"{key} = [", *(f"    {_string(item)}," for item in items), "]"]


def _string(value: str) -> str:
    """Return ``value`` as a TOML string: literal (no escapes) when it can be, else basic."""
    if "'" not in value and all(ord(char) >= 32 and char != "\x7f" for char in value):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)


def _bool(value: bool) -> str:
    return "true" if value else "false"
