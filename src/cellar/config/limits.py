"""The ``[mirror]`` limits that keep a hostile or broken upstream from hurting the mirror.

``max-page-size`` (bytes a page may have once decoded), ``deadline`` (seconds a page or small
request may take in all), ``file-hosts`` (the hosts files may come from, besides the
upstream's own; unset, any) and ``keep-free`` (the free space left on the mirror's disk). Each
is described, with its default, in docs/configuration.md and docs/security.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cellar.config.checks import ConfigProblem, check_timeout, get_value
from cellar.filters import parse_size

#: The largest page read, once decoded: three times PyPI's root page (40 MB in December 2026;
#: its largest project pages are about 20 MB), far below what would exhaust memory.
DEFAULT_MAX_PAGE_SIZE = 128 << 20
#: The longest a page or metadata request may take in all, however the bytes trickle in.
DEFAULT_DEADLINE = 300.0
LIMIT_KEYS = frozenset({"max-page-size", "deadline", "file-hosts", "keep-free"})
#: Free space kept on the mirror's file system: the state database and the pages of what was
#: downloaded must always fit, so a full disk fails single files, never the run.
DEFAULT_KEEP_FREE = 256 << 20
#: The smallest page limit accepted: below it, ordinary pages would not fit.
_MIN_PAGE_SIZE = 64 << 10


@dataclass(frozen=True, slots=True)
class MirrorLimits:
    """The limits of the ``[mirror]`` table, in bytes and seconds."""

    max_page_size: int = DEFAULT_MAX_PAGE_SIZE
    deadline: float = DEFAULT_DEADLINE
    #: Host names (lower case) files may come from besides the upstream's; None: any host.
    file_hosts: frozenset[str] | None = None
    keep_free: int = DEFAULT_KEEP_FREE


def limits_table(mirror: Mapping[str, Any], problems: list[ConfigProblem]) -> MirrorLimits:
    """Return the limits ``[mirror]`` sets, noting each problem in ``problems``."""
    page = _size(mirror, "max-page-size", DEFAULT_MAX_PAGE_SIZE, problems)
    if page < _MIN_PAGE_SIZE:
        problems.append(
            ConfigProblem("[mirror] max-page-size", f"must be at least 64KiB, not {page} bytes")
        )
    deadline = get_value(mirror, "mirror", "deadline", (int, float), problems)
    hosts = get_value(mirror, "mirror", "file-hosts", list, problems)
    return MirrorLimits(
        max_page_size=page,
        deadline=check_timeout(deadline, "[mirror] deadline", problems, default=DEFAULT_DEADLINE),
        file_hosts=_hosts(hosts, problems) if hosts is not None else None,
        keep_free=_size(mirror, "keep-free", DEFAULT_KEEP_FREE, problems),
    )


def _size(mirror: Mapping[str, Any], key: str, default: int, problems: list[ConfigProblem]) -> int:
    value = get_value(mirror, "mirror", key, (int, str), problems)
    if value is None:
        return default
    try:
        size = parse_size(value) if isinstance(value, str) else int(value)
    except ValueError as error:
        problems.append(ConfigProblem(f"[mirror] {key}", str(error)))
        return default
    if size < 0:
        problems.append(ConfigProblem(f"[mirror] {key}", f"must be 0 or more, not {size}"))
        return default
    return size


def _hosts(values: list[Any], problems: list[ConfigProblem]) -> frozenset[str]:
    hosts = set()
    for value in values:
        if not isinstance(value, str) or not value.strip() or any(c in value for c in "/:@ "):
            problems.append(ConfigProblem("[mirror] file-hosts", f"{value!r} is not a host name"))
        else:
            hosts.add(value.strip().lower().rstrip("."))
    return frozenset(hosts)
