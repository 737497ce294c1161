"""The state database's tables and their migrations, and the timestamp and transaction helpers its
writers share.

The schema's version is SQLite's ``PRAGMA user_version``: 0 for a state written before
versions were kept, else the number of ``MIGRATIONS`` applied to it. Opening a state for
writing applies the ones it lacks, each in a transaction of its own with the version it
reaches, so a step that fails (a full disk) leaves the state as it was, at the version before.
A state whose version is above ``SCHEMA_VERSION`` was written by a newer Cellar and is not
touched (``MirrorState.open`` refuses it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

#: Every table as the first versioned schema has it (``_baseline``).
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    url TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS files_project ON files(project);
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    synced_at TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    page BLOB
);
CREATE TABLE IF NOT EXISTS pages (
    name TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    content_type TEXT,
    url TEXT NOT NULL,
    serial TEXT,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    projects INTEGER NOT NULL DEFAULT 0,
    files_added INTEGER NOT NULL DEFAULT 0,
    bytes_added INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS failures (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    project TEXT NOT NULL,
    filename TEXT,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metadata (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    metadata BLOB NOT NULL,
    requires_txt BLOB,
    build_requires TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uv_answers (
    key TEXT PRIMARY KEY,
    pins TEXT NOT NULL,
    pages TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_memos (
    key TEXT PRIMARY KEY,
    pages TEXT NOT NULL,
    projects TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_reports (
    key TEXT PRIMARY KEY,
    pages TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measures (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS partials (
    path TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS verify_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    fast INTEGER NOT NULL,
    checked INTEGER,
    problems INTEGER
);
CREATE TABLE IF NOT EXISTS verified (
    run_id INTEGER NOT NULL REFERENCES verify_runs(id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (run_id, path, sha256)
) WITHOUT ROWID;
"""


#: Columns added to tables before versions were kept: (table, column, declaration). A state
#: written by an older Cellar may lack any of them; ``_baseline`` adds them (empty).
ADDED_COLUMNS = (
    # sha256 of a kept page's body: what a plan rested on, compared without reading the body.
    ("pages", "digest", "TEXT"),
    # The key of the selection a project's pages were last published from, complete.
    ("projects", "published", "TEXT"),
    # What stat said of a project's three page files when Cellar wrote or last verified them
    # (``keep.pages.page_marks``): what lets ``cellar verify --fast`` trust them.
    ("projects", "page_marks", "TEXT"),
)


def _baseline(db: sqlite3.Connection) -> None:
    """Version 1: every table, and the columns a state from before versions may lack."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


#: A migration brings the state from the version that is its index to the next. Append only:
#: a released step never changes, a new table or column is a new step.
Migration = Callable[[sqlite3.Connection], None]
#: Version 2's tables (``state/policy.py`` reads and writes them).
POLICY_SCHEMA = """
CREATE TABLE IF NOT EXISTS first_seen (
    project TEXT NOT NULL,
    filename TEXT NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (project, filename)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refusals (
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    rule TEXT NOT NULL,
    detail TEXT NOT NULL,
    until REAL,
    since TEXT NOT NULL,
    PRIMARY KEY (project, version, filename, rule)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS withdrawn (
    path TEXT PRIMARY KEY,
    aside TEXT NOT NULL,
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
) WITHOUT ROWID
"""


def _policy(db: sqlite3.Connection) -> None:
    """Version 2: the policy's records (first sightings, refusals, withdrawn files)."""
    for statement in POLICY_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (_baseline, _policy)
#: The schema version this Cellar writes.
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite3.Connection) -> int:
    """Return the schema version of the state ``db`` (0: written before versions were kept)."""
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(db: sqlite3.Connection, steps: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the ``steps`` the state ``db`` (in autocommit mode) lacks; return the version it
    had. Each step runs in a transaction with the version it reaches, taken with the write
    lock first: another process migrating at the same moment makes this one skip the step.
    A state already at ``len(steps)`` or above is not written to."""
    found = schema_version(db)
    version = found
    while version < len(steps):
        db.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(db)
            if version < len(steps):
                steps[version](db)
                version += 1
                db.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return found


def now() -> str:
    """Return the current time as the state records it (UTC, ISO 8601, to the second)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Run the statements inside as one transaction on ``db``, opened in autocommit mode.

    Committed when the block ends; rolled back, and the exception raised again, if it raises.
    """
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
