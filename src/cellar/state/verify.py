"""The state's ``cellar verify`` bookkeeping: its runs, and what an unfinished run found intact."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from cellar.state.records import VerifyRun
from cellar.state.schema import now, transaction


class VerifyRunLog:
    """``cellar verify``'s runs and their progress, so that the next run can resume one.

    A part of ``MirrorState``, which provides the connection; not used on its own.
    """

    _db: sqlite3.Connection

    def unfinished_verify_run(self) -> VerifyRun | None:
        """Return the newest ``cellar verify`` run that never finished, if the newest is one."""
        row = self._db.execute(
            "SELECT id, started_at, fast, finished_at FROM verify_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None or row[3] is not None:
            return None
        return VerifyRun(row[0], row[1], bool(row[2]))

    def start_verify_run(self, *, fast: bool) -> int:
        """Record the start of a ``cellar verify`` run and return its id."""
        cursor = self._db.execute(
            "INSERT INTO verify_runs (started_at, fast) VALUES (?, ?)", (now(), int(fast))
        )
        assert cursor.lastrowid is not None  # an INSERT always has one  # noqa: S101
        return cursor.lastrowid

    def record_verified(self, run_id: int, files: Iterable[tuple[str, str, int, int]]) -> None:
        """Remember that run ``run_id`` found ``files`` intact: (path, sha256, size, mtime_ns).

        Committed together, at once: a run killed later keeps them.
        """
        with transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO verified VALUES (?, ?, ?, ?, ?)",
                [(run_id, *file) for file in files],
            )

    def verified_files(self, run_id: int) -> dict[tuple[str, str], tuple[int, int]]:
        """Return what run ``run_id`` verified: (path, sha256) -> (size, mtime_ns) at that time."""
        rows = self._db.execute(
            "SELECT path, sha256, size, mtime_ns FROM verified WHERE run_id = ?", (run_id,)
        )
        return {(path, sha256): (size, mtime) for path, sha256, size, mtime in rows.fetchall()}

    def page_marks(self) -> dict[str, str]:
        """Return the recorded marks of each project's page files (see ``record_page_marks``)."""
        rows = self._db.execute("SELECT name, page_marks FROM projects WHERE page_marks NOT NULL")
        return dict(rows.fetchall())

    def record_page_marks(self, marks: Iterable[tuple[str, str]]) -> None:
        """Remember (project, marks) pairs: what ``stat`` said of each project's page files
        when they were found to be what its listing renders. One transaction."""
        with transaction(self._db):
            self._db.executemany(
                "UPDATE projects SET page_marks = ? WHERE name = ?",
                [(mark, name) for name, mark in marks],
            )

    def finish_verify_run(
        self, run_id: int, *, checked: int | None = None, problems: int | None = None
    ) -> None:
        """Record that run ``run_id`` ended (``None`` counts: abandoned) and drop its progress."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE verify_runs SET finished_at = ?, checked = ?, problems = ? WHERE id = ?",
                (now(), checked, problems, run_id),
            )
            self._db.execute("DELETE FROM verified WHERE run_id = ?", (run_id,))
