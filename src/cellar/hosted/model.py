"""Hosted projects' values (pure): the settings, name patterns, and a project's record.

A hosted project is kept in the tree as one record, ``hosted/<name>.json``: its display name
and, per file, what its pages show and what the mirror's resolver needs (the dependencies read
from the file's metadata). The record is the truth: the project's pages are rendered from it,
and a server without any state (one of many, reading an S3 bucket) learns from it what is
hosted. Files live at ``packages/hosted/<name>/<file name>``, which no mirrored file's path can
be (those start with two hex digits).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from packaging.utils import NormalizedName, canonicalize_name

from cellar.errors import CellarError

#: Where records live in the tree, and the lease that orders every writer of hosted pages and
#: of the root page (``tree/lease.py``).
RECORDS: Final = "hosted/"
LEASE_KEY: Final = "hosted/lock"
#: Where hosted files live in the tree, below which the mirror never prunes.
FILES: Final = "packages/hosted/"
RECORD_FORMAT: Final = 1
#: What a file's DistFile URL starts with as the mirror's resolver sees it: never fetched.
HOSTED_URL: Final = "cellar-hosted:"


class HostedRecordError(CellarError, ValueError):
    """A record in the tree that is not what Cellar writes; ``str()`` says which and why."""


class HostedProjectError(CellarError):
    """A mirror command asked to remove a hosted project, which only its record may change."""

    exit_code = 1

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(
            f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} hosted, not mirrored: "
            "cellar delete removes mirrored projects only, and nothing was deleted (a hosted "
            "project's files are the only copy; docs/hosting.md)"
        )
        self.names = tuple(names)


@dataclass(frozen=True, slots=True)
class HostedFile:
    """One file of a hosted project, as its record keeps it."""

    filename: str
    version: str
    sha256: str
    size: int
    upload_time: str
    uploader: str
    requires_python: str | None = None
    #: The sha256 of the ``.metadata`` file beside it (PEP 658), when there is one.
    metadata_sha256: str | None = None
    #: False, True (yanked without a reason) or the reason (PEP 592).
    yanked: bool | str = False
    requires_dist: tuple[str, ...] = ()
    provides_extra: tuple[str, ...] = ()
    #: An sdist's build requirements (pyproject.toml), for the mirror's closure; None: unknown.
    build_requires: tuple[str, ...] | None = None

    def path(self, project: NormalizedName) -> str:
        """The file's key in the tree."""
        return f"{FILES}{project}/{self.filename}"


@dataclass(frozen=True, slots=True)
class HostedRecord:
    """A hosted project: its name as first uploaded, and its files in upload order."""

    name: str
    files: tuple[HostedFile, ...] = ()

    @property
    def key(self) -> NormalizedName:
        """The project's normalised name."""
        return canonicalize_name(self.name)

    def file(self, filename: str) -> HostedFile | None:
        """The file named ``filename``, if the project has it."""
        return next((file for file in self.files if file.filename == filename), None)

    def versions(self) -> tuple[str, ...]:
        """The versions with files, in upload order, each once."""
        return tuple(dict.fromkeys(file.version for file in self.files))


def record_key(name: NormalizedName) -> str:
    """The key of project ``name``'s record in the tree."""
    return f"{RECORDS}{name}.json"


def name_of_record_key(key: str) -> NormalizedName | None:
    """The project a record key names, or None for any other key below ``hosted/``."""
    if not key.startswith(RECORDS) or not key.endswith(".json"):
        return None
    stem = key[len(RECORDS) : -len(".json")]
    if not stem or "/" in stem or canonicalize_name(stem) != stem:
        return None
    return NormalizedName(stem)


def dump_record(record: HostedRecord) -> bytes:
    """The record as the tree keeps it (JSON, stable order)."""
    files = []
    for file in record.files:
        item: dict[str, Any] = {
            "filename": file.filename,
            "version": file.version,
            "sha256": file.sha256,
            "size": file.size,
            "upload-time": file.upload_time,
            "uploader": file.uploader,
            "requires-python": file.requires_python,
            "metadata-sha256": file.metadata_sha256,
            "yanked": file.yanked,
            "requires-dist": list(file.requires_dist),
            "provides-extra": list(file.provides_extra),
            "build-requires": None if file.build_requires is None else list(file.build_requires),
        }
        files.append(item)
    data = {"format": RECORD_FORMAT, "name": record.name, "files": files}
    return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def load_record(body: bytes, key: str) -> HostedRecord:
    """Parse a record read from ``key``. Raises ``HostedRecordError`` naming the key."""
    try:
        data = json.loads(body)
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {RECORD_FORMAT}")
        files = tuple(_file(item) for item in data["files"])
        record = HostedRecord(_text(data["name"]), files)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise HostedRecordError(f"{key}: not a hosted project's record: {error}") from None
    expected = name_of_record_key(key)
    if expected is not None and record.key != expected:
        raise HostedRecordError(f"{key}: the record names {record.name!r}")
    for file in record.files:
        if "/" in file.filename or file.filename.startswith(".") or not file.filename:
            raise HostedRecordError(f"{key}: the file name {file.filename!r} is not a plain name")
    return record


def _file(item: Mapping[str, Any]) -> HostedFile:
    yanked = item["yanked"]
    if not isinstance(yanked, bool | str):
        raise TypeError(f"yanked is {yanked!r}")
    size = item["size"]
    if type(size) is not int or size < 0:
        raise TypeError(f"size is {size!r}")
    build = item.get("build-requires")
    return HostedFile(
        filename=_text(item["filename"]),
        version=_text(item["version"]),
        sha256=_text(item["sha256"]),
        size=size,
        upload_time=_text(item["upload-time"]),
        uploader=_text(item["uploader"]),
        requires_python=_optional(item.get("requires-python")),
        metadata_sha256=_optional(item.get("metadata-sha256")),
        yanked=yanked,
        requires_dist=tuple(_text(text) for text in item.get("requires-dist", ())),
        provides_extra=tuple(_text(text) for text in item.get("provides-extra", ())),
        build_requires=None if build is None else tuple(_text(text) for text in build),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {value!r}")
    return value


def _optional(value: Any) -> str | None:
    return None if value is None else _text(value)
