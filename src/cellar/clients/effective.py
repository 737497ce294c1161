"""What ``pip install`` will really use: pip's configuration files and ``PIP_*`` variables taken
together in pip's order, and what in them overrides the mirror or adds another source (pure).

pip (``pip._internal.configuration`` and ``cli.parser``) reads its files in this order, later
ones winning key by key: the global files, the user files (skipped while ``PIP_CONFIG_FILE``
names a file that exists), the site file of the environment pip runs in, then
``PIP_CONFIG_FILE``; ``PIP_CONFIG_FILE=os.devnull`` makes it read no file at all. For
``pip install`` the merged ``[global]`` keys are applied first, then ``[install]`` (so
``[install] index-url`` in any file beats ``[global] index-url`` in every file), then the
``PIP_*`` variables, which beat everything. A list option (``extra-index-url``, ``find-links``)
is replaced by the winning definition, never merged across files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

#: The settings that decide where ``pip install`` looks for distributions.
WHERE_KEYS: Final = ("index-url", "extra-index-url", "find-links", "no-index")
_TRUE: Final = frozenset({"1", "true", "yes", "on", "y", "t"})


@dataclass(frozen=True, slots=True)
class PipSetting:
    """The winning value of one setting, and where it comes from (a file and its section, or
    the variable)."""

    key: str
    value: str
    source: str


def pip_settings(
    files: Sequence[tuple[str, Mapping[str, Mapping[str, str]]]],
    environ: Mapping[str, str],
    command: str = "install",
) -> dict[str, PipSetting]:
    """Return the winning ``WHERE_KEYS`` settings for ``pip <command>``.

    ``files`` are (name, ``{section: {key: value}}``) in pip's reading order, keys normalised
    as pip does (``merge.read_pip_conf``); ``environ`` the variables pip sees.
    """
    found: dict[str, PipSetting] = {}
    for section in ("global", command):
        for name, settings in files:
            for key, value in settings.get(section, {}).items():
                if key in WHERE_KEYS:
                    found[key] = PipSetting(key, value, f"{name} [{section}]")
    for variable, value in environ.items():
        key = variable.removeprefix("PIP_").lower().replace("_", "-")
        if variable.startswith("PIP_") and key in WHERE_KEYS:
            found[key] = PipSetting(key, value, variable)
    return found


def pip_overrides(
    settings: Mapping[str, PipSetting], index_url: str, *, written: str
) -> tuple[str, ...]:
    """Return, in words, each setting that keeps ``pip install`` from using the mirror at
    ``index_url`` alone; settings from the file ``written`` are left out (the merge of that
    file reports its own)."""
    mine = f"{written} ["
    warnings = []
    index = settings.get("index-url")
    if index is not None and not index.source.startswith(mine):
        if _bare(index.value) != _bare(index_url):
            warnings.append(
                f"{index.source} sets index-url = {_bare(index.value)}, which wins over this "
                "file for `pip install`: pip will not use the mirror"
            )
    elif index is None:
        warnings.append(
            "pip reads no index-url from any file or variable (is PIP_CONFIG_FILE hiding the "
            "files?): it will use PyPI"
        )
    for key, what in (
        ("extra-index-url", "searches {} too, beside the mirror"),
        ("find-links", "also takes files from {}"),
    ):
        setting = settings.get(key)
        if setting is not None and setting.value.split() and not setting.source.startswith(mine):
            places = " ".join(_bare(value) for value in setting.value.split())
            warnings.append(f"{setting.source} sets {key}: pip {what.format(places)}")
    no_index = settings.get("no-index")
    if (
        no_index is not None
        and no_index.value.strip().lower() in _TRUE
        and not no_index.source.startswith(mine)
    ):
        warnings.append(f"{no_index.source} sets no-index: pip uses no index at all")
    return tuple(warnings)


def _bare(url: str) -> str:
    """Return ``url`` without a password (never printed) and without a trailing slash."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':')[0]}:***@{host}" if ":" in user else f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
