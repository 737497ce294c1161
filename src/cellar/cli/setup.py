"""The commands that print set-up for others: ``client-config`` (pip, uv, ...) and ``nginx-config``.

What they do with their arguments (``cellar.cli.parser`` has the arguments).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from cellar.clients import ClientAccess
from cellar.config.load import load_config
from cellar.config.location import CONFIG_ENV, config_path
from cellar.config.model import Config
from cellar.exit_codes import EXIT_OK, EXIT_USAGE

log = logging.getLogger("cellar")


def client_config(args: argparse.Namespace) -> int:
    from cellar.clients import current_os, env_assignments  # noqa: PLC0415
    from cellar.clients.files import Machine, plan_write, write_planned  # noqa: PLC0415
    from cellar.clients.report import render_report  # noqa: PLC0415

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
    from cellar.config.serve import ServeSettings  # noqa: PLC0415

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
        upload_backend=args.upload_backend,
    )
    print(render_nginx_config(site, config.source), end="")
    return EXIT_OK
