"""Where ``cellar``'s log goes: a rich handler on a terminal, plain timestamped lines otherwise,
through a formatter that no text from outside can use to forge a line or drive the terminal."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from cellar.printable import printable

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("cellar")


class PrintableFormatter(logging.Formatter):
    """A formatter whose messages cannot forge a log line or drive the terminal: control
    characters are escaped (``cellar.printable``), and the lines after a message's first
    (a configuration error lists its problems one a line) are indented, so none can pass
    for a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = "\n  ".join(printable(line) for line in record.message.split("\n"))
        return super().formatMessage(record)


def configure_logging(console: Console, *, verbose: bool, quiet: bool) -> logging.Handler:
    """Send Cellar's log to ``console`` (rich) on a terminal, plain lines otherwise."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler: logging.Handler
    if console.is_terminal:
        from rich.logging import RichHandler  # noqa: PLC0415 - only on a terminal

        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(PrintableFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return handler
