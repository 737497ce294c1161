"""The state's schema versions (``PRAGMA user_version``): a new state is at the newest, an older
one is brought to it with its data kept, a newer one is refused untouched, and a step that
fails leaves the state at the version before it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from cellar.state import MirrorState, MirrorStateError, state_path
from cellar.state.records import FileRecord
from cellar.state.schema import ADDED_COLUMNS, SCHEMA, SCHEMA_VERSION, migrate, schema_version


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _connect(path: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(path, isolation_level=None))


def test_a_new_state_is_at_the_newest_version_with_every_column(tmp_path: Path) -> None:
    with MirrorState.open(tmp_path):
        pass
    with _connect(state_path(tmp_path)) as db:
        assert schema_version(db) == SCHEMA_VERSION >= 1
        for table, column, _ in ADDED_COLUMNS:
            assert column in _columns(db, table)


def test_a_state_from_before_versions_is_brought_up_with_its_records(tmp_path: Path) -> None:
    """A state as Cellar wrote it before versions were kept: the first tables, none of the
    columns added since, version 0."""
    path = state_path(tmp_path)
    path.parent.mkdir(parents=True)
    with _connect(path) as db:
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO files VALUES ('packages/a/a-1.0.tar.gz', 'a', ?, 3, 7, 'http://x/a')",
            ("0" * 64,),
        )
        db.execute("INSERT INTO projects VALUES ('a', 'A', 'then', 1, 3, NULL)")
        assert schema_version(db) == 0
        assert not any(column in _columns(db, t) for t, column, _ in ADDED_COLUMNS)
    with MirrorState.open(tmp_path, create=False) as state:
        assert state.file("packages/a/a-1.0.tar.gz") == FileRecord(
            "packages/a/a-1.0.tar.gz", "a", "0" * 64, 3, 7, "http://x/a"
        )
        assert state.display_name("a") == "A"
    with _connect(path) as db:
        assert schema_version(db) == SCHEMA_VERSION
        assert all(column in _columns(db, t) for t, column, _ in ADDED_COLUMNS)


def test_a_state_from_a_newer_cellar_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    with MirrorState.open(tmp_path):
        pass
    path = state_path(tmp_path)
    with _connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.execute("PRAGMA journal_mode=DELETE")  # so that the file alone is the whole state
    before = path.read_bytes()
    with pytest.raises(MirrorStateError) as raised, MirrorState.open(tmp_path):
        pass
    message = str(raised.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade Cellar" in message
    assert raised.value.exit_code == 2
    assert path.read_bytes() == before


def test_a_failing_step_leaves_the_state_at_the_version_before(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"

    def first(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE one (x INTEGER)")

    def second(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE two (x INTEGER)")
        raise OSError(28, "No space left on device")

    with _connect(path) as db:
        with pytest.raises(OSError, match="No space"):
            migrate(db, (first, second))
        assert schema_version(db) == 1
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert tables == {"one"}
        # Nothing to do at the newest version: no step runs again.
        assert migrate(db, (first,)) == 1
        assert schema_version(db) == 1


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with _connect(path) as db:
        assert migrate(db) == 0
        schema = sorted(db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
        assert migrate(db) == SCHEMA_VERSION
        assert sorted(db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")) == schema
