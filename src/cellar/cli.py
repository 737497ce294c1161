"""The ``cellar`` command: parse arguments, call the library, print results, map errors to exits.

Exit codes: 0 when everything asked for is done, 1 when some projects or files failed (the rest
is mirrored and servable), 2 for usage and configuration errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from cellar import __version__
from cellar.clients import OS_NAMES, SHELLS, ClientAccess
from cellar.config import CONFIG_ENV, DEFAULT_CONFIG, Config, config_path, load_config
from cellar.errors import CellarError
from cellar.progress import BarReporter, LogReporter, human_bytes, summarize
from cellar.state import MirrorState, MirrorStateError

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

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
    serve.add_argument("--port", type=int, help="port (default: [serve] port, else 8080)")
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
    _client_config_parser(commands, common)
    _nginx_config_parser(commands, common)
    return parser


def _client_config_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    client = commands.add_parser(
        "client-config",
        parents=[common],
        help="print how pip, uv, poetry, pdm and conda use the mirror; write pip.conf or uv.toml",
        description="Print what pip, uv, poetry, pdm and conda users need for the mirror at "
        "[serve] url (or --url), and where each file goes. --write merges it into pip's or "
        "uv's file of --scope, keeping everything else in it. Credentials are never printed "
        "or written without --show-credentials. Exit 2 when the scope makes no sense here.",
    )
    client.add_argument(
        "--url",
        help="the mirror's URL (default: [serve] url, else made from [serve] host and port); "
        "with it, the configuration file is read only when there is one",
    )
    client.add_argument(
        "--os", choices=OS_NAMES, dest="os_name", help="print for this system (default: this one)"
    )
    output = client.add_mutually_exclusive_group()
    output.add_argument(
        "--shell",
        choices=SHELLS,
        help="print only the environment variables, for SHELL: "
        'eval "$(cellar client-config --shell sh)"',
    )
    client.add_argument("--user", metavar="NAME", help="the user name for the mirror's login")
    client.add_argument(
        "--password-env",
        metavar="VAR",
        help="with --show-credentials: the environment variable holding the password "
        "(default: ask for it)",
    )
    client.add_argument(
        "--show-credentials",
        action="store_true",
        help="put the user name and password into what is printed or written",
    )
    output.add_argument(
        "--write", choices=("pip", "uv"), help="merge the mirror into pip's or uv's file"
    )
    client.add_argument(
        "--scope",
        choices=("user", "global", "venv", "project"),
        default="user",
        help="with --write: which file (pip: user, global, venv; uv: user, global, project; "
        "default: user)",
    )
    client.add_argument(
        "--dry-run", action="store_true", help="with --write: print the change; write nothing"
    )


def _nginx_config_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    nginx = commands.add_parser(
        "nginx-config",
        parents=[common],
        help="print an nginx configuration serving the mirror's tree",
        description="Print map blocks and a server block (two with TLS: the second redirects "
        "plain HTTP to HTTPS) for nginx's http block: PEP 691 negotiation, PEP 503 redirects, "
        "caching, gzip for pages, basic auth from [serve] htpasswd, /health. Defaults come "
        "from [serve] and [mirror]; paths are as nginx sees them. See docs/nginx.md.",
    )
    nginx.add_argument(
        "--listen",
        action="append",
        metavar="ADDRESS",
        help="PORT, HOST:PORT or [IPv6]:PORT; repeat for more (default: the port of [serve] "
        "url, else 443 with TLS or 80; without a url, [serve] host and port)",
    )
    nginx.add_argument(
        "--server-name",
        action="append",
        metavar="NAME",
        help="a host name the server answers to; repeat for more (default: [serve] url's host)",
    )
    nginx.add_argument(
        "--tls",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve HTTPS (default: when [serve] tls-certificate is set)",
    )
    nginx.add_argument(
        "--certificate", type=Path, metavar="FILE", help="default: [serve] tls-certificate"
    )
    nginx.add_argument("--key", type=Path, metavar="FILE", help="default: [serve] tls-key")
    nginx.add_argument(
        "--http-redirect",
        action="append",
        metavar="ADDRESS",
        help="with TLS: where plain HTTP is answered with a redirect to HTTPS (default: port "
        "80 on the first --listen address)",
    )
    nginx.add_argument(
        "--no-http-redirect", action="store_true", help="with TLS: no plain-HTTP server at all"
    )
    nginx.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="the mirror's web/ directory as nginx sees it (default: [mirror] directory/web)",
    )
    nginx.add_argument("--htpasswd", type=Path, metavar="FILE", help="default: [serve] htpasswd")
    nginx.add_argument(
        "--page-max-age",
        type=int,
        default=60,
        metavar="SECONDS",
        help="how long clients may reuse an index page (default: 60)",
    )
    nginx.add_argument(
        "--no-maps",
        action="store_true",
        help="leave out the map blocks (for a second mirror in an nginx that has them)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    handler = _configure_logging(console, verbose=args.verbose, quiet=args.quiet)
    try:
        # These read the configuration themselves, or none at all.
        unconfigured: dict[str, Callable[[], int]] = {
            "config": lambda: _convert(Path(args.file)),
            "client-config": lambda: _client_config(args),
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
            "nginx-config": lambda: _nginx_config(config, args),
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


def _client_config(args: argparse.Namespace) -> int:
    from cellar.client_files import Machine, plan_write, write_planned  # noqa: PLC0415
    from cellar.client_report import render_report  # noqa: PLC0415
    from cellar.clients import current_os, env_assignments  # noqa: PLC0415

    access = _client_access(args)
    if args.shell:
        print(env_assignments(access, args.shell), end="")
        return EXIT_OK
    if args.write is None:
        print(render_report(access, args.os_name or current_os()), end="")
        return EXIT_OK
    if args.os_name not in (None, current_os()):
        log.error("--os only changes what is printed; --write writes for this system")
        return EXIT_USAGE
    plan = plan_write(args.write, args.scope, access, Machine.current())
    for warning in plan.warnings:
        log.warning("%s: %s", plan.path, warning)
    if not plan.changed:
        print(f"{plan.path} already uses the mirror; nothing written")
    elif args.dry_run:
        print(plan.diff(), end="")
        print(f"(dry run: {plan.path} not written)")
    else:
        backup = write_planned(plan, global_scope=args.scope == "global")
        kept = f" (the old one is kept as {backup})" if backup else ""
        print(f"wrote {plan.path}{kept}")
        print("".join(f"  {change}\n" for change in plan.changes), end="")
    return EXIT_OK


def _client_access(args: argparse.Namespace) -> ClientAccess:
    """The mirror as clients see it: from the config and --url, --user and the password."""
    from cellar.clients import ClientConfigError, index_url_for  # noqa: PLC0415
    from cellar.config_serve import ServeSettings  # noqa: PLC0415

    path = config_path(args.config)
    named = bool(args.config or os.environ.get(CONFIG_ENV))
    with_config = args.url is None or named or path.exists()
    serve = load_config(path).serve if with_config else ServeSettings()
    index_url = index_url_for(args.url) if args.url else serve.index_url
    password = None
    if args.show_credentials:
        if args.user is None:
            raise ClientConfigError("--show-credentials needs --user NAME")
        if args.password_env:
            password = os.environ.get(args.password_env)
            if password is None:
                raise ClientConfigError(f"--password-env: {args.password_env} is not set")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password of {args.user} for {index_url}: ")
        else:
            raise ClientConfigError(
                "--show-credentials needs the password: name the variable holding it with "
                "--password-env (there is no terminal to ask on)"
            )
    auth = serve.htpasswd is not None or args.user is not None
    return ClientAccess(index_url, auth=auth, username=args.user, password=password)


def _nginx_config(config: Config, args: argparse.Namespace) -> int:
    from cellar.nginx import render_nginx_config, site_from_config  # noqa: PLC0415 - keeps --help fast

    def absolute(path: Path | None) -> Path | None:
        return None if path is None else path.absolute()

    redirect = None if args.http_redirect is None else tuple(args.http_redirect)
    site = site_from_config(
        config,
        listen=tuple(args.listen or ()),
        server_names=tuple(args.server_name or ()),
        tls=args.tls,
        certificate=absolute(args.certificate),
        key=absolute(args.key),
        http_redirect=() if args.no_http_redirect else redirect,
        web_root=absolute(args.root),
        htpasswd=absolute(args.htpasswd),
        page_max_age=args.page_max_age,
        maps=not args.no_maps,
    )
    print(render_nginx_config(site, config.source), end="")
    return EXIT_OK


def _configure_logging(console: Console, *, verbose: bool, quiet: bool) -> logging.Handler:
    """Send Cellar's log to ``console`` (rich) on a terminal, plain lines otherwise."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
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
    print(summarize(result))
    return EXIT_OK if result.ok else EXIT_FAILURES


def _plan(config: Config, *, as_json: bool) -> int:
    from cellar.plan_report import plan_json, plan_text  # noqa: PLC0415 - keeps --help fast
    from cellar.sync.plan import run_plan  # noqa: PLC0415

    plan, novelty = run_plan(config)
    print(plan_json(plan, novelty) if as_json else plan_text(plan, novelty))
    return EXIT_FAILURES if plan.failures else EXIT_OK


def _why(config: Config, project: str) -> int:
    from cellar.plan_report import why_text  # noqa: PLC0415 - keeps --help fast
    from cellar.sync.plan import run_plan  # noqa: PLC0415

    plan, _ = run_plan(config)
    text, needed = why_text(plan, project)
    print(text)
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
    print(summarize_verify(result))
    return EXIT_OK if result.ok else EXIT_FAILURES


def _delete(config: Config, projects: list[str], *, dry_run: bool) -> int:
    from cellar.keep import delete_projects  # noqa: PLC0415 - keeps --help fast
    from cellar.progress import summarize_prune  # noqa: PLC0415

    result = delete_projects(config, projects, dry_run=dry_run)
    print(summarize_prune(result))
    return EXIT_FAILURES if result.unknown else EXIT_OK


def _status(config: Config) -> int:
    try:
        state_context = MirrorState.open(config.mirror.directory, create=False)
        with state_context as state:
            totals = state.totals()
            run = state.last_run()
    except MirrorStateError as error:
        log.error("%s", error)
        return EXIT_FAILURES
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
        finished = run.finished_at or "did not finish (interrupted or still running)"
        lines.append(f"last sync: started {_local(run.started_at)}, finished {_local(finished)}")
        lines.append(
            f"           {run.files_added} files added ({human_bytes(run.bytes_added)}), "
            f"{len(run.failures)} failures"
        )
        lines.extend(
            f"  {f.project}{': ' + f.filename if f.filename else ''}: {f.message}"
            for f in run.failures
        )
    print("\n".join(lines))
    return EXIT_FAILURES if run is not None and run.failures else EXIT_OK


def _local(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except ValueError:
        return stamp
