"""The ``cellar`` command: parse arguments, call the library, print results, map errors to exits.

Exit codes: 0 when everything asked for is done, 1 when some projects or files failed (the rest
is mirrored and servable), 2 for usage and configuration errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from cellar import __version__
from cellar.cli_setup import (
    add_client_config_parser,
    add_nginx_config_parser,
    client_config,
    nginx_config,
)
from cellar.config import CONFIG_ENV, DEFAULT_CONFIG, Config, config_path, load_config
from cellar.errors import CellarError
from cellar.exit_codes import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from cellar.printable import printable, printable_lines
from cellar.progress import (
    BarReporter,
    LogReporter,
    describe_failure,
    summarize,
)
from cellar.state import MirrorState, MirrorStateError
from cellar.units import human_bytes

log = logging.getLogger("cellar")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellar",
        description="Build, keep current and serve a private Python package index.",
    )
    parser.add_argument("--version", action="version", version=f"cellar {__version__}")
    config_help = (
        f"configuration file (default: ${CONFIG_ENV}, else ./{DEFAULT_CONFIG}); "
        "relative paths inside it are relative to it"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", metavar="FILE", help=config_help)
    common.add_argument("-v", "--verbose", action="store_true", help="log every file")
    common.add_argument("-q", "--quiet", action="store_true", help="log only problems")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser(
        "mirror",
        parents=[common],
        help="mirror the configured projects from the upstream index",
        description="Mirror the projects [packages] selects from [mirror] upstream into "
        "[mirror] directory, then publish their pages. Exit 0 when everything is mirrored, "
        "1 when something failed (the rest is still mirrored and servable), 2 for bad "
        "configuration or when another run holds the mirror.",
    )
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="serve the mirror over HTTP (Simple Repository API)",
        description="Serve the mirror's tree: PEP 503 HTML and PEP 691 JSON pages chosen by "
        "the Accept header, and the files. Stops cleanly on SIGINT or SIGTERM.",
    )
    serve.add_argument(
        "--host", help="address to listen on (default: [serve] host, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=_port, help="port, 0 to 65535 (default: [serve] port, else 8080)"
    )
    plan = commands.add_parser(
        "plan",
        parents=[common],
        help="show what `cellar mirror` would mirror, without downloading distributions",
        description="Resolve the dependency closure for every target and print projects, "
        "versions, files and bytes per target and overall, and what is new against the mirror. "
        "Exit 1 when some requirement cannot be satisfied on some target.",
    )
    plan.add_argument("--json", action="store_true", help="print JSON for machines")
    why = commands.add_parser(
        "why",
        parents=[common],
        help="show the chain of requirements that pulls a project in, per target",
        description="Print, for each target, every chain of requirements from your requirements "
        "to PROJECT. Exit 1 when no target needs it.",
    )
    why.add_argument("project", help="a project name (any spelling)")
    commands.add_parser(
        "status",
        parents=[common],
        help="show what the mirror holds and how its last sync went",
        description="Show the mirror's projects, files and bytes, its last sync and its errors.",
    )
    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="check every listed file and page; repair and prune on request",
        description="Check that every file the pages list is there with its size and sha256, "
        "that the pages agree, and find files no page lists. An interrupted run is resumed by "
        "the next one. Exit 0 when all is well (or repaired), 1 when problems remain, 2 when "
        "the mirror is busy or not there.",
    )
    verify.add_argument(
        "--fast",
        action="store_true",
        help="trust files whose size and mtime match the state's record instead of hashing "
        "them (misses corruption that keeps both)",
    )
    verify.add_argument(
        "--repair",
        action="store_true",
        help="download missing and corrupt files again and rewrite damaged pages; a file "
        "that cannot be repaired is removed from its page",
    )
    verify.add_argument("--prune-orphans", action="store_true", help="delete files no page lists")
    verify.add_argument(
        "--restart",
        action="store_true",
        help="start afresh instead of resuming an interrupted verify",
    )
    config_command = commands.add_parser(
        "config",
        help="configuration tools",
        description="Configuration tools. `cellar config convert bandersnatch.conf` prints the "
        "equivalent cellar.toml (options with no meaning here become comments).",
    )
    config_tools = config_command.add_subparsers(dest="tool", metavar="TOOL", required=True)
    convert = config_tools.add_parser(
        "convert",
        parents=[common],
        help="print a bandersnatch configuration as cellar.toml",
        description="Read a bandersnatch INI configuration and print the equivalent TOML. "
        "Exit 2 when the configuration cannot be used.",
    )
    convert.add_argument("file", help="the bandersnatch configuration (bandersnatch.conf)")
    delete = commands.add_parser(
        "delete",
        parents=[common],
        help="remove projects, their pages and the files no other project lists",
        description="Remove each PROJECT's pages and record, and its files that no other "
        "project's page lists, then rewrite the root page. Exit 1 (deleting nothing) when a "
        "project is not in the mirror.",
    )
    delete.add_argument("projects", nargs="+", metavar="PROJECT", help="a project name")
    delete.add_argument(
        "--dry-run", action="store_true", help="print what would be removed; change nothing"
    )
    add_client_config_parser(commands, common)
    add_nginx_config_parser(commands, common)
    return parser


def _port(text: str) -> int:
    """A TCP port from the command line; anything else is a usage error (exit 2)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    handler = _configure_logging(console, verbose=args.verbose, quiet=args.quiet)
    try:
        # These read the configuration themselves, or none at all.
        unconfigured: dict[str, Callable[[], int]] = {
            "config": lambda: _convert(Path(args.file)),
            "client-config": lambda: client_config(args),
        }
        if args.command in unconfigured:
            return unconfigured[args.command]()
        config = load_config(config_path(args.config))
        commands: dict[str, Callable[[], int]] = {
            "mirror": lambda: _mirror(config, console),
            "serve": lambda: _serve(config, args.host, args.port),
            "plan": lambda: _plan(config, as_json=args.json),
            "why": lambda: _why(config, args.project),
            "status": lambda: _status(config),
            "verify": lambda: _verify(config, console, args),
            "delete": lambda: _delete(config, args.projects, dry_run=args.dry_run),
            "nginx-config": lambda: nginx_config(config, args),
        }
        return commands[args.command]()
    except KeyboardInterrupt:
        log.error("interrupted; what was already verified is kept, run again to finish")
        return EXIT_INTERRUPTED
    except CellarError as error:
        log.error("%s", error)
        return EXIT_USAGE
    except sqlite3.Error as error:
        # The state database failing mid-run (a full disk, most likely): the mirror on disk
        # is as consistent as ever; the record of this run may be incomplete.
        log.error("the mirror's state database failed: %s", error)
        return EXIT_FAILURES
    except OSError as error:
        # What the engine could not attribute to a project or file, such as a full disk
        # while writing the root page: the pages already published stay as they were.
        log.error("%s", error)
        return EXIT_FAILURES
    finally:
        # Logging is process-wide: leave it as found for callers that run main() in-process.
        log.removeHandler(handler)


def _convert(path: Path) -> int:
    from cellar.bandersnatch.convert import convert_command  # noqa: PLC0415 - keeps --help fast

    text, code = convert_command(path)
    if code == EXIT_OK:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        log.error("%s", text)
    return code


class PrintableFormatter(logging.Formatter):
    """A formatter whose messages cannot forge a log line or drive the terminal: control
    characters are escaped (``cellar.printable``), and the lines after a message's first
    (a configuration error lists its problems one a line) are indented, so none can pass
    for a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = "\n  ".join(printable(line) for line in record.message.split("\n"))
        return super().formatMessage(record)


def _configure_logging(console: Console, *, verbose: bool, quiet: bool) -> logging.Handler:
    """Send Cellar's log to ``console`` (rich) on a terminal, plain lines otherwise."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(PrintableFormatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    return handler


def _mirror(config: Config, console: Console) -> int:
    from cellar.sync.engine import run_mirror  # noqa: PLC0415 - keeps `cellar --help` fast

    if console.is_terminal:
        with BarReporter(console) as reporter:
            result = run_mirror(config, reporter)
    else:
        result = run_mirror(config, LogReporter())
    print(printable_lines(summarize(result)))
    return EXIT_OK if result.ok else EXIT_FAILURES


def _plan(config: Config, *, as_json: bool) -> int:
    from cellar.plan_report import plan_json, plan_text  # noqa: PLC0415 - keeps --help fast
    from cellar.sync.plan import run_plan  # noqa: PLC0415

    plan, novelty = run_plan(config)
    print(plan_json(plan, novelty) if as_json else printable_lines(plan_text(plan, novelty)))
    return EXIT_FAILURES if plan.failures else EXIT_OK


def _why(config: Config, project: str) -> int:
    from cellar.plan_report import why_text  # noqa: PLC0415 - keeps --help fast
    from cellar.sync.plan import run_plan  # noqa: PLC0415

    plan, _ = run_plan(config)
    text, needed = why_text(plan, project)
    print(printable_lines(text))
    return EXIT_OK if needed else EXIT_FAILURES


def _serve(config: Config, host: str | None, port: int | None) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from cellar.serve.app import serve_forever  # noqa: PLC0415 - keeps `cellar --help` fast
    from cellar.serve.human_routes import published_index_url  # noqa: PLC0415

    def ready(url: str) -> None:
        log.info("serving %s at %s (pip: --index-url %ssimple/)", config.mirror.web_root, url, url)

    settings = replace(
        config.serve,
        host=config.serve.host if host is None else host,
        port=config.serve.port if port is None else port,
    )
    serve_forever(
        config.mirror.web_root,
        settings,
        on_ready=ready,
        index_url=published_index_url(config.serve),
    )
    return EXIT_OK


def _verify(config: Config, console: Console, args: argparse.Namespace) -> int:
    from cellar.keep import VerifyOptions, verify_mirror  # noqa: PLC0415 - keeps --help fast
    from cellar.progress import (  # noqa: PLC0415
        BarVerifyReporter,
        LogVerifyReporter,
        summarize_verify,
    )

    options = VerifyOptions(
        fast=args.fast, repair=args.repair, prune_orphans=args.prune_orphans, restart=args.restart
    )
    if console.is_terminal:
        with BarVerifyReporter(console) as reporter:
            result = verify_mirror(config, options, reporter)
    else:
        result = verify_mirror(config, options, LogVerifyReporter())
    print(printable_lines(summarize_verify(result)))
    return EXIT_OK if result.ok else EXIT_FAILURES


def _delete(config: Config, projects: list[str], *, dry_run: bool) -> int:
    from cellar.keep import delete_projects  # noqa: PLC0415 - keeps --help fast
    from cellar.progress import summarize_prune  # noqa: PLC0415

    result = delete_projects(config, projects, dry_run=dry_run)
    print(printable_lines(summarize_prune(result)))
    return EXIT_FAILURES if result.unknown else EXIT_OK


def _status(config: Config) -> int:
    try:
        state_context = MirrorState.open(config.mirror.directory, create=False)
        with state_context as state:
            totals = state.totals()
            run = state.last_run()
    except MirrorStateError as error:
        # No mirror yet, or no usable record: as for verify and delete, a set-up problem.
        log.error("%s", error)
        return EXIT_USAGE
    lines = [
        f"mirror:   {config.mirror.directory}",
        f"upstream: {config.mirror.upstream}",
        f"projects: {totals.projects}",
        f"files:    {totals.files}",
        f"bytes:    {totals.bytes} ({human_bytes(totals.bytes)})",
    ]
    if run is None:
        lines.append("last sync: never")
    else:
        ended = (
            f"finished {_local(run.finished_at)}"
            if run.finished_at
            else "did not finish (interrupted or still running)"
        )
        lines.append(f"last sync: started {_local(run.started_at)}, {ended}")
        lines.append(
            f"           {run.files_added} files added ({human_bytes(run.bytes_added)}), "
            f"{len(run.failures)} failures"
        )
        lines.extend(f"  {describe_failure(failure)}" for failure in run.failures)
    print(printable_lines("\n".join(lines)))
    return EXIT_FAILURES if run is not None and run.failures else EXIT_OK


def _local(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except ValueError:
        return stamp
