"""The values the mirror's state records: files, runs and their failures, metadata, totals."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file Cellar verified: where it is, its hash and size, and its mtime at that moment."""

    path: str
    project: str
    sha256: str
    size: int
    mtime_ns: int
    url: str


@dataclass(frozen=True, slots=True)
class Failure:
    """Something that could not be mirrored: the project, the file if it was one, and why."""

    project: str
    filename: str | None
    message: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One ``cellar mirror`` run as recorded."""

    id: int
    started_at: str
    finished_at: str | None
    projects: int
    files_added: int
    bytes_added: int
    failures: tuple[Failure, ...]


@dataclass(frozen=True, slots=True)
class CachedMetadata:
    """The files a distribution's core metadata was read from, as fetched (not yet parsed).

    ``metadata`` is METADATA, PKG-INFO or a PEP 658 file; ``requires_txt`` an sdist's egg-info
    ``requires.txt``; ``build_requires`` an sdist's build requirements as written, and ``None``
    for a wheel.
    """

    metadata: bytes
    requires_txt: bytes | None = None
    build_requires: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class VerifyRun:
    """A ``cellar verify`` run as recorded: its id, when it started, whether it was ``--fast``."""

    id: int
    started_at: str
    fast: bool


@dataclass(frozen=True, slots=True)
class Totals:
    """What the mirror holds according to its record."""

    projects: int
    files: int
    bytes: int
