"""Read ``cellar.toml`` into one frozen, validated ``Config``; every problem is collected and named.

Nothing below the CLI looks up configuration keys by string: this module is the only place that
knows the TOML's shape. Relative paths are taken relative to the configuration file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from pypi_simple import PYPI_SIMPLE_ENDPOINT

from cellar.errors import CellarError
from cellar.select.sources import read_pylock, read_pyproject, read_requirements_file
from cellar.select.targets import InvalidTargetError, TargetEnvironment, host_target, targets_for

#: Where ``cellar`` looks for its configuration when neither ``--config`` nor the environment
#: variable names one.
DEFAULT_CONFIG = Path("cellar.toml")
CONFIG_ENV = "CELLAR_CONFIG"

#: The upstream used when the configuration names none: PyPI's Simple API, from pypi-simple.
DEFAULT_UPSTREAM = PYPI_SIMPLE_ENDPOINT
DEFAULT_WORKERS = 10
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3


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


@dataclass(frozen=True, slots=True)
class MirrorSettings:
    """The ``[mirror]`` table: where the mirror lives and how to talk to the upstream."""

    directory: Path
    upstream: str = DEFAULT_UPSTREAM
    workers: int = DEFAULT_WORKERS
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES

    @property
    def web_root(self) -> Path:
        """The directory that is served: ``<directory>/web``."""
        return self.directory / "web"


SdistPolicy = Literal["all", "needed", "none"]
SDIST_POLICIES: tuple[SdistPolicy, ...] = ("all", "needed", "none")


@dataclass(frozen=True, slots=True)
class PackageSettings:
    """The ``[packages]`` table: what to mirror, from all requirement sources together."""

    requirements: tuple[Requirement, ...] = ()
    constraints: tuple[Requirement, ...] = ()
    dependencies: bool = True
    versions: int = 1
    prereleases: bool = False
    sdists: SdistPolicy = "needed"


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, validated configuration, and the file it was read from."""

    source: Path
    mirror: MirrorSettings
    packages: PackageSettings = field(default_factory=PackageSettings)
    targets: tuple[TargetEnvironment, ...] = ()


_KNOWN = {
    "mirror": {"directory", "upstream", "workers", "timeout", "retries"},
    "packages": {
        "requirements",
        "requirements-files",
        "pyproject-files",
        "pylock-files",
        "dependencies",
        "versions",
        "prereleases",
        "sdists",
    },
    "targets": {"python", "platforms", "implementation"},
}


def config_path(explicit: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """Return the config file to read: ``explicit``, else ``$CELLAR_CONFIG``, else the default."""
    if explicit:
        return Path(explicit)
    from_env = environ.get(CONFIG_ENV)
    return Path(from_env) if from_env else DEFAULT_CONFIG


def load_config(path: Path) -> Config:
    """Read and validate the TOML file at ``path``.

    Raises ``ConfigError`` naming the file and listing every problem found.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, (ConfigProblem("", "file not found"),)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, (ConfigProblem("", f"cannot read: {error}"),)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, (ConfigProblem("", f"not valid TOML: {error}"),)) from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], source: Path) -> Config:
    """Validate decoded TOML ``data`` read from ``source`` into a ``Config``.

    Raises ``ConfigError`` listing every problem, not only the first.
    """
    problems: list[ConfigProblem] = []
    for table, value in data.items():
        if table not in _KNOWN:
            known = ", ".join(f"[{name}]" for name in sorted(_KNOWN))
            problems.append(ConfigProblem(f"[{table}]", f"unknown table (known: {known})"))
        elif not isinstance(value, Mapping):
            problems.append(ConfigProblem(f"[{table}]", "must be a table"))
        else:
            for key in value:
                if key not in _KNOWN[table]:
                    known = ", ".join(sorted(_KNOWN[table]))
                    problems.append(
                        ConfigProblem(f"[{table}] {key}", f"unknown key (known: {known})")
                    )
    mirror = _table(data, "mirror")
    packages = _table(data, "packages")
    base = source.parent if source.parent != Path() else Path.cwd()

    directory = _get(mirror, "mirror", "directory", str, problems, required=True)
    upstream = _get(mirror, "mirror", "upstream", str, problems) or DEFAULT_UPSTREAM
    workers = _get(mirror, "mirror", "workers", int, problems)
    timeout = _get(mirror, "mirror", "timeout", (int, float), problems)
    retries = _get(mirror, "mirror", "retries", int, problems)
    if directory is not None and not directory.strip():
        problems.append(ConfigProblem("[mirror] directory", "must not be empty"))
    upstream = _check_upstream(upstream, problems)
    if workers is not None and not 1 <= workers <= 256:
        problems.append(ConfigProblem("[mirror] workers", f"must be 1 to 256, not {workers}"))
    if timeout is not None and not timeout > 0:
        problems.append(ConfigProblem("[mirror] timeout", f"must be above 0, not {timeout}"))
    if retries is not None and not 0 <= retries <= 20:
        problems.append(ConfigProblem("[mirror] retries", f"must be 0 to 20, not {retries}"))
    package_settings = _packages(packages, base, problems)
    targets = _targets(_table(data, "targets"), problems)

    if problems:
        raise ConfigError(source, tuple(problems))
    assert directory is not None  # a missing directory is a problem above  # noqa: S101
    settings = MirrorSettings(
        directory=(base / Path(directory).expanduser()).absolute(),
        upstream=upstream,
        workers=workers if workers is not None else DEFAULT_WORKERS,
        timeout=float(timeout) if timeout is not None else DEFAULT_TIMEOUT,
        retries=retries if retries is not None else DEFAULT_RETRIES,
    )
    return Config(
        source=source,
        mirror=settings,
        packages=package_settings,
        targets=targets,
    )


def _packages(
    table: Mapping[str, Any], base: Path, problems: list[ConfigProblem]
) -> PackageSettings:
    """Validate ``[packages]`` and read every requirement source it names."""
    requirements = list(
        _parse_requirements(_get(table, "packages", "requirements", list, problems) or [], problems)
    )
    constraints: list[Requirement] = []
    for key, reader in (
        ("requirements-files", _read_requirements_file),
        ("pyproject-files", _read_pyproject),
        ("pylock-files", _read_pylock),
    ):
        for index, path in enumerate(_get(table, "packages", key, list, problems) or []):
            where = f"[packages] {key}[{index}]"
            if not isinstance(path, str):
                problems.append(ConfigProblem(where, f"must be a path string, not {path!r}"))
                continue
            try:
                found, constrained = reader(base / Path(path).expanduser())
            except (CellarError, OSError) as error:
                problems.append(ConfigProblem(where, str(error)))
                continue
            requirements.extend(found)
            constraints.extend(constrained)
    dependencies = _get(table, "packages", "dependencies", bool, problems)
    versions = _get(table, "packages", "versions", int, problems)
    if versions is not None and versions < 0:
        problems.append(
            ConfigProblem("[packages] versions", f"must be 0 (all) or more, not {versions}")
        )
    sdists = _get(table, "packages", "sdists", str, problems)
    if sdists is not None and sdists not in SDIST_POLICIES:
        problems.append(
            ConfigProblem("[packages] sdists", f'must be "all", "needed" or "none", not {sdists!r}')
        )
    return PackageSettings(
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        dependencies=dependencies if dependencies is not None else True,
        versions=versions if versions is not None else 1,
        prereleases=bool(_get(table, "packages", "prereleases", bool, problems)),
        sdists=cast(SdistPolicy, sdists) if sdists in SDIST_POLICIES else "needed",
    )


def _read_requirements_file(path: Path) -> tuple[tuple[Requirement, ...], tuple[Requirement, ...]]:
    source = read_requirements_file(path)
    return source.requirements, source.constraints


def _read_pyproject(path: Path) -> tuple[tuple[Requirement, ...], tuple[Requirement, ...]]:
    return read_pyproject(path), ()


def _read_pylock(path: Path) -> tuple[tuple[Requirement, ...], tuple[Requirement, ...]]:
    return read_pylock(path), ()


def _targets(
    table: Mapping[str, Any], problems: list[ConfigProblem]
) -> tuple[TargetEnvironment, ...]:
    """Validate ``[targets]``; what it leaves out is taken from the running interpreter."""
    pythons = _get(table, "targets", "python", list, problems)
    platforms = _get(table, "targets", "platforms", list, problems)
    implementation = _get(table, "targets", "implementation", str, problems) or "cpython"
    for key, values in (("python", pythons), ("platforms", platforms)):
        if values is not None and not all(isinstance(value, str) for value in values):
            problems.append(ConfigProblem(f"[targets] {key}", "must be a list of strings"))
            return ()
        if values == []:
            problems.append(ConfigProblem(f"[targets] {key}", "must not be empty"))
            return ()
    try:
        if pythons is None or platforms is None:
            host = host_target()
            pythons = pythons if pythons is not None else [host.python]
            platforms = platforms if platforms is not None else [host.platform]
            if "implementation" not in table:
                implementation = host.implementation
        return targets_for(pythons, platforms, implementation)
    except InvalidTargetError as error:
        problems.append(ConfigProblem("[targets]", str(error)))
        return ()


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    return value if isinstance(value, Mapping) else {}


_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list"}


def _get(
    table: Mapping[str, Any],
    table_name: str,
    key: str,
    kind: Any,
    problems: list[ConfigProblem],
    *,
    required: bool = False,
) -> Any:
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


def _check_upstream(url: str, problems: list[ConfigProblem]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(
            ConfigProblem(
                "[mirror] upstream",
                f"must be an http:// or https:// URL of a simple index, not {url!r}",
            )
        )
        return url
    return url if url.endswith("/") else url + "/"


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
