"""Quantities as people read them in logs and summaries (pure)."""

from __future__ import annotations


def human_bytes(size: float) -> str:
    """Return ``size`` in bytes as a short decimal string (``"1.5 MB"``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError  # pragma: no cover - the loop always returns


def counted(count: int, noun: str) -> str:
    """Return ``count`` with ``noun``, plural but for one: ``1 file``, ``2 files``, ``0 files``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
