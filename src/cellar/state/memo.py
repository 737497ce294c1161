"""The state's record of what a re-run may skip: plan memos, published keys, partial downloads,
and the measured costs it decides by.

A plan memo says: this group of requirements, planned with these settings against these
upstream pages (by the sha256 of each body), selected these projects, each with the key of
its selection. A re-run whose pages are unchanged and whose projects were last published from
those very keys has nothing to do for the group: no page parsed, no file looked at. Every read
here is one query for the whole mirror, never one per project or file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cellar.state.schema import transaction


@dataclass(frozen=True, slots=True)
class PlanMemo:
    """What planning one group found: the digest of each page it read (``None``: the project
    does not exist upstream), and the published key of each project it selected."""

    pages: Mapping[str, str | None]
    projects: Mapping[str, str]


class PlanMemoLog:
    """Plan memos, published keys and partial downloads; a part of ``MirrorState``."""

    _db: sqlite3.Connection

    def plan_memos(self) -> dict[str, PlanMemo]:
        """Return every plan memo by group key."""
        rows = self._db.execute("SELECT key, pages, projects FROM plan_memos").fetchall()
        memos = {}
        for key, pages, projects in rows:
            try:
                memos[key] = PlanMemo(
                    {name: digest or None for name, digest in _pairs(pages)}, dict(_pairs(projects))
                )
            except ValueError:
                continue  # damaged (or older): planned again, and rewritten
        return memos

    def record_plan_memos(self, memos: Mapping[str, PlanMemo]) -> None:
        """Keep ``memos`` (by group key), replacing earlier ones of the same groups."""
        with transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO plan_memos VALUES (?, ?, ?)",
                [(key, _text(memo.pages), _text(memo.projects)) for key, memo in memos.items()],
            )

    def plan_report(self, key: str) -> tuple[dict[str, str | None], str] | None:
        """Return the report ``cellar plan`` kept under ``key``, with the digest of each page
        its plan read (``None``: the project did not exist); ``None`` if there is none."""
        row = self._db.execute(
            "SELECT pages, report FROM plan_reports WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        try:
            return {name: digest or None for name, digest in _pairs(row[0])}, row[1]
        except ValueError:
            return None  # damaged: planned again, and rewritten

    def record_plan_report(self, key: str, pages: Mapping[str, str | None], report: str) -> None:
        """Keep ``cellar plan``'s ``report`` under ``key``, with the digests of its pages; one
        report per key, and the other keys' are dropped (a selection edited leaves none)."""
        with transaction(self._db):
            self._db.execute("DELETE FROM plan_reports")
            self._db.execute(
                "INSERT INTO plan_reports VALUES (?, ?, ?)", (key, _text(pages), report)
            )

    def page_digests(self) -> dict[str, tuple[str | None, str | None]]:
        """Return each kept page's serial and body digest, by project name."""
        rows = self._db.execute("SELECT name, serial, digest FROM pages").fetchall()
        return {name: (serial, digest) for name, serial, digest in rows}

    def published_keys(self) -> dict[str, str]:
        """Return the key each project's pages were last published from, complete."""
        rows = self._db.execute(
            "SELECT name, published FROM projects WHERE published IS NOT NULL"
        ).fetchall()
        return dict(rows)

    def project_counts(self) -> dict[str, tuple[int, int]]:
        """Return the files and bytes each published project's pages list."""
        rows = self._db.execute("SELECT name, files, bytes FROM projects").fetchall()
        return {name: (files, size) for name, files, size in rows}

    def partials(self) -> list[str]:
        """Return the partial downloads a run kept to resume (paths below the web root)."""
        return [path for (path,) in self._db.execute("SELECT path FROM partials").fetchall()]

    def replace_partials(self, paths: Iterable[str]) -> None:
        """Record ``paths`` as the partial downloads kept now, forgetting the earlier ones."""
        with transaction(self._db):
            self._db.execute("DELETE FROM partials")
            self._db.executemany("INSERT OR IGNORE INTO partials VALUES (?)", [(p,) for p in paths])

    def measure(self, key: str) -> float | None:
        """Return the measure kept under ``key`` (a cost a later run decides by), if any."""
        row = self._db.execute("SELECT value FROM measures WHERE key = ?", (key,)).fetchone()
        return None if row is None else float(row[0])

    def record_measure(self, key: str, value: float) -> None:
        """Keep ``value`` under ``key``."""
        self._db.execute("INSERT OR REPLACE INTO measures VALUES (?, ?)", (key, value))


# Memos are stored as ``name=value`` lines: project names hold no ``=`` and no newline, and
# values are hex digests (empty for None). Read back a hundred thousand at a time, that is
# several times cheaper than JSON.


def _text(values: Mapping[str, str | None]) -> str:
    return "\n".join(f"{name}={value or ''}" for name, value in values.items())


def _pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.split("\n") if text else ():
        name, equals, value = line.partition("=")
        if not equals or "=" in value:
            raise ValueError("not a memo")
        pairs.append((name, value))
    return pairs
