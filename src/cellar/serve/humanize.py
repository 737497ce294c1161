"""Numbers, sizes, times and durations as people read them on the pages for people (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

_UNITS: Final = ("kB", "MB", "GB", "TB", "PB")


def format_size(size: int) -> str:
    """Return ``size`` bytes for people, in decimal units: ``"812 bytes"``, ``"1.5 MB"``."""
    if size < 1000:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in _UNITS:
        value /= 1000
        if value < 999.95 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_count(count: int) -> str:
    """Return ``count`` with thousands separated: ``"12,345"``."""
    return f"{count:,}"


def format_time(stamp: str) -> str:
    """Return an ISO 8601 time as ``"2025-01-31 14:05 UTC"``; text that is none, as it is."""
    moment = parse_time(stamp)
    if moment is None:
        return stamp
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_duration(seconds: float) -> str:
    """Return a duration for people: ``"42 s"``, ``"3 min 12 s"``, ``"2 h 5 min"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def format_age(stamp: str, now: datetime) -> str:
    """Return how long before ``now`` the ISO 8601 time ``stamp`` was: ``"5 min ago"``."""
    moment = parse_time(stamp)
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    if seconds < 60:  # a clock a little ahead of ours too
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def parse_time(stamp: str) -> datetime | None:
    """Return the ISO 8601 time ``stamp`` (UTC when it names no zone), None if it is none."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
