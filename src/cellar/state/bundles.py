"""The record of the bundles an inner mirror has applied (``.cellar/bundles/imported.json``):
the last one's id, sequence and time, and every id applied. Written by ``cellar import``; read
by it (the sequence) and by the pages for people (the last bundle and when)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cellar.tree.atomic import atomic_write

RECORD: Final = Path(".cellar") / "bundles" / "imported.json"


@dataclass(frozen=True, slots=True)
class AppliedBundle:
    """The last bundle applied: its sequence number, id, and when (ISO 8601, UTC)."""

    sequence: int
    bundle: str
    applied_at: str


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """The record of mirror directory ``directory``."""

    directory: Path

    @property
    def path(self) -> Path:
        return self.directory / RECORD

    def read(self) -> tuple[AppliedBundle | None, list[str]]:
        """The last bundle applied (None before the first) and every id applied."""
        try:
            document = json.loads(self.path.read_bytes())
            last = AppliedBundle(
                int(document["sequence"]), str(document["last"]), str(document["applied_at"])
            )
            return last, [str(bundle) for bundle in document["applied"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None, []

    def note(self, bundle: str, sequence: int, *, now: datetime | None = None) -> None:
        """Record that bundle ``bundle`` (number ``sequence``) was applied."""
        _, applied = self.read()
        when = (now or datetime.now(UTC)).replace(microsecond=0).isoformat()
        document = {
            "last": bundle,
            "sequence": sequence,
            "applied_at": when,
            "applied": [*applied, bundle],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(document).encode())
