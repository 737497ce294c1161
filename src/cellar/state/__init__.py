"""The mirror's own record, in SQLite inside the mirror directory (never the current directory).

It remembers each file Cellar verified (path, sha256, size, mtime) so a later run can skip it
without hashing again, each project's last successful sync, each run with its failures,
which is what ``cellar status`` reports, and the core metadata read from upstream files, so a
later plan asks the upstream for none of it again. For ``cellar verify`` it keeps each run and,
while a run is unfinished, the files it found intact, so the next run can resume it.

The values it returns are in ``records``, its tables in ``schema``, and the
``cellar verify`` bookkeeping in ``verify``; every name is importable from here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from packaging.utils import canonicalize_name

from cellar.errors import CellarError
from cellar.state.memo import PlanMemo, PlanMemoLog
from cellar.state.policy import PolicyLog, RefusalRecord, WithdrawnRecord
from cellar.state.records import CachedMetadata, Failure, FileRecord, RunRecord, Totals, VerifyRun
from cellar.state.schema import SCHEMA_VERSION, migrate, now, schema_version, transaction
from cellar.state.snapshots import PageSnapshot, body_digest
from cellar.state.verify import VerifyRunLog
from cellar.tree.paths import is_project_name

__all__ = [
    "STATE_DIR",
    "STATE_FILE",
    "CachedMetadata",
    "Failure",
    "FileRecord",
    "MirrorState",
    "MirrorStateError",
    "PlanMemo",
    "RefusalRecord",
    "RunRecord",
    "Totals",
    "VerifyRun",
    "WithdrawnRecord",
    "state_path",
]

STATE_DIR = ".cellar"
STATE_FILE = "state.sqlite3"


class MirrorStateError(CellarError):
    """The state database at ``path`` cannot be opened or is damaged."""

    def __init__(self, path: Path, cause: str) -> None:
        super().__init__(f"cannot use the mirror's state database {path}: {cause}")
        self.path = path


def state_path(directory: Path) -> Path:
    """Return the state database's path for the mirror in ``directory``."""
    return directory / STATE_DIR / STATE_FILE


class MirrorState(VerifyRunLog, PlanMemoLog, PolicyLog):
    """Reads and writes the state database; open it with ``MirrorState.open``.

    The ``cellar verify`` bookkeeping (``start_verify_run`` and the rest) is ``VerifyRunLog``'s;
    what a re-run may skip (``plan_memos`` and the rest) is ``PlanMemoLog``'s.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, directory: Path, *, create: bool = True) -> Iterator[MirrorState]:
        """Open (creating if asked) the state of the mirror in ``directory``.

        Raises ``MirrorStateError`` if it is missing (with ``create=False``) or unusable.
        """
        path = state_path(directory)
        if not create and not path.exists():
            raise MirrorStateError(path, "no mirror has been made here yet (run `cellar mirror`)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise MirrorStateError(path, str(error)) from None
        with closing(connection):
            try:
                # `cellar plan` may write the metadata cache while a mirror run does.
                connection.execute("PRAGMA busy_timeout=10000")
                found = schema_version(connection)
                if found > SCHEMA_VERSION:
                    # Not a byte changed, not even the journal mode: a newer Cellar's state.
                    raise MirrorStateError(
                        path,
                        f"it was written by a newer Cellar (schema version {found}; this one "
                        f"knows up to {SCHEMA_VERSION}): upgrade Cellar to use this mirror",
                    )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                migrate(connection)
            except sqlite3.DatabaseError as error:
                raise MirrorStateError(path, str(error)) from None
            yield cls(connection, path)

    @classmethod
    @contextmanager
    def open_read_only(cls, directory: Path) -> Iterator[MirrorState]:
        """Open the state of the mirror in ``directory`` for reading only (``cellar serve``).

        Changes nothing, not even the schema, and waits at most a moment for a lock: in WAL
        mode readers and a running ``cellar mirror`` do not wait for each other. Writing through
        it raises ``sqlite3.OperationalError``. Raises ``MirrorStateError`` if there is no state
        or it cannot be read.
        """
        path = state_path(directory)
        if not path.is_file():
            raise MirrorStateError(path, "no mirror has been made here yet (run `cellar mirror`)")
        try:
            connection = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=1.0
            )
        except sqlite3.Error as error:
            raise MirrorStateError(path, str(error)) from None
        with closing(connection):
            yield cls(connection, path)

    def file(self, path: str) -> FileRecord | None:
        """Return the record of the file at mirror path ``path``, if there is one."""
        row = self._db.execute(
            "SELECT path, project, sha256, size, mtime_ns, url FROM files WHERE path = ?", (path,)
        ).fetchone()
        return FileRecord(*row) if row else None

    def file_marks(self) -> dict[str, tuple[str, int, int]]:
        """Return every file record's sha256, size and mtime by path, in one query."""
        rows = self._db.execute("SELECT path, sha256, size, mtime_ns FROM files")
        return {path: (sha256, size, mtime) for path, sha256, size, mtime in rows}

    def record_file(self, record: FileRecord) -> None:
        """Remember a verified file (replacing any earlier record for its path)."""
        self._db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (
                record.path,
                record.project,
                record.sha256,
                record.size,
                record.mtime_ns,
                record.url,
            ),
        )

    def record_files(self, records: Iterable[FileRecord]) -> None:
        """``record_file`` for each of ``records``, in one transaction."""
        with transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                [(r.path, r.project, r.sha256, r.size, r.mtime_ns, r.url) for r in records],
            )

    def record_project(
        self,
        name: str,
        display_name: str,
        files: int,
        size: int,
        page: bytes | None = None,
        *,
        published: str | None = None,
        marks: str | None = None,
    ) -> None:
        """Remember that project ``name``'s page was published with ``files`` files.

        ``page`` is the published PEP 691 JSON page: the record ``cellar verify --repair``
        rewrites damaged pages from. ``published`` is the key of the selection the pages were
        published from, when every file of it is in place (a re-run with the same key skips
        the project); None when the pages were written otherwise. ``marks`` are the page
        files' marks once written (see ``page_marks``).
        """
        self._db.execute(
            "INSERT OR REPLACE INTO projects (name, display_name, synced_at, files, bytes, page,"
            " published, page_marks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, display_name, now(), files, size, page, published, marks),
        )

    def project_page(self, name: str) -> bytes | None:
        """Return the JSON page last published for project ``name``, if any."""
        row = self._db.execute("SELECT page FROM projects WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def page_snapshot(self, name: str) -> PageSnapshot | None:
        """Return the upstream page of ``name`` as last fetched, to ask again conditionally."""
        row = self._db.execute(
            "SELECT body, content_type, url, serial, etag, last_modified, digest"
            " FROM pages WHERE name = ?",
            (name,),
        ).fetchone()
        return PageSnapshot(bytes(row[0]), *row[1:]) if row else None

    def page_validators(self, name: str) -> PageSnapshot | None:
        """``page_snapshot`` without the body (``b""``): enough to ask again conditionally."""
        row = self._db.execute(
            "SELECT content_type, url, serial, etag, last_modified, digest"
            " FROM pages WHERE name = ?",
            (name,),
        ).fetchone()
        return PageSnapshot(b"", *row) if row else None

    def serial_snapshots(self) -> int:
        """Return how many kept upstream pages carry a serial."""
        row = self._db.execute("SELECT count(*) FROM pages WHERE serial IS NOT NULL").fetchone()
        return int(row[0])

    def record_page_snapshot(self, name: str, snapshot: PageSnapshot) -> None:
        """Keep ``snapshot`` as the upstream page of ``name``."""
        self._db.execute(
            "INSERT OR REPLACE INTO pages (name, body, content_type, url, serial, etag,"
            " last_modified, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                snapshot.body,
                snapshot.content_type,
                snapshot.url,
                snapshot.serial,
                snapshot.etag,
                snapshot.last_modified,
                snapshot.digest or body_digest(snapshot.body),
            ),
        )

    def project_names(self) -> dict[str, str]:
        """Return each published project's normalised name mapped to its display name.

        A record whose name is not a valid project name in normalised form (written by an
        older Cellar from a hostile page) is no project: it is left out, and a display name
        that is not a spelling of its name is replaced by the name.
        """
        rows = self._db.execute("SELECT name, display_name FROM projects ORDER BY name")
        return {
            name: display if _spells(display, name) else name
            for name, display in rows.fetchall()
            if _spells(name, name)
        }

    def display_name(self, name: str) -> str | None:
        """Return the display name of published project ``name`` (normalised), as
        ``project_names`` gives it, or ``None`` if there is no such project: one row read,
        not the whole table (a page for people, a page rewritten by verify or delete)."""
        if not _spells(name, name):
            return None
        row = self._db.execute(
            "SELECT display_name FROM projects WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        return row[0] if _spells(row[0], name) else name

    def forget_invalid_projects(self) -> list[str]:
        """Forget the records ``project_names`` leaves out (only the records: no path is made
        of their names); return their names."""
        rows = self._db.execute("SELECT name FROM projects").fetchall()
        invalid = [name for (name,) in rows if not _spells(name, name)]
        with transaction(self._db):
            self._db.executemany("DELETE FROM projects WHERE name = ?", [(n,) for n in invalid])
        return invalid

    def cached_metadata(self, key: str) -> CachedMetadata | None:
        """Return the metadata recorded under ``key``, if any."""
        row = self._db.execute(
            "SELECT metadata, requires_txt, build_requires FROM metadata WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        metadata, requires_txt, build_requires = row
        build = None if build_requires is None else tuple(filter(None, build_requires.split("\n")))
        return CachedMetadata(bytes(metadata), requires_txt, build)

    def record_metadata(self, key: str, entry: CachedMetadata, *, url: str) -> None:
        """Remember ``entry`` under ``key`` (a file's sha256, or its URL), read from ``url``."""
        build = None if entry.build_requires is None else "\n".join(entry.build_requires)
        self._db.execute(
            "INSERT OR REPLACE INTO metadata VALUES (?, ?, ?, ?, ?, ?)",
            (key, url, entry.metadata, entry.requires_txt, build, now()),
        )

    def uv_answer(self, key: str) -> tuple[str, str] | None:
        """Return the pins uv gave for ``key`` and the pages they rest on (JSON), if recorded."""
        row = self._db.execute(
            "SELECT pins, pages FROM uv_answers WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def record_uv_answer(self, key: str, pins: str, pages: str) -> None:
        """Remember the pins uv gave for ``key`` and the pages they rest on (JSON)."""
        self._db.execute(
            "INSERT OR REPLACE INTO uv_answers VALUES (?, ?, ?, ?)", (key, pins, pages, now())
        )

    def start_run(self) -> int:
        """Record the start of a run and return its id."""
        cursor = self._db.execute("INSERT INTO runs (started_at) VALUES (?)", (now(),))
        assert cursor.lastrowid is not None  # an INSERT always has one  # noqa: S101
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        *,
        projects: int,
        files_added: int,
        bytes_added: int,
        failures: tuple[Failure, ...],
    ) -> None:
        """Record how run ``run_id`` ended."""
        with transaction(self._db):
            self._db.execute(
                "UPDATE runs SET finished_at = ?, projects = ?, files_added = ?,"
                " bytes_added = ?, failures = ? WHERE id = ?",
                (now(), projects, files_added, bytes_added, len(failures), run_id),
            )
            self._db.executemany(
                "INSERT INTO failures VALUES (?, ?, ?, ?)",
                [
                    (run_id, _text(f.project), f.filename and _text(f.filename), _text(f.message))
                    for f in failures
                ],
            )

    def last_run(self) -> RunRecord | None:
        """Return the newest run, finished or not, with its failures."""
        row = self._db.execute(
            "SELECT id, started_at, finished_at, projects, files_added, bytes_added"
            " FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        failures = self._db.execute(
            "SELECT project, filename, message FROM failures WHERE run_id = ? ORDER BY rowid",
            (row[0],),
        ).fetchall()
        run_id, started, finished, projects, files_added, bytes_added = row
        return RunRecord(
            id=run_id,
            started_at=started,
            finished_at=finished,
            projects=projects,
            files_added=files_added,
            bytes_added=bytes_added,
            failures=tuple(Failure(*f) for f in failures),
        )

    def totals(self) -> Totals:
        """Return how many projects, files and bytes the published pages account for."""
        projects, files, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0) FROM projects"
        ).fetchone()
        return Totals(projects, files, size)

    def forget_project(self, name: str) -> None:
        """Forget project ``name``'s record (its published page copy with it)."""
        self._db.execute("DELETE FROM projects WHERE name = ?", (name,))

    def project_files(self, name: str) -> list[FileRecord]:
        """Return the records of the files placed for project ``name``."""
        rows = self._db.execute(
            "SELECT path, project, sha256, size, mtime_ns, url FROM files WHERE project = ?",
            (name,),
        )
        return [FileRecord(*row) for row in rows.fetchall()]

    def forget_files(self, paths: Iterable[str]) -> None:
        """Forget the records of the files at mirror paths ``paths`` (unknown paths are fine)."""
        with transaction(self._db):
            self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])


def _text(text: str) -> str:
    """Return ``text`` as SQLite can store it: a lone surrogate (from hostile JSON) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _spells(text: object, name: str) -> bool:
    """Whether ``text`` is a valid project name whose normalised form is ``name``."""
    return is_project_name(text) and canonicalize_name(text) == name
