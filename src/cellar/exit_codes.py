"""The exit codes of the ``cellar`` command (documented in the README)."""

from __future__ import annotations

from typing import Final

#: Everything asked for is done.
EXIT_OK: Final = 0
#: Some projects or files failed; the rest is mirrored and servable.
EXIT_FAILURES: Final = 1
#: A usage or configuration error, or another run holds the mirror.
EXIT_USAGE: Final = 2
#: Interrupted (SIGINT); what was verified is kept.
EXIT_INTERRUPTED: Final = 130
