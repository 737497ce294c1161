"""The ``cellar`` command: parse arguments, call the library, print results, map errors to exits.

Exit codes: 0 when everything asked for is done, 1 when some projects or files failed (the rest
is mirrored and servable), 2 for usage and configuration errors, 130 when interrupted.

``parser`` holds the grammar (enough for ``--help`` and ``--version``), ``commands`` and
``setup`` what the commands do, ``logs`` where the log goes. Only this module and ``parser``
are loaded before the arguments are read, so ``cellar --version`` answers at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from cellar.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = build_parser().parse_args(argv)
    from cellar.cli.commands import run  # noqa: PLC0415 - after parsing: --help never loads it

    return run(args)
