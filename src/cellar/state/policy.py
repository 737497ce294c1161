"""The state's record of the policy's decisions: when each file without an upload time was
first seen, what each project has refused now (replaced whenever its page is judged), and
the files taken out of the tree because a newer decision refused them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cellar.state.schema import now, transaction


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    """A refusal as recorded: ``filename`` empty for a whole release; ``since`` when it was
    first decided."""

    project: str
    version: str
    filename: str
    rule: str
    detail: str
    until: float | None
    since: str


@dataclass(frozen=True, slots=True)
class WithdrawnRecord:
    """A file taken out of the tree: where it was listed (``path``), where it is kept
    (``aside``), and why."""

    path: str
    aside: str
    project: str
    version: str
    reason: str
    at: str


class PolicyLog:
    """The policy's records; a part of ``MirrorState``."""

    _db: sqlite3.Connection

    def first_seen(self, project: str) -> dict[str, float]:
        """When each of ``project``'s files without an upload time was first seen."""
        rows = self._db.execute(
            "SELECT filename, seen FROM first_seen WHERE project = ?", (project,)
        ).fetchall()
        return {filename: seen for filename, seen in rows}

    def mirrored_since(self, project: str) -> dict[str, float]:
        """When each of ``project``'s files in the mirror was placed (its recorded mtime): a
        file mirrored before the policy asked for sightings was seen by then at the latest."""
        rows = self._db.execute(
            "SELECT path, mtime_ns FROM files WHERE project = ?", (project,)
        ).fetchall()
        return {path.rpartition("/")[2]: mtime_ns / 1e9 for path, mtime_ns in rows}

    def record_first_seen(self, project: str, seen: Mapping[str, float]) -> None:
        """Keep the first sightings ``seen`` (an earlier one of the same file stays)."""
        with transaction(self._db):
            self._db.executemany(
                "INSERT OR IGNORE INTO first_seen VALUES (?, ?, ?)",
                [(project, filename, when) for filename, when in seen.items()],
            )

    def record_refusals(
        self, judged: Iterable[str], refusals: Mapping[str, Iterable[RefusalRecord]]
    ) -> list[RefusalRecord]:
        """Replace the refusals of the ``judged`` projects by ``refusals``; return those that
        are new (a refusal kept from before keeps its ``since``)."""
        new: list[RefusalRecord] = []
        with transaction(self._db):
            for project in judged:
                before = {
                    (r[0], r[1], r[2]): r[3]
                    for r in self._db.execute(
                        "SELECT version, filename, rule, since FROM refusals WHERE project = ?",
                        (project,),
                    )
                }
                self._db.execute("DELETE FROM refusals WHERE project = ?", (project,))
                for record in refusals.get(project, ()):
                    since = before.get((record.version, record.filename, record.rule))
                    if since is None:
                        new.append(record)
                    self._db.execute(
                        "INSERT OR REPLACE INTO refusals VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            project,
                            record.version,
                            record.filename,
                            record.rule,
                            record.detail,
                            record.until,
                            since or record.since,
                        ),
                    )
        return new

    def refusals(self, project: str | None = None) -> list[RefusalRecord]:
        """The refusals in force (of ``project``, or of every project), in order. A state
        from before these records (served read-only, not yet migrated) has none."""
        query = "SELECT project, version, filename, rule, detail, until, since FROM refusals"
        try:
            if project is None:
                rows = self._db.execute(f"{query} ORDER BY project, version, filename").fetchall()
            else:
                rows = self._db.execute(
                    f"{query} WHERE project = ? ORDER BY version, filename", (project,)
                ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [RefusalRecord(*row) for row in rows]

    def refused_projects(self) -> list[str]:
        """The projects with refusals in force."""
        return [row[0] for row in self._db.execute("SELECT DISTINCT project FROM refusals")]

    def forget_refusals(self, projects: Iterable[str]) -> None:
        """Drop the refusals of ``projects`` (no longer in the selection)."""
        with transaction(self._db):
            self._db.executemany("DELETE FROM refusals WHERE project = ?", [(p,) for p in projects])

    def record_withdrawn(self, records: Iterable[WithdrawnRecord]) -> None:
        with transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO withdrawn VALUES (?, ?, ?, ?, ?, ?)",
                [(r.path, r.aside, r.project, r.version, r.reason, r.at or now()) for r in records],
            )

    def forget_withdrawn(self, paths: Iterable[str]) -> None:
        with transaction(self._db):
            self._db.executemany("DELETE FROM withdrawn WHERE path = ?", [(p,) for p in paths])

    def withdrawn(self) -> list[WithdrawnRecord]:
        """The files taken out of the tree, oldest first."""
        try:
            rows = self._db.execute(
                "SELECT path, aside, project, version, reason, at FROM withdrawn ORDER BY at, path"
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [WithdrawnRecord(*row) for row in rows]
