"""Errors about single files that could not be mirrored; each names project, file and cause."""

from __future__ import annotations

from cellar.errors import CellarError


class SyncFileError(CellarError):
    """One file of ``project`` could not be mirrored; the message says why."""

    def __init__(self, project: str, filename: str, message: str) -> None:
        super().__init__(message)
        self.project = project
        self.filename = filename


class UnsafePathError(SyncFileError):
    """A file name or URL path from upstream that would place a file outside the mirror."""

    def __init__(self, project: str, filename: str, url: str, reason: str) -> None:
        super().__init__(
            project, filename, f"refused {filename!r} from {url}: {reason}; nothing was written"
        )
        self.url = url
        self.reason = reason


class DigestMismatchError(SyncFileError):
    """Downloaded bytes whose ``algorithm`` digest differs from what the index states."""

    def __init__(
        self, project: str, filename: str, url: str, *, algorithm: str, expected: str, actual: str
    ) -> None:
        super().__init__(
            project,
            filename,
            f"{algorithm} mismatch for {url}: the index says {expected}, the download has "
            f"{actual}; the file was discarded (the upstream, or something between, corrupts it)",
        )
        self.url = url
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class SizeMismatchError(SyncFileError):
    """Downloaded bytes whose length differs from the size the index states."""

    def __init__(self, project: str, filename: str, url: str, expected: int, actual: int) -> None:
        super().__init__(
            project,
            filename,
            f"size mismatch for {url}: the index says {expected} bytes, the download has "
            f"{actual}; the file was discarded",
        )
        self.url = url
        self.expected = expected
        self.actual = actual
