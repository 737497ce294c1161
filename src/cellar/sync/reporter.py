"""What the engine tells whoever watches a sync; every method does nothing by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cellar.state import Failure


class Reporter:
    """Receives progress from ``run_mirror``; subclass and override what you show."""

    def projects_planned(self, count: int) -> None:
        """``count`` projects are about to be synced."""

    def files_planned(self, project: str, count: int, size: int) -> None:
        """``project``'s page selected ``count`` files of ``size`` bytes (as the index says)."""

    def bytes_transferred(self, delta: int) -> None:
        """``delta`` bytes arrived (negative when a download restarts from the beginning)."""

    def file_done(self, project: str, filename: str, *, added: bool, size: int) -> None:
        """A file is in place; ``added`` is false when it was already there."""

    def file_failed(self, project: str, filename: str) -> None:
        """A selected file could not be put in place (``failed`` says why)."""

    def failed(self, failure: Failure) -> None:
        """Something could not be mirrored."""

    def project_done(self, project: str, files: int) -> None:
        """``project``'s pages were published listing ``files`` files."""
