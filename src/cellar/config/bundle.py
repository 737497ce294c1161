"""The ``[bundle]`` table: the keys that sign bundles (outer side) and the keys trusted to have
signed them (inner side), and how large a volume may be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cellar.config.checks import ConfigProblem, checked_size, get_value, resolve_path

BUNDLE_KEYS: Final = frozenset({"signing-key", "trusted-keys", "volume-size"})
#: A DVD's worth by default: media and data diodes have limits.
DEFAULT_VOLUME_SIZE: Final = 4 * 1000**3


@dataclass(frozen=True, slots=True)
class BundleSettings:
    """The ``[bundle]`` table, validated; paths absolute."""

    signing_key: Path | None = None
    trusted_keys: tuple[Path, ...] = ()
    volume_size: int = DEFAULT_VOLUME_SIZE


def bundle_table(
    table: Mapping[str, Any], base: Path, problems: list[ConfigProblem]
) -> BundleSettings:
    """Validate ``[bundle]``; relative paths are taken relative to the directory ``base``."""
    signing = get_value(table, "bundle", "signing-key", str, problems)
    trusted = get_value(table, "bundle", "trusted-keys", list, problems) or []
    paths: list[Path] = []
    for index, value in enumerate(trusted):
        if not isinstance(value, str) or not value.strip():
            problems.append(
                ConfigProblem(f"[bundle] trusted-keys[{index}]", "must be a key file's path")
            )
        else:
            paths.append(resolve_path(base, value))
    size = get_value(table, "bundle", "volume-size", (int, str), problems)
    volume = checked_size(size, "[bundle] volume-size", problems) if size is not None else 0
    if size is not None and 0 <= volume < 1 << 20:
        problems.append(ConfigProblem("[bundle] volume-size", "must be 1 MiB or more"))
    return BundleSettings(
        signing_key=resolve_path(base, signing) if signing else None,
        trusted_keys=tuple(paths),
        volume_size=volume or DEFAULT_VOLUME_SIZE,
    )
