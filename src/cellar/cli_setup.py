"""The commands that print set-up for others: ``client-config`` (pip, uv, ...) and ``nginx-config``.

Their arguments, and what they do with them; ``cli.py`` registers and dispatches them.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from cellar.clients import OS_NAMES, SHELLS, ClientAccess
from cellar.config import CONFIG_ENV, Config, config_path, load_config
from cellar.exit_codes import EXIT_OK, EXIT_USAGE

log = logging.getLogger("cellar")


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


def client_config(args: argparse.Namespace) -> int:
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


def nginx_config(config: Config, args: argparse.Namespace) -> int:
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
