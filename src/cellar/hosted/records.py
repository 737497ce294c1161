"""Hosted projects' records read from the tree (blocking I/O through ``Storage``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from cellar.hosted.model import (
    RECORDS,
    HostedRecord,
    HostedRecordError,
    load_record,
    name_of_record_key,
    record_key,
)
from cellar.tree.storage import Storage

log = logging.getLogger("cellar.hosted")

METADATA_SUFFIX = ".metadata"


@dataclass(frozen=True, slots=True)
class HostedTree:
    """What the tree hosts: each record by name, and the names whose record is damaged (still
    hosted: a damaged record must never let an upstream project of its name in)."""

    records: dict[NormalizedName, HostedRecord] = field(default_factory=dict)
    damaged: dict[NormalizedName, str] = field(default_factory=dict)

    @property
    def names(self) -> frozenset[NormalizedName]:
        """Every hosted project's normalised name."""
        return frozenset({*self.records, *self.damaged})

    def display_names(self) -> dict[NormalizedName, str]:
        """Every hosted project, to the name its pages show."""
        shown = {name: NormalizedName(name) for name in self.damaged}
        return {**shown, **{name: record.name for name, record in self.records.items()}}


def read_hosted(storage: Storage) -> HostedTree:
    """Read every record under ``hosted/``. Blocking; raises ``OSError`` if the tree cannot
    be listed. A record that cannot be read or parsed is in ``damaged`` (and logged)."""
    found = HostedTree()
    for info in list(storage.objects(RECORDS)):
        name = name_of_record_key(info.key)
        if name is None:
            continue
        body = storage.read(info.key)
        if body is None:
            continue  # removed since it was listed
        try:
            found.records[name] = load_record(body, info.key)
        except HostedRecordError as error:
            found.damaged[name] = str(error)
            log.error("%s; the project stays hosted (never mirrored) until it is repaired", error)
    return found


def hosted_names(storage: Storage) -> set[NormalizedName]:
    """The names of the projects with a record, from the listing alone (nothing read)."""
    return {name for info in storage.objects(RECORDS) if (name := name_of_record_key(info.key))}


def read_record(storage: Storage, name: NormalizedName) -> HostedRecord | None:
    """Return project ``name``'s record, or None if it is not hosted. Raises
    ``HostedRecordError`` for a damaged one."""
    key = record_key(name)
    body = storage.read(key)
    return None if body is None else load_record(body, key)


def iter_paths(tree: HostedTree) -> Iterator[str]:
    """Every key a hosted project's record lists: its files and their ``.metadata`` files."""
    for name, record in tree.records.items():
        for file in record.files:
            yield file.path(name)
            if file.metadata_sha256:
                yield file.path(name) + METADATA_SUFFIX
