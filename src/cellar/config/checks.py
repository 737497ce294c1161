"""Checks shared by Cellar's configuration readers (TOML and bandersnatch INI), and its errors.

Each check returns a usable value and appends a ``ConfigProblem`` (key and message) for what
is wrong, so a reader reports every problem at once; ``ConfigError`` carries them all.
``filters_table`` reads the TOML ``[filters]`` table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from cellar.errors import CellarError
from cellar.filters import Filters, check_pattern, parse_size, platform_rules
from cellar.select.targets import InvalidTargetError, TargetEnvironment, host_target, targets_for

_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a configuration: the key (``[table] key``) and what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(CellarError):
    """A configuration that cannot be used; ``problems`` lists every fault found in ``path``."""

    def __init__(self, path: Path, problems: tuple[ConfigProblem, ...]) -> None:
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"invalid configuration {path}:\n{lines}")
        self.path = path
        self.problems = problems


_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list"}


def get_value(
    table: Mapping[str, Any],
    table_name: str,
    key: str,
    kind: Any,
    problems: list[ConfigProblem],
    *,
    required: bool = False,
) -> Any:
    """Return ``table[key]`` if it is of ``kind`` (a type or tuple of types), else ``None``
    with a problem noted (also when it is missing and ``required``)."""
    if key not in table:
        if required:
            problems.append(ConfigProblem(f"[{table_name}] {key}", "missing (required)"))
        return None
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a boolean is not a number in a config file.
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        wanted = "a number" if float in kinds else _TYPE_NAMES.get(kinds[0], kinds[0].__name__)
        problems.append(ConfigProblem(f"[{table_name}] {key}", f"must be {wanted}, not {value!r}"))
        return None
    return value


def resolve_path(base: Path, path: str) -> Path:
    """Return ``path`` (``~`` expanded) made absolute relative to the directory ``base``."""
    return (base / Path(path).expanduser()).absolute()


def check_range(
    value: int | None,
    key: str,
    problems: list[ConfigProblem],
    *,
    low: int,
    high: int,
    default: int,
) -> int:
    """Return ``value`` (``default`` if ``None``), noting a problem if outside ``low..high``."""
    if value is None:
        return default
    if not low <= value <= high:
        problems.append(ConfigProblem(key, f"must be {low} to {high}, not {value}"))
    return value


def check_timeout(
    value: float | None, key: str, problems: list[ConfigProblem], *, default: float
) -> float:
    """Return ``value`` in seconds (``default`` if ``None``), noting a problem unless above 0."""
    if value is None:
        return default
    if not value > 0:
        problems.append(ConfigProblem(key, f"must be above 0, not {value}"))
    return float(value)


def selected(
    requirements: tuple[Requirement, ...],
    filters: Filters,
    key: str,
    warnings: list[ConfigProblem] | None,
) -> tuple[Requirement, ...]:
    """Return ``requirements`` without the projects ``filters`` never mirror, each one left
    out noted in ``warnings`` under ``key``."""
    kept: list[Requirement] = []
    for requirement in requirements:
        reason = filters.project_excluded(requirement.name)
        if reason is None:
            kept.append(requirement)
        elif warnings is not None:
            message = f"{requirement.name!r} is not mirrored: {reason}"
            warnings.append(ConfigProblem(key, message))
    return tuple(kept)


def filters_table(table: Mapping[str, Any], problems: list[ConfigProblem]) -> Filters:
    """Validate ``[filters]``: what to leave out, with bandersnatch's filter semantics."""

    def strings(key: str) -> list[str]:
        values = get_value(table, "filters", key, list, problems) or []
        if all(isinstance(value, str) for value in values):
            return values
        problems.append(ConfigProblem(f"[filters] {key}", "must be a list of strings"))
        return []

    def names(key: str) -> frozenset[NormalizedName]:
        return frozenset(canonicalize_name(name) for name in strings(key))

    def requirements(key: str) -> tuple[Requirement, ...]:
        where = f"[filters] {key}"
        return filter_requirements(strings(key), where, problems)

    def patterns(key: str) -> tuple[str, ...]:
        return checked(strings(key), check_pattern, f"[filters] {key}", problems)

    latest = get_value(table, "filters", "latest", int, problems) or 0
    if latest < 0:
        problems.append(ConfigProblem("[filters] latest", f"must be 0 (all) or more: {latest}"))
    latest_by = get_value(table, "filters", "latest-by", str, problems) or "version"
    if latest_by not in ("version", "time"):
        problems.append(
            ConfigProblem("[filters] latest-by", f'must be "version" or "time", not {latest_by!r}')
        )
    size = get_value(table, "filters", "max-project-size", (int, str), problems)
    platforms = checked(
        strings("exclude-platforms"),
        lambda tag: platform_rules([tag]),
        "[filters] exclude-platforms",
        problems,
    )
    return Filters(
        block_projects=names("block-projects"),
        project_patterns=patterns("project-patterns"),
        allow_releases=requirements("allow-releases"),
        pinned_releases=requirements("pinned-releases"),
        block_releases=requirements("block-releases"),
        release_patterns=patterns("release-patterns"),
        drop_prereleases=bool(get_value(table, "filters", "drop-prereleases", bool, problems)),
        prerelease_projects=names("prerelease-projects"),
        latest=max(latest, 0),
        latest_by="time" if latest_by == "time" else "version",
        exclude_platforms=platforms,
        max_project_size=checked_size(size, "[filters] max-project-size", problems),
        size_exempt=names("size-exempt"),
    )


def checked(
    values: Iterable[_V], check: Callable[[_V], object], key: str, problems: list[ConfigProblem]
) -> tuple[_V, ...]:
    """Return the ``values`` that ``check`` accepts; a ``ValueError`` it raises is a problem."""
    accepted: list[_V] = []
    for value in values:
        try:
            check(value)
        except ValueError as error:
            problems.append(ConfigProblem(key, str(error)))
        else:
            accepted.append(value)
    return tuple(accepted)


def checked_size(value: int | str | None, key: str, problems: list[ConfigProblem]) -> int:
    """Return a size in bytes (0 for none) from a number or a text such as ``1G``."""
    try:
        size = parse_size(value) if isinstance(value, str) else value or 0
    except ValueError as error:
        problems.append(ConfigProblem(key, str(error)))
        return 0
    if size < 0:
        problems.append(ConfigProblem(key, f"must be 0 (no limit) or more, not {size}"))
    return max(size, 0)


def filter_requirements(
    lines: Iterable[str], key: str, problems: list[ConfigProblem]
) -> tuple[Requirement, ...]:
    """Parse the requirements a release filter lists (name and specifier, any spelling)."""
    parsed: list[Requirement] = []
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problems.append(ConfigProblem(key, f"{line!r} is not a requirement: {error}"))
            continue
        if requirement.url:
            problems.append(ConfigProblem(key, f"{line!r} names a URL, not versions"))
            continue
        parsed.append(requirement)
    return tuple(parsed)


def make_targets(
    pythons: Sequence[str] | None,
    platforms: Sequence[str] | None,
    implementation: str | None,
    key: str,
    problems: list[ConfigProblem],
) -> tuple[TargetEnvironment, ...]:
    """Return every (python, platform) target; what is ``None`` is the running interpreter's
    (the implementation too when either list is), else CPython. An invalid target is a
    problem under ``key`` and the setting that holds the value (``[targets] platforms``)."""
    given = {"platforms": platforms or (), "python": pythons or (), "implementation": ()}
    if implementation is not None:
        given["implementation"] = (implementation,)
    try:
        if pythons is None or platforms is None:
            host = host_target()
            pythons = pythons if pythons is not None else [host.python]
            platforms = platforms if platforms is not None else [host.platform]
            implementation = implementation or host.implementation
        return targets_for(pythons, platforms, implementation or "cpython")
    except InvalidTargetError as error:
        setting = next((name for name, values in given.items() if error.value in values), None)
        problems.append(ConfigProblem(f"{key} {setting}" if setting else key, str(error)))
        return ()


def check_upstream(url: str, key: str, problems: list[ConfigProblem]) -> str:
    """Return the index URL ``url`` ending with ``/``, noting a problem unless it is http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            ConfigProblem(
                key,
                f"must be an http:// or https:// URL of a simple index, not {url!r}",
            )
        )
        return url
    return url if url.endswith("/") else url + "/"


def check_proxy(url: str | None, problems: list[ConfigProblem]) -> str | None:
    """Return the proxy URL ``url`` (None: none), noting a problem unless it is http(s)://host."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        problems.append(
            ConfigProblem(
                "[mirror] proxy",
                "must be http://[user:password@]host:port (a forwarding proxy), "
                f"not {_without_password(url)!r}",
            )
        )
        return None
    return url


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


#: Until pages can be written to ``web/simple/<letter>/<name>/`` (and served, verified and
#: deleted there), a hash-index mirror is refused rather than written in the wrong shape.
