"""The ``cellar`` command line's grammar: commands, options and their help.

Kept apart from what the commands do, and light to import: ``cellar --help`` and
``cellar --version`` are answered from this module alone, before any command's code is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cellar import __version__
from cellar.cli.host import add_host_parser
from cellar.clients import OS_NAMES, SHELLS
from cellar.config.location import CONFIG_ENV, DEFAULT_CONFIG


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``cellar``'s command line (light: ``--help`` and ``--version``
    answer from it alone)."""
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
    audit = commands.add_parser(
        "audit",
        parents=[common],
        help="judge what the mirror holds against the advisory database; show what the "
        "policy keeps out",
        description="List every advisory in the OSV database ([policy] osv, or --osv) on a "
        "release the mirror lists, with what the policy does with it now; then what the "
        "policy refused and withdrew ([policy], docs/policy.md). Exit 1 when the mirror lists "
        "a release the policy refuses (the next `cellar mirror` withdraws it), else 0.",
    )
    audit.add_argument("--json", action="store_true", help="print JSON for machines")
    audit.add_argument(
        "--osv",
        metavar="PATH",
        type=Path,
        help="an OSV database (the PyPI export zip, or a directory of OSV JSON) instead of "
        "[policy] osv: a newer one, carried in to an air-gapped site",
    )
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
    keygen = commands.add_parser(
        "keygen",
        parents=[common],
        help="make an Ed25519 key pair for signing bundles",
        description="Write <name>.key (the private key, readable by its owner only: keep it on "
        "the outer side) and <name>.pub (give it to the inner side) into DIR. An existing key "
        "file is never replaced.",
    )
    keygen.add_argument("--output", "-o", type=Path, required=True, metavar="DIR")
    keygen.add_argument("--name", default="cellar", help="the key's name (default: cellar)")
    export = commands.add_parser(
        "export",
        parents=[common],
        help="write a signed bundle of what changed, for a mirror across an air gap",
        description="Write a bundle of the objects that changed since the last bundle (or "
        "--since one, or everything with --full) into DIR: tar volumes and a signed manifest. "
        "docs/airgap.md gives the procedure.",
    )
    export.add_argument("--output", "-o", type=Path, metavar="DIR", help="a new directory")
    export.add_argument("--full", action="store_true", help="everything, following no bundle")
    export.add_argument("--since", metavar="BUNDLE", help="a bundle's directory or id")
    export.add_argument(
        "--volume-size", metavar="SIZE", help="largest volume (e.g. 4G; [bundle] volume-size)"
    )
    export.add_argument("--key", type=Path, metavar="FILE", help="default: [bundle] signing-key")
    export.add_argument("--dry-run", action="store_true", help="say what would go, write nothing")
    importer = commands.add_parser(
        "import",
        parents=[common],
        help="check a bundle whole, then apply it to this mirror",
        description="Check the bundle in DIR (signature by a key in [bundle] trusted-keys, "
        "manifest, sequence, every volume and object), then apply it. Exit 1 when it is "
        "refused (nothing is applied); importing it again changes nothing.",
    )
    importer.add_argument("bundle", type=Path, metavar="DIR")
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
    add_host_parser(commands, common)
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


def add_client_config_parser(
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


def add_nginx_config_parser(
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
    nginx.add_argument(
        "--upload-backend",
        metavar="URL",
        help="where cellar serve takes uploads ([hosted] upload-path is proxied there; "
        "default: http://<[serve] host>:<[serve] port>)",
    )
