"""What an nginx configuration serves, and where: ``NginxSite`` from a mirror's config, checked.

Every value here is written into nginx's text by ``cellar.nginx``: ``check_site`` refuses what
nginx cannot take as written (a ``$`` in a path, a relative path, a listen address or server
name it would misread) with a ``NginxConfigError`` saying what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cellar.config.model import Config
from cellar.config.serve import ServeSettings
from cellar.errors import CellarError

#: How long clients and caches may reuse a page before asking again (as ``cellar serve``).
PAGE_MAX_AGE: Final = 60
#: What an upload's form may add to the file (its metadata fields: a long description).
UPLOAD_FORM_ROOM: Final = 16 * 1024 * 1024
_BACKEND = re.compile(r"https?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?/?")

_LISTEN = re.compile(r"(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})")
_SERVER_NAME = re.compile(r"[A-Za-z0-9*_.~-]+")
_PREFIX = re.compile(r"/(?:[A-Za-z0-9._~-]+/)*")


class NginxConfigError(CellarError):
    """The mirror cannot be described to nginx as asked; the message says what to change."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The certificate (chain) and private key nginx reads, as paths on the nginx host."""

    certificate: Path
    key: Path


@dataclass(frozen=True, slots=True)
class NginxSite:
    """What the configuration serves, where, and to whom; paths as nginx sees them."""

    web_root: Path
    #: ``listen`` addresses: ``8080``, ``127.0.0.1:8080``, ``[::]:443``.
    listen: tuple[str, ...] = ("127.0.0.1:8080",)
    server_names: tuple[str, ...] = ("_",)
    tls: TlsFiles | None = None
    #: Plain-HTTP addresses answered with a 301 to HTTPS (with ``tls`` only).
    http_redirect: tuple[str, ...] = ()
    htpasswd: Path | None = None
    health_without_auth: bool = True
    hash_index: bool = False
    #: Serve bandersnatch's JSON documents (``/json/<name>``, ``/pypi/<name>/json``).
    json_api: bool = False
    #: The path the mirror is reached under (``/``, or ``/python/`` behind a shared host name).
    prefix: str = "/"
    page_max_age: int = PAGE_MAX_AGE
    #: Write the ``map`` blocks; one nginx needs them once, however many mirrors it serves.
    maps: bool = True
    #: ``[hosted] upload-path``, proxied to ``upload_backend`` (``cellar serve``), which
    #: checks the uploaders' credentials; None: nginx takes no uploads.
    upload_path: str | None = None
    upload_backend: str | None = None
    #: The largest upload body nginx lets through (the file's limit, and room for the form).
    upload_body: int = 0


def site_from_config(
    config: Config,
    *,
    listen: tuple[str, ...] = (),
    server_names: tuple[str, ...] = (),
    tls: bool | None = None,
    certificate: Path | None = None,
    key: Path | None = None,
    http_redirect: tuple[str, ...] | None = None,
    web_root: Path | None = None,
    htpasswd: Path | None = None,
    page_max_age: int = PAGE_MAX_AGE,
    maps: bool = True,
    upload_backend: str | None = None,
) -> NginxSite:
    """Return the site for ``config``; arguments given override what the config says.

    Defaults: TLS when ``[serve]`` names a certificate; listening where clients are told the
    mirror is (``[serve] url``'s port, else 443 or 80; without a URL ``[serve]`` host and port);
    the URL's host as server name; with TLS, a redirect from port 80 on the same address. Raises
    ``NginxConfigError`` for TLS without a certificate and key, for values nginx cannot take,
    and for a tree in an object store (docs/nginx.md, "A mirror in S3": nginx cannot sign
    requests to a private bucket; put it in front of ``cellar serve`` instead).
    """
    s3 = config.mirror.storage.s3
    if s3 is not None and web_root is None:
        raise NginxConfigError(
            f"the tree is in {s3.url}: nginx cannot read a private bucket (it does not sign "
            "S3 requests), so serve it with `cellar serve` on each machine and, if you want "
            "nginx, put it in front as a reverse proxy (docs/nginx.md, 'A mirror in S3'); "
            "--root names a local copy instead"
        )
    serve = config.serve
    use_tls = serve.tls if tls is None else tls
    url = urlsplit(serve.url) if serve.url is not None else None
    if not listen:
        if url is not None:
            listen = (str(url.port or (443 if use_tls else 80)),)
        else:
            host = f"[{serve.host}]" if ":" in serve.host else serve.host
            listen = (f"{host}:{serve.port}",)
    if not server_names:
        name = url.hostname if url is not None else None
        # An IPv6 literal is no server name nginx takes; "_" matches nothing, as intended.
        server_names = (name,) if name and _SERVER_NAME.fullmatch(name) else ("_",)
    tls_files = None
    if use_tls:
        certificate = certificate or serve.tls_certificate
        key = key or serve.tls_key
        if certificate is None or key is None:
            raise NginxConfigError(
                "HTTPS needs a certificate and its key: set [serve] tls-certificate and "
                "tls-key, or pass --certificate and --key (or --no-tls for plain HTTP)"
            )
        tls_files = TlsFiles(certificate, key)
    if http_redirect is None:
        http_redirect = (
            (_with_port(listen[0], 80),) if use_tls and listen_port(listen[0]) != 80 else ()
        )
    site = NginxSite(
        web_root=web_root or config.mirror.web_root,
        listen=listen,
        server_names=server_names,
        tls=tls_files,
        http_redirect=http_redirect if use_tls else (),
        htpasswd=htpasswd or serve.htpasswd,
        health_without_auth=serve.health_without_auth,
        hash_index=config.mirror.hash_index,
        json_api=config.mirror.json_api,
        prefix=(url.path or "/") if url is not None else "/",
        page_max_age=page_max_age,
        maps=maps,
        upload_path=config.hosted.upload_path,
        upload_backend=(upload_backend or _backend(serve)) if config.hosted.upload_path else None,
        upload_body=config.hosted.max_upload_size + UPLOAD_FORM_ROOM,
    )
    check_site(site)
    return site


def _backend(serve: ServeSettings) -> str:
    host = serve.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if serve.tls else 'http'}://{host}:{serve.port}"


def check_site(site: NginxSite) -> None:
    """Raise ``NginxConfigError`` for a value that would not survive being written for nginx."""
    if not site.listen:
        raise NginxConfigError("nginx needs at least one address to listen on (--listen)")
    for address in (*site.listen, *site.http_redirect):
        match = _LISTEN.fullmatch(address)
        if match is None or not 0 < int(match.group(1)) < 65536:
            raise NginxConfigError(
                f"{address!r} is not an nginx listen address: give PORT, HOST:PORT or [IPv6]:PORT"
            )
    for name in site.server_names:
        if not _SERVER_NAME.fullmatch(name):
            raise NginxConfigError(f"{name!r} is not a server name nginx can take as written")
    prefix = site.prefix if site.prefix.endswith("/") else f"{site.prefix}/"
    if not _PREFIX.fullmatch(prefix):
        raise NginxConfigError(
            f"the path {site.prefix!r} in [serve] url cannot be served by this configuration: "
            "use letters, digits and . _ ~ - between slashes"
        )
    if site.page_max_age < 0:
        raise NginxConfigError(
            f"the page max-age must be 0 or more seconds, not {site.page_max_age}"
        )
    if site.upload_backend is not None and not _BACKEND.fullmatch(site.upload_backend):
        raise NginxConfigError(
            f"--upload-backend {site.upload_backend!r} is not http(s)://HOST:PORT, where "
            "cellar serve listens"
        )
    paths = [site.web_root, site.htpasswd]
    if site.tls is not None:
        paths += [site.tls.certificate, site.tls.key]
    for path in paths:
        if path is not None and not path.is_absolute():
            raise NginxConfigError(
                f"{path} is a relative path, which nginx would take relative to its own "
                "directory: give it whole"
            )
        if path is not None and ("$" in str(path) or "\n" in str(path)):
            raise NginxConfigError(
                f"nginx cannot name {str(path)!r}: its paths may hold no '$' or line break; "
                "move the file or link it from a plain path"
            )


def listen_port(address: str) -> int:
    """Return the port of the nginx listen ``address`` (0 if it is not one)."""
    match = _LISTEN.fullmatch(address)
    return int(match.group(1)) if match else 0


def _with_port(address: str, port: int) -> str:
    host, colon, _ = address.rpartition(":")
    return f"{host}:{port}" if colon else str(port)
