"""What ``cellar``'s commands do: load the configuration, call the library, print the result,
and turn errors into exit codes (``cellar.exit_codes``).

Each command imports the parts of Cellar it uses when it runs, so that a command never pays
for another's (``cellar status`` does not load the HTTP client, ``cellar --help`` none of this).
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cellar.cli.logs import configure_logging
from cellar.config.load import load_config
from cellar.config.location import config_path
from cellar.config.model import Config
from cellar.errors import CellarError
from cellar.exit_codes import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from cellar.printable import printable_lines

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("cellar")


def run(args: argparse.Namespace) -> int:
    """Run the command ``args`` name and return its exit code."""
    from rich.console import Console  # noqa: PLC0415 - not needed by --help

    from cellar.cli.host import run_host  # noqa: PLC0415
    from cellar.cli.setup import client_config, nginx_config  # noqa: PLC0415

    console = Console(stderr=True)
    handler = configure_logging(console, verbose=args.verbose, quiet=args.quiet)
    try:
        # These read the configuration themselves, or none at all.
        unconfigured: dict[str, Callable[[], int]] = {
            "config": lambda: _convert(Path(args.file)),
            "client-config": lambda: client_config(args),
            "keygen": lambda: _keygen(args.output, args.name),
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
            "audit": lambda: _audit(config, args.osv, as_json=args.json),
            "verify": lambda: _verify(config, console, args),
            "delete": lambda: _delete(config, args.projects, dry_run=args.dry_run),
            "nginx-config": lambda: nginx_config(config, args),
            "export": lambda: _export(config, args, console),
            "import": lambda: _import(config, args.bundle, console),
            "host": lambda: run_host(config, args),
        }
        return commands[args.command]()
    except KeyboardInterrupt:
        log.error("interrupted; what was already verified is kept, run again to finish")
        return EXIT_INTERRUPTED
    except CellarError as error:
        log.error("%s", error)
        return error.exit_code
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


def _keygen(directory: Path, name: str) -> int:
    from cellar.bundle.keys import generate, write_key_pair  # noqa: PLC0415

    try:
        key = generate(name)
    except ValueError as error:
        log.error("--name %s", error)
        return EXIT_USAGE
    private, public = write_key_pair(key, directory)
    print(f"private key: {private} (keep it where bundles are made; never copy it inward)")
    print(f"public key:  {public} (list it in the inner side's config; id {key.public().key_id})")
    return EXIT_OK


def _export(config: Config, args: argparse.Namespace, console: Console) -> int:
    from cellar.bundle.run import describe_export, export_bundle  # noqa: PLC0415
    from cellar.cli.progress import BundleBar  # noqa: PLC0415
    from cellar.filters import parse_size  # noqa: PLC0415

    try:
        volume_size = parse_size(args.volume_size) if args.volume_size else None
    except ValueError as error:
        log.error("--volume-size: %s", error)
        return EXIT_USAGE
    with BundleBar(console) if console.is_terminal else nullcontext() as bar:
        result = export_bundle(
            config,
            args.output,
            full=args.full,
            since=args.since,
            volume_size=volume_size,
            key=args.key,
            dry_run=args.dry_run,
            progress=bar,
        )
    print(describe_export(result))
    return EXIT_OK


def _import(config: Config, bundle: Path, console: Console) -> int:
    from cellar.bundle.run import describe_import, import_bundle  # noqa: PLC0415
    from cellar.cli.progress import BundleBar  # noqa: PLC0415

    with BundleBar(console) if console.is_terminal else nullcontext() as bar:
        result = import_bundle(config, bundle, bar)
    print(describe_import(result))
    return EXIT_OK


def _convert(path: Path) -> int:
    from cellar.bandersnatch.convert import convert_command  # noqa: PLC0415

    text, code = convert_command(path)
    if code == EXIT_OK:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        log.error("%s", text)
    return code


def _mirror(config: Config, console: Console) -> int:
    from cellar.cli.progress import BarReporter, LogReporter, summarize  # noqa: PLC0415
    from cellar.sync.engine import run_mirror  # noqa: PLC0415

    if console.is_terminal:
        with BarReporter(console) as reporter:
            result = run_mirror(config, reporter)
    else:
        result = run_mirror(config, LogReporter())
    print(printable_lines(summarize(result)))
    return EXIT_OK if result.ok else EXIT_FAILURES


def _plan(config: Config, *, as_json: bool) -> int:
    from cellar.cli.plan_report import plan_json, plan_text  # noqa: PLC0415
    from cellar.sync.plan import run_plan_report  # noqa: PLC0415

    report, novelty = run_plan_report(config)
    print(plan_json(report, novelty) if as_json else printable_lines(plan_text(report, novelty)))
    return EXIT_FAILURES if report.failures else EXIT_OK


def _audit(config: Config, osv: Path | None, *, as_json: bool) -> int:
    from cellar.cli.audit_report import audit_json, audit_text  # noqa: PLC0415
    from cellar.keep.audit import run_audit  # noqa: PLC0415

    report = run_audit(config.mirror.directory, config.policy, osv)
    print(audit_json(report) if as_json else printable_lines(audit_text(report)))
    return EXIT_FAILURES if report.to_withdraw else EXIT_OK


def _why(config: Config, project: str) -> int:
    from cellar.cli.plan_report import why_text  # noqa: PLC0415
    from cellar.sync.plan import run_plan  # noqa: PLC0415

    plan, _ = run_plan(config)
    text, needed = why_text(plan, project)
    print(printable_lines(text))
    return EXIT_OK if needed else EXIT_FAILURES


def _serve(config: Config, host: str | None, port: int | None) -> int:
    from dataclasses import replace  # noqa: PLC0415

    from cellar.serve.human_routes import published_index_url  # noqa: PLC0415
    from cellar.serve.run import serve_forever  # noqa: PLC0415

    def ready(url: str) -> None:
        where = config.mirror.tree.describe()
        log.info("serving %s at %s (pip: --index-url %ssimple/)", where, url, url)

    from cellar.config.serve import UploadSettings  # noqa: PLC0415

    settings = replace(
        config.serve,
        host=config.serve.host if host is None else host,
        port=config.serve.port if port is None else port,
        uploads=UploadSettings(config.hosted, hash_index=config.mirror.hash_index)
        if config.hosted.upload_path is not None
        else None,
    )
    serve_forever(
        config.mirror.tree,
        settings,
        on_ready=ready,
        index_url=published_index_url(config.serve),
    )
    return EXIT_OK


def _verify(config: Config, console: Console, args: argparse.Namespace) -> int:
    from cellar.cli.progress import (  # noqa: PLC0415
        BarVerifyReporter,
        LogVerifyReporter,
        summarize_verify,
    )
    from cellar.keep.model import VerifyOptions  # noqa: PLC0415
    from cellar.keep.verify import verify_mirror  # noqa: PLC0415

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
    from cellar.cli.progress import summarize_prune  # noqa: PLC0415
    from cellar.keep.delete import delete_projects  # noqa: PLC0415

    result = delete_projects(config, projects, dry_run=dry_run)
    print(printable_lines(summarize_prune(result)))
    return EXIT_FAILURES if result.unknown else EXIT_OK


def _status(config: Config) -> int:
    from cellar.cli.progress import describe_failure  # noqa: PLC0415
    from cellar.state import MirrorState  # noqa: PLC0415
    from cellar.units import human_bytes  # noqa: PLC0415

    # No mirror yet, or no usable record, raises MirrorStateError: a set-up problem (exit 2).
    with MirrorState.open(config.mirror.directory, create=False) as state:
        totals = state.totals()
        run = state.last_run()
        refusals = state.refusals()
        withdrawn = state.withdrawn()
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
    if refusals or withdrawn:
        held = sum(r.rule == "min-release-age" for r in refusals)
        lines.append(
            f"policy:   {len(refusals)} kept out ({held} held for their age), "
            f"{len(withdrawn)} withdrawn; `cellar audit` for each"
        )
    hosted = _hosted_totals(config)
    if hosted:
        lines.append(f"hosted:   {hosted}; `cellar host list` for each")
    print(printable_lines("\n".join(lines)))
    return EXIT_FAILURES if run is not None and run.failures else EXIT_OK


def _hosted_totals(config: Config) -> str | None:
    """What the tree hosts, in a few words; None when nothing (or the tree cannot be read)."""
    from contextlib import closing  # noqa: PLC0415

    from cellar.hosted.records import read_hosted  # noqa: PLC0415
    from cellar.tree.open import open_tree  # noqa: PLC0415
    from cellar.units import counted, human_bytes  # noqa: PLC0415

    try:
        with closing(open_tree(config.mirror.tree)) as storage:
            tree = read_hosted(storage)
    except (CellarError, OSError):
        return None
    if not tree.names:
        return None
    files = [file for record in tree.records.values() for file in record.files]
    said = (
        f"{counted(len(tree.names), 'project')}, {counted(len(files), 'file')}, "
        f"{human_bytes(sum(file.size for file in files))}"
    )
    return said + (f", {len(tree.damaged)} DAMAGED RECORDS" if tree.damaged else "")


def _local(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except ValueError:
        return stamp
