"""The ``[hosted]`` table (docs/hosting.md): who may upload what, names kept for hosting, and the
projects that also take upstream releases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.utils import NormalizedName, canonicalize_name

from cellar.config.checks import ConfigProblem, checked_size, get_value, resolve_path

DEFAULT_MAX_UPLOAD: Final = 100 * 1024 * 1024
DEFAULT_UPLOAD_PATH: Final = "/upload/"
MAX_UPLOAD_LIMIT: Final = 5 << 30
_SEPARATORS = re.compile(r"[-_.]+")


@dataclass(frozen=True, slots=True)
class NamePattern:
    """A project name, or a prefix ending in ``*`` (``acme-*``), matched on normalised names;
    ``*`` alone matches every name."""

    text: str

    @property
    def prefix(self) -> str | None:
        """The normalised prefix of a pattern ending in ``*``, else None."""
        if not self.text.endswith("*"):
            return None
        # Normalised as PEP 503 normalises names, its trailing separator kept ("acme-*").
        return _SEPARATORS.sub("-", self.text[:-1]).lower()

    def matches(self, name: str) -> bool:
        """Whether project ``name`` (any spelling) is one this pattern names."""
        normal = canonicalize_name(name)
        prefix = self.prefix
        if prefix is None:
            return normal == canonicalize_name(self.text)
        return normal.startswith(prefix)

    def __str__(self) -> str:
        return self.text


def any_matches(patterns: tuple[NamePattern, ...], name: str) -> bool:
    """Whether one of ``patterns`` matches project ``name``."""
    return any(pattern.matches(name) for pattern in patterns)


@dataclass(frozen=True, slots=True)
class HostedSettings:
    """The ``[hosted]`` table, validated (docs/hosting.md)."""

    #: The path ``cellar serve`` takes uploads at (``/upload/``); None: uploads are off.
    upload_path: str | None = None
    #: An htpasswd file (bcrypt) of the users who may upload; tokens are entries too.
    uploaders: Path | None = None
    #: Each user and the projects (patterns) that user may upload to and yank in; pairs, not
    #: a mapping, so the settings pickle to a server's worker processes and hash.
    grants: tuple[tuple[str, tuple[NamePattern, ...]], ...] = ()
    #: Names kept for hosting before any upload: never mirrored from the upstream.
    reserve: tuple[NamePattern, ...] = ()
    #: Hosted projects whose upstream releases are mirrored and listed with the hosted ones.
    allow_upstream: frozenset[NormalizedName] = frozenset()
    max_upload_size: int = DEFAULT_MAX_UPLOAD

    def reserved(self, name: str) -> bool:
        """Whether project ``name`` is reserved for hosting."""
        return any_matches(self.reserve, name)

    def granted(self, user: str) -> tuple[NamePattern, ...] | None:
        """The patterns ``user`` may upload to; None for a user with no grant entry."""
        return next((patterns for name, patterns in self.grants if name == user), None)

    def may_upload(self, user: str, name: str) -> bool:
        """Whether ``user`` may upload to (and yank in) project ``name``."""
        return any_matches(self.granted(user) or (), name)


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
    if max_size > MAX_UPLOAD_LIMIT:
        problems.append(
            ConfigProblem(
                "[hosted] max-upload-size",
                "may be 5G at most (the most S3 copies into place in one request)",
            )
        )
        max_size = 0
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
    table: Mapping[str, Any], key: str, problems: list[ConfigProblem]
) -> tuple[NamePattern, ...]:
    return _pattern_list(table.get(key, []), f"[hosted] {key}", problems)


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
