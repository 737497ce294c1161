"""The ``[hosted]`` table (docs/hosting.md): who may upload what, names kept for hosting, and the
projects that also take upstream releases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from packaging.utils import NormalizedName, canonicalize_name

from cellar.config.checks import ConfigProblem, checked_size, get_value, resolve_path
from cellar.hosted.model import DEFAULT_MAX_UPLOAD, DEFAULT_UPLOAD_PATH, HostedSettings, NamePattern

HOSTED_KEYS: Final = frozenset(
    {"upload-path", "uploaders", "grants", "reserve", "allow-upstream", "max-upload-size"}
)
_PATTERN = re.compile(r"\*|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?([._-]?\*)?|[A-Za-z0-9]\*")
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_PATH = re.compile(r"/[A-Za-z0-9._~/-]*/")
#: The server's own routes, which an upload path may not take over.
_TAKEN: Final = ("/simple/", "/packages/", "/project/", "/pypi/", "/health/", "/metrics/")


def hosted_table(
    table: Mapping[str, Any], base: Path, problems: list[ConfigProblem]
) -> HostedSettings:
    """Validate ``[hosted]``; relative paths are taken relative to the directory ``base``."""
    uploaders = get_value(table, "hosted", "uploaders", str, problems)
    path = get_value(table, "hosted", "upload-path", str, problems)
    size = get_value(table, "hosted", "max-upload-size", (int, str), problems)
    upload_path = None
    if uploaders is not None:
        upload_path = _upload_path(path if path is not None else DEFAULT_UPLOAD_PATH, problems)
    elif path is not None:
        problems.append(
            ConfigProblem("[hosted] upload-path", "needs [hosted] uploaders: who may upload")
        )
    max_size = checked_size(size, "[hosted] max-upload-size", problems) if size is not None else 0
    return HostedSettings(
        upload_path=upload_path,
        uploaders=resolve_path(base, uploaders) if uploaders else None,
        grants=_grants(table.get("grants"), problems),
        reserve=_patterns(table, "reserve", problems),
        allow_upstream=_names(table, problems),
        max_upload_size=max_size or DEFAULT_MAX_UPLOAD,
    )


def _upload_path(text: str, problems: list[ConfigProblem]) -> str | None:
    path = text if text.endswith("/") else f"{text}/"
    if not _PATH.fullmatch(path) or "//" in path or "/../" in path or "/./" in path:
        problems.append(
            ConfigProblem("[hosted] upload-path", f"must be a path such as /upload/, not {text!r}")
        )
        return None
    if path == "/" or any(path.startswith(taken) for taken in _TAKEN):
        problems.append(
            ConfigProblem("[hosted] upload-path", f"{text!r} is one of the server's own paths")
        )
        return None
    return path


def _pattern(text: str) -> bool:
    return bool(_PATTERN.fullmatch(text))


def _patterns(
    table: Mapping[str, Any], key: str, problems: list[ConfigProblem], *, where: str = ""
) -> tuple[NamePattern, ...]:
    return _pattern_list(table.get(key, []), f"[hosted] {key}{where}", problems)


def _pattern_list(value: Any, key: str, problems: list[ConfigProblem]) -> tuple[NamePattern, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(ConfigProblem(key, f"must be a list of project names, not {value!r}"))
        return ()
    bad = [item for item in value if not _pattern(item)]
    if bad:
        problems.append(
            ConfigProblem(
                key,
                f"{', '.join(map(repr, bad))}: a project name, a prefix ending in * (acme-*), "
                "or * alone",
            )
        )
    return tuple(NamePattern(item) for item in value if _pattern(item))


def _grants(
    value: Any, problems: list[ConfigProblem]
) -> tuple[tuple[str, tuple[NamePattern, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        problems.append(ConfigProblem("[hosted] grants", 'must be a table: user = ["acme-*", ...]'))
        return ()
    grants: dict[str, tuple[NamePattern, ...]] = {}
    for user, patterns in value.items():
        if not user or ":" in user or user == "__token__":
            problems.append(ConfigProblem(f"[hosted.grants] {user!r}", "is not a user name"))
            continue
        grants[user] = _pattern_list(patterns, f"[hosted.grants] {user}", problems)
    return tuple(grants.items())


def _names(table: Mapping[str, Any], problems: list[ConfigProblem]) -> frozenset[NormalizedName]:
    value = table.get("allow-upstream", [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(
            ConfigProblem("[hosted] allow-upstream", f"must be a list of names, not {value!r}")
        )
        return frozenset()
    bad = [item for item in value if not _NAME.fullmatch(item)]
    if bad:
        problems.append(
            ConfigProblem(
                "[hosted] allow-upstream",
                f"{', '.join(map(repr, bad))}: project names only (no patterns)",
            )
        )
    return frozenset(canonicalize_name(item) for item in value if _NAME.fullmatch(item))
