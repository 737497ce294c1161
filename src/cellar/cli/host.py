"""``cellar host``: hosted projects from the command line (add files, yank, list, tokens)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellar.exit_codes import EXIT_FAILURES, EXIT_OK, EXIT_USAGE
from cellar.printable import printable_lines

if TYPE_CHECKING:
    from cellar.config.model import Config

log = logging.getLogger("cellar")


def add_host_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``cellar host`` and its subcommands to the parser's ``commands``."""
    host = commands.add_parser(
        "host",
        help="hosted projects: add files, yank, list, make upload tokens",
        description="Hosted projects: the organisation's own packages, served with the mirror. "
        "docs/hosting.md describes it all.",
    )
    tools = host.add_subparsers(dest="tool", metavar="TOOL", required=True)
    add = tools.add_parser(
        "add",
        parents=[common],
        help="host wheels and sdists from this machine (a devpi or pypiserver directory too)",
        description="Check each FILE (and the wheels and sdists below each directory) as an "
        "upload is checked, and host it. A file the project has already, byte for byte, is "
        "skipped; one whose name it has with other bytes is refused. Exit 1 if any is refused.",
    )
    add.add_argument("paths", nargs="+", type=Path, metavar="FILE")
    add.add_argument("--uploader", help="the name recorded as uploader (default: your login)")
    for action in ("yank", "unyank"):
        parser = tools.add_parser(
            action,
            parents=[common],
            help=f"{action} every file of a hosted release (PEP 592)",
            description=f"{action.capitalize()} every file of PROJECT VERSION. Exit 1 when "
            "there is no such hosted release.",
        )
        parser.add_argument("project")
        parser.add_argument("version")
        if action == "yank":
            parser.add_argument("--reason", default="", help="shown to installers")
    listing = tools.add_parser(
        "list", parents=[common], help="the hosted projects, their versions and files"
    )
    listing.add_argument("--json", action="store_true", help="print JSON for machines")
    token = tools.add_parser(
        "token",
        parents=[common],
        help="make an upload token for USER and put it in [hosted] uploaders",
        description="Make a new token for USER (log in as __token__ with it, from twine or uv "
        "publish), and set it as USER's password in the uploaders file, replacing any other. "
        "The token is printed once; Cellar keeps only its bcrypt hash.",
    )
    token.add_argument("user")


def run_host(config: Config, args: argparse.Namespace) -> int:
    """Run ``cellar host <tool>``; return the exit code."""
    if args.tool == "token":
        return _token(config, args.user)
    from cellar.sync.hosting import HostedWriter  # noqa: PLC0415
    from cellar.tree.open import open_tree  # noqa: PLC0415

    write = args.tool != "list"
    with closing(open_tree(config.mirror.tree, write=write)) as storage:
        writer = HostedWriter(
            storage,
            hash_index=config.mirror.hash_index,
            merged=config.hosted.allow_upstream,
            reserve=config.hosted.reserve,
        )
        if args.tool == "add":
            return _add(config, writer, args.paths, args.uploader or getpass.getuser())
        if args.tool == "list":
            return _list(writer, as_json=args.json)
        yanked: bool | str = False
        if args.tool == "yank":
            yanked = args.reason.strip() or True
        return _yank(writer, args.project, args.version, yanked)


def _add(config: Config, writer: Any, paths: list[Path], uploader: str) -> int:
    from cellar.sync.host_files import host_files  # noqa: PLC0415

    results = host_files(writer, paths, uploader, max_size=config.hosted.max_upload_size)
    lines = []
    for result in results:
        if result.refusal is not None:
            lines.append(f"refused  {result.path}: {result.refusal}")
        else:
            said = "hosted" if result.added else "already hosted (the same bytes)"
            lines.append(f"{said:8} {result.path}")
    refused = sum(result.refusal is not None for result in results)
    added = sum(result.added for result in results)
    lines.append(
        f"{added} hosted, {len(results) - added - refused} already there, {refused} refused"
    )
    print(printable_lines("\n".join(lines)))
    if not results:
        log.error("no wheel or sdist found in %s", ", ".join(map(str, paths)))
        return EXIT_FAILURES
    return EXIT_FAILURES if refused else EXIT_OK


def _yank(writer: Any, project: str, version: str, yanked: bool | str) -> int:
    from cellar.hosted.validate import UploadRefused  # noqa: PLC0415

    try:
        files = writer.set_yanked(project, version, yanked, getpass.getuser())
    except UploadRefused as refusal:
        log.error("%s", refusal.reason)
        return EXIT_FAILURES
    verb = "yanked" if yanked is not False else "un-yanked"
    print(printable_lines("\n".join(f"{verb} {name}" for name in files)))
    return EXIT_OK


def _list(writer: Any, *, as_json: bool) -> int:
    from cellar.hosted.records import read_hosted  # noqa: PLC0415

    tree = read_hosted(writer.storage)
    if as_json:
        data = {
            name: {
                "name": record.name,
                "files": [
                    {
                        "filename": file.filename,
                        "version": file.version,
                        "size": file.size,
                        "sha256": file.sha256,
                        "uploader": file.uploader,
                        "upload-time": file.upload_time,
                        "yanked": file.yanked,
                    }
                    for file in record.files
                ],
            }
            for name, record in sorted(tree.records.items())
        }
        data.update({name: {"damaged": reason} for name, reason in tree.damaged.items()})
        print(json.dumps(data, indent=2))
        return EXIT_OK
    lines = []
    for _, record in sorted(tree.records.items()):
        lines.append(f"{record.name}: {len(record.files)} files")
        for file in record.files:
            yanked = "" if file.yanked is False else "  (yanked)"
            lines.append(f"  {file.filename}  {file.size} B  {file.uploader}{yanked}")
    lines.extend(f"{name}: DAMAGED RECORD: {reason}" for name, reason in tree.damaged.items())
    print(printable_lines("\n".join(lines) or "no hosted projects"))
    return EXIT_FAILURES if tree.damaged else EXIT_OK


def _token(config: Config, user: str) -> int:
    from cellar.hosted.tokens import make_token  # noqa: PLC0415
    from cellar.hosted.uploaders import set_password  # noqa: PLC0415

    path = config.hosted.uploaders
    if path is None:
        log.error("%s: set [hosted] uploaders (the file tokens go into) first", config.source)
        return EXIT_USAGE
    if not user or ":" in user or user == "__token__":
        log.error("%r is not a user name", user)
        return EXIT_USAGE
    token = make_token(user)
    set_password(path, user, token)
    if config.hosted.granted(user) is None:
        log.warning("%s has no [hosted.grants] entry yet: the token uploads nothing", user)
    log.info("%s's token is set in %s (a running server reads it at its next request)", user, path)
    print(token)
    return EXIT_OK
