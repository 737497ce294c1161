"""Read ``cellar.toml`` into one frozen, validated ``Config``; every problem is collected and named.

Nothing below the CLI looks up configuration keys by string: this module is the only place that
knows the TOML's shape (with ``packages``, ``serve`` and ``checks`` for the
tables they read; ``cellar.config.ini`` knows a bandersnatch INI file's, and
``load_config`` hands such files to it). Relative paths are taken relative to the configuration
file. Problems raise ``ConfigError``; what is accepted but ignored is logged as a warning on
``cellar.config``.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from cellar.config.bundle import BUNDLE_KEYS, bundle_table
from cellar.config.checks import (
    ConfigError,
    ConfigProblem,
    check_proxy,
    check_range,
    check_timeout,
    check_upstream,
    filters_table,
    get_value,
    resolve_path,
    selected,
)
from cellar.config.hosted import HOSTED_KEYS, hosted_table
from cellar.config.ini import looks_like_ini, parse_ini
from cellar.config.limits import LIMIT_KEYS, limits_table
from cellar.config.model import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    INI_SUFFIXES,
    ROOT_SERIALS,
    Config,
    MirrorSettings,
    RootSerials,
    default_upstream,
)
from cellar.config.packages import (
    PACKAGES_KEYS,
    TARGETS_KEYS,
    packages_table,
    targets_table,
)
from cellar.config.policy import POLICY_KEYS, policy_table
from cellar.config.serve import SERVE_KEYS, serve_table
from cellar.config.storage import STORAGE_KEYS, storage_table

__all__ = ["load_config", "parse_config", "read_config"]

log = logging.getLogger("cellar.config")


_KNOWN = {
    "mirror": {
        *("directory", "upstream", "workers", "timeout", "retries", "json-api", "hash-index"),
        *("diff-file", "diff-append-epoch", "stop-on-error", "prune", "root-serials", "proxy"),
        *LIMIT_KEYS,
    },
    "packages": PACKAGES_KEYS,
    "targets": TARGETS_KEYS,
    "serve": SERVE_KEYS,
    "storage": STORAGE_KEYS,
    "bundle": BUNDLE_KEYS,
    "policy": POLICY_KEYS,
    "hosted": HOSTED_KEYS,
    "filters": {
        *("block-projects", "project-patterns", "allow-releases", "pinned-releases"),
        *("block-releases", "release-patterns", "drop-prereleases", "prerelease-projects"),
        *("latest", "latest-by", "exclude-platforms", "max-project-size", "size-exempt"),
    },
}


def load_config(path: Path) -> Config:
    """Read and validate the configuration at ``path``, logging what it asks that is ignored.

    A ``.conf``/``.ini``/``.cfg`` file, or one not named ``.toml`` that is not TOML but reads as
    INI with a ``[mirror]`` section, is a bandersnatch configuration (``cellar.config.ini``);
    anything else is ``cellar.toml``. Raises ``ConfigError`` naming the file and listing every
    problem found.
    """
    config, warnings = read_config(path)
    for warning in warnings:
        log.warning("%s: %s", path, warning)
    return config


def read_config(path: Path) -> tuple[Config, tuple[ConfigProblem, ...]]:
    """Return the configuration at ``path`` and the warnings about it, without logging them.

    Raises ``ConfigError`` as ``load_config`` does.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, (ConfigProblem("", "file not found"),)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, (ConfigProblem("", f"cannot read: {error}"),)) from None

    if path.suffix.lower() in INI_SUFFIXES:
        return parse_ini(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # A .toml file with a typo must get the TOML error, not be read as INI.
        if path.suffix.lower() != ".toml" and looks_like_ini(text):
            return parse_ini(text, path)
        raise ConfigError(path, (ConfigProblem("", f"not valid TOML: {error}"),)) from None
    warnings: list[ConfigProblem] = []
    return parse_config(data, path, warnings), tuple(warnings)


def parse_config(
    data: Mapping[str, Any], source: Path, warnings: list[ConfigProblem] | None = None
) -> Config:
    """Validate decoded TOML ``data`` read from ``source`` into a ``Config``.

    What is accepted but left out (a requirement the filters exclude) is appended to
    ``warnings``. Raises ``ConfigError`` listing every problem, not only the first.
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
    base = source.parent if source.parent != Path() else Path.cwd()

    directory = get_value(mirror, "mirror", "directory", str, problems, required=True)
    upstream = get_value(mirror, "mirror", "upstream", str, problems) or default_upstream()
    workers = get_value(mirror, "mirror", "workers", int, problems)
    timeout = get_value(mirror, "mirror", "timeout", (int, float), problems)
    retries = get_value(mirror, "mirror", "retries", int, problems)
    diff_file = get_value(mirror, "mirror", "diff-file", str, problems)
    proxy = check_proxy(get_value(mirror, "mirror", "proxy", str, problems), problems)
    root_serials = get_value(mirror, "mirror", "root-serials", str, problems) or "auto"
    if root_serials not in ROOT_SERIALS:
        choices = ", ".join(repr(choice) for choice in ROOT_SERIALS)
        problems.append(
            ConfigProblem(
                "[mirror] root-serials", f"must be one of {choices}, not {root_serials!r}"
            )
        )
    flags = {
        key: bool(get_value(mirror, "mirror", key, bool, problems))
        for key in ("json-api", "hash-index", "diff-append-epoch", "stop-on-error", "prune")
    }
    if directory is not None and not directory.strip():
        problems.append(ConfigProblem("[mirror] directory", "must not be empty"))
    if diff_file is not None and not diff_file.strip():
        problems.append(ConfigProblem("[mirror] diff-file", "must not be empty"))
    upstream = check_upstream(upstream, "[mirror] upstream", problems)
    workers = check_range(
        workers, "[mirror] workers", problems, low=1, high=256, default=DEFAULT_WORKERS
    )
    timeout = check_timeout(timeout, "[mirror] timeout", problems, default=DEFAULT_TIMEOUT)
    retries = check_range(
        retries, "[mirror] retries", problems, low=0, high=20, default=DEFAULT_RETRIES
    )
    limits = limits_table(mirror, problems)
    filters = filters_table(_table(data, "filters"), problems)
    package_settings = packages_table(_table(data, "packages"), base, problems)
    targets = targets_table(_table(data, "targets"), problems)
    serve = serve_table(_table(data, "serve"), base, problems)
    storage = storage_table(_table(data, "storage"), problems)
    bundle = bundle_table(_table(data, "bundle"), base, problems)
    policy = policy_table(_table(data, "policy"), base, problems)
    hosted = hosted_table(_table(data, "hosted"), base, problems)
    if not targets and package_settings.dependencies and not problems:
        problems.append(
            ConfigProblem(
                "[targets] all",
                "needs [packages] dependencies = false: the dependency closure is resolved "
                "for real targets; list them in [targets] python and platforms instead",
            )
        )

    if problems:
        raise ConfigError(source, tuple(problems))
    assert directory is not None  # a missing directory is a problem above  # noqa: S101
    settings = MirrorSettings(
        directory=resolve_path(base, directory),
        upstream=upstream,
        workers=workers,
        timeout=timeout,
        retries=retries,
        json_api=flags["json-api"],
        hash_index=flags["hash-index"],
        diff_file=resolve_path(base, diff_file) if diff_file else None,
        diff_append_epoch=flags["diff-append-epoch"],
        stop_on_error=flags["stop-on-error"],
        prune=flags["prune"],
        root_serials=cast(RootSerials, root_serials),
        limits=limits,
        proxy=proxy,
        storage=storage,
    )
    requirements = selected(
        package_settings.requirements, filters, "[packages] requirements", warnings
    )
    sets = tuple(
        dataclasses.replace(
            group, requirements=selected(group.requirements, filters, group.source, warnings)
        )
        for group in package_settings.sets
    )
    return Config(
        source=source,
        mirror=settings,
        packages=dataclasses.replace(package_settings, requirements=requirements, sets=sets),
        targets=targets,
        filters=filters,
        serve=serve,
        bundle=bundle,
        policy=policy,
        hosted=hosted,
    )


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    return value if isinstance(value, Mapping) else {}
