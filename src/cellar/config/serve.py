"""The ``[serve]`` table: how ``cellar serve`` listens, who may read, and what URL clients use.

Only shape and value checks live here (no file is opened): ``cellar serve`` itself checks that
the htpasswd, certificate and key files are readable and match when it starts, so a config that
names a certificate still loads on a machine that only mirrors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from cellar.config.checks import (
    ConfigProblem,
    check_range,
    check_timeout,
    get_value,
    resolve_path,
)
from cellar.config.hosted import HostedSettings

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
SERVE_KEYS: Final = frozenset(
    {
        *("host", "port", "url", "workers", "htpasswd", "health-without-auth"),
        *("tls-certificate", "tls-key", "access-log"),
        *("header-timeout", "idle-timeout", "max-connections"),
    }
)
#: Seconds a client has, from opening a connection, to send its first request's headers.
DEFAULT_HEADER_TIMEOUT: Final = 15.0
#: Seconds after an answer within which the next request on the connection must be in.
DEFAULT_IDLE_TIMEOUT: Final = 30.0
#: Open connections per server process (less if the file descriptor limit is lower).
DEFAULT_MAX_CONNECTIONS: Final = 1024


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """What a server taking uploads needs beyond ``[serve]``: ``[hosted]`` and the layout."""

    hosted: HostedSettings
    hash_index: bool = False


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """The ``[serve]`` table, validated; every path is absolute."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: The base URL clients reach the mirror at (``https://pypi.example.org/``), for
    #: ``cellar client-config``, the pages for people and nginx's ``server_name``; when None
    #: it is made from ``host``, ``port`` and whether TLS is on (``base_url``).
    url: str | None = None
    #: Server processes sharing the listening port.
    workers: int = 1
    #: An htpasswd file (bcrypt entries): when set, every request needs HTTP basic auth.
    htpasswd: Path | None = None
    #: With ``htpasswd``: let ``/health`` through without credentials (for load balancers).
    health_without_auth: bool = True
    tls_certificate: Path | None = None
    tls_key: Path | None = None
    #: Where the access log goes (Combined Log Format); None: the ``cellar.serve.access`` logger
    #: (standard error, which systemd's journal keeps).
    access_log: Path | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    #: Uploads to hosted projects (``[hosted]`` with ``uploaders``), and the page layout they
    #: publish in; None: the server takes none. Set by ``cellar serve`` from the whole config.
    uploads: UploadSettings | None = None

    @property
    def tls(self) -> bool:
        """True when the server speaks HTTPS."""
        return self.tls_certificate is not None

    @property
    def base_url(self) -> str:
        """The mirror's base URL with a trailing slash: ``url``, else made from host and port."""
        if self.url is not None:
            return self.url if self.url.endswith("/") else f"{self.url}/"
        scheme = "https" if self.tls else "http"
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        default_port = 443 if self.tls else 80
        port = "" if self.port == default_port else f":{self.port}"
        return f"{scheme}://{host}{port}/"

    @property
    def index_url(self) -> str:
        """The Simple API root clients put in ``index-url``: ``<base_url>simple/``."""
        return f"{self.base_url}simple/"


def serve_table(
    table: Mapping[str, Any], base: Path, problems: list[ConfigProblem]
) -> ServeSettings:
    """Validate ``[serve]``; relative paths are taken relative to the directory ``base``."""
    host = get_value(table, "serve", "host", str, problems)
    port = get_value(table, "serve", "port", int, problems)
    url = get_value(table, "serve", "url", str, problems)
    workers = get_value(table, "serve", "workers", int, problems)
    health = get_value(table, "serve", "health-without-auth", bool, problems)
    header_timeout = get_value(table, "serve", "header-timeout", (int, float), problems)
    idle_timeout = get_value(table, "serve", "idle-timeout", (int, float), problems)
    connections = get_value(table, "serve", "max-connections", int, problems)
    paths: dict[str, Path | None] = {}
    for key in ("htpasswd", "tls-certificate", "tls-key", "access-log"):
        value = get_value(table, "serve", key, str, problems)
        if value is not None and not value.strip():
            problems.append(ConfigProblem(f"[serve] {key}", "must not be empty"))
            value = None
        paths[key] = resolve_path(base, value) if value else None
    if host is not None and not host.strip():
        problems.append(ConfigProblem("[serve] host", "must not be empty"))
        host = None
    port = check_range(port, "[serve] port", problems, low=0, high=65535, default=DEFAULT_PORT)
    workers = check_range(workers, "[serve] workers", problems, low=1, high=64, default=1)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                ConfigProblem("[serve] url", f"must be an http:// or https:// URL, not {url!r}")
            )
            url = None
        elif parts.query or parts.fragment:
            problems.append(
                ConfigProblem("[serve] url", f"must not have a query or fragment: {url!r}")
            )
            url = None
    if (paths["tls-certificate"] is None) != (paths["tls-key"] is None):
        given, missing = (
            ("tls-certificate", "tls-key")
            if paths["tls-certificate"] is not None
            else ("tls-key", "tls-certificate")
        )
        problems.append(ConfigProblem(f"[serve] {missing}", f"is required with {given}"))
    if health is not None and paths["htpasswd"] is None:
        problems.append(
            ConfigProblem("[serve] health-without-auth", "has no meaning without htpasswd")
        )
    return ServeSettings(
        host=host or DEFAULT_HOST,
        port=port,
        url=url,
        workers=workers,
        htpasswd=paths["htpasswd"],
        health_without_auth=True if health is None else health,
        tls_certificate=paths["tls-certificate"],
        tls_key=paths["tls-key"],
        access_log=paths["access-log"],
        header_timeout=check_timeout(
            header_timeout, "[serve] header-timeout", problems, default=DEFAULT_HEADER_TIMEOUT
        ),
        idle_timeout=check_timeout(
            idle_timeout, "[serve] idle-timeout", problems, default=DEFAULT_IDLE_TIMEOUT
        ),
        max_connections=check_range(
            connections,
            "[serve] max-connections",
            problems,
            low=1,
            high=1_000_000,
            default=DEFAULT_MAX_CONNECTIONS,
        ),
    )
