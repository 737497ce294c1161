"""nginx configuration for a mirror's tree: the text ``cellar nginx-config`` prints (pure, no I/O).

The output goes inside nginx's ``http { }`` block (``/etc/nginx/conf.d/cellar.conf``): the
``map`` blocks of ``cellar.nginx_maps`` (PEP 691 negotiation, PEP 503 names), then one
``server`` (and, with TLS, a second one answering plain HTTP with a redirect to HTTPS). It
serves the tree as ``cellar serve`` does, from the pre-rendered page files:

    /health               200 "ok" (without auth unless ``[serve] health-without-auth`` is off)
    /                     302 to simple/
    /simple, /simple/     301 to simple/; the root page, negotiated
    /simple/<name>/       the project page, negotiated, found in either layout (the hash-index
                          one first when ``hash_index``: bandersnatch's rewrite, as a lookup)
    other spellings       301 to the normalised name when the project is there, else 404
    /packages/<path>      the file, never compressed, with ranges and validators
    /json/, /pypi/        bandersnatch's JSON documents, when ``json_api``
    anything else         404; hidden names 404; methods other than GET and HEAD 405

Pages get ``Vary: Accept, Accept-Encoding``, a short ``Cache-Control`` and gzip; files a year
and ``immutable``. Every value written into the text is checked or quoted; what nginx cannot
take (a ``$`` in a path, a relative path) is a ``NginxConfigError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cellar import __version__
from cellar.config import Config
from cellar.errors import CellarError
from cellar.nginx_maps import map_blocks

#: How long clients and caches may reuse a page before asking again (as ``cellar serve``).
PAGE_MAX_AGE: Final = 60
#: Files and their ``.metadata`` never change under their name.
FILE_CACHE_CONTROL: Final = "max-age=31536000, immutable"
PAGE_TYPES: Final = (
    ("application/vnd.pypi.simple.v1+json", "v1_json"),
    ("application/vnd.pypi.simple.v1+html", "v1_html"),
    ("text/html", "html"),
)
#: Distribution files' types by extension, as ``cellar serve`` sends them.
FILE_TYPES: Final = (
    ("application/zip", "whl zip egg"),
    ("application/gzip", "gz tgz"),
    ("application/x-bzip2", "bz2"),
    ("application/x-xz", "xz"),
    ("text/plain", "metadata"),
    ("application/pgp-signature", "asc"),
)

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
) -> NginxSite:
    """Return the site for ``config``; arguments given override what the config says.

    Defaults: TLS when ``[serve]`` names a certificate; listening where clients are told the
    mirror is (``[serve] url``'s port, else 443 or 80; without a URL ``[serve]`` host and port);
    the URL's host as server name; with TLS, a redirect from port 80 on the same address. Raises
    ``NginxConfigError`` for TLS without a certificate and key, and for values nginx cannot take.
    """
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
        http_redirect = (_with_port(listen[0], 80),) if use_tls and _port(listen[0]) != 80 else ()
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
    )
    check_site(site)
    return site


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


def render_nginx_config(site: NginxSite, source: Path | None = None) -> str:
    """Return the configuration text for ``site`` (``source``: the config it came from)."""
    check_site(site)
    layout = "hash-index" if site.hash_index else "flat"
    lines = [
        f"# nginx configuration for the Cellar mirror in {site.web_root} ({layout} layout),",
        f"# written by `cellar nginx-config` (cellar {__version__})"
        + (f" from {' '.join(str(source).splitlines())}." if source is not None else "."),
        "# Put it inside the http { } block (e.g. /etc/nginx/conf.d/cellar.conf), check it with",
        "# `nginx -t`, then reload nginx. `cellar mirror` replaces page files atomically, so",
        "# nginx needs no reload after a mirror run.",
        "",
    ]
    if site.maps:
        lines += map_blocks()
    lines += _server(site)
    if site.tls is not None and site.http_redirect:
        lines += _redirect_server(site)
    return "\n".join(lines)


# -- servers ----------------------------------------------------------------------------------


def _quoted(path: Path) -> str:
    text = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _port(address: str) -> int:
    match = _LISTEN.fullmatch(address)
    return int(match.group(1)) if match else 0


def _with_port(address: str, port: int) -> str:
    host, colon, _ = address.rpartition(":")
    return f"{host}:{port}" if colon else str(port)


def _server(site: NginxSite) -> list[str]:
    ssl = " ssl" if site.tls is not None else ""
    lines = ["server {"]
    lines += [f"    listen {address}{ssl};" for address in site.listen]
    lines.append(f"    server_name {' '.join(site.server_names)};")
    if site.tls is not None:
        lines += [
            f"    ssl_certificate {_quoted(site.tls.certificate)};",
            f"    ssl_certificate_key {_quoted(site.tls.key)};",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            "    ssl_session_cache shared:cellar_tls:10m;",
            "    ssl_session_timeout 1d;",
        ]
    lines += [
        "",
        f"    root {_quoted(site.web_root)};",
        "    absolute_redirect off;",
        "    autoindex off;",
        "    charset utf-8;",
        "    charset_types text/plain application/vnd.pypi.simple.v1+html;  # and text/html",
        "    etag on;",
        "    # A cached descriptor would keep serving a page `cellar mirror` has replaced.",
        "    open_file_cache off;",
        "    sendfile on;",
        "    tcp_nopush on;",
        "    gzip off;  # pages turn it on; distribution files are sent byte for byte",
    ]
    if site.htpasswd is not None:
        lines += [
            "",
            "    # HTTP basic auth; nginx checks bcrypt entries with the C library's crypt().",
            '    auth_basic "Cellar mirror";',
            f"    auth_basic_user_file {_quoted(site.htpasswd)};",
        ]
    lines += [
        *_fixed_locations(site),
        *_page_locations(site),
        *_file_locations(site),
        *_prefix_locations(site),
        "}",
        "",
    ]
    return lines


def _fixed_locations(site: NginxSite) -> list[str]:
    health_auth = ["        auth_basic off;"] if site.htpasswd and site.health_without_auth else []
    return [
        "",
        "    # The Simple API is read-only: GET and HEAD, else 405 with Allow.",
        '    if ($request_method !~ "^(?:GET|HEAD)$") {',
        "        return 405;",
        "    }",
        "    error_page 405 @cellar_method_not_allowed;",
        "    location @cellar_method_not_allowed {",
        "        default_type text/plain;",
        '        add_header Allow "GET, HEAD" always;',
        '        return 405 "only GET and HEAD are allowed\\n";',
        "    }",
        "",
        "    location = /health {",
        *health_auth,
        "        default_type text/plain;",
        '        add_header Cache-Control "no-store";',
        '        return 200 "ok\\n";',
        "    }",
        "    location = / {",
        "        return 302 simple/$is_args$args;",
        "    }",
        "    # Hidden names (leftover .part files, ..) are never served.",
        '    location ~ "/\\." {',
        "        return 404;",
        "    }",
        "    location / {",
        "        return 404;",
        "    }",
    ]


def _page_settings(site: NginxSite) -> list[str]:
    types = " ".join(f"{media} {ext};" for media, ext in PAGE_TYPES)
    return [
        f"        types {{ {types} }}",
        "        gzip on;",
        f"        gzip_types {PAGE_TYPES[0][0]} {PAGE_TYPES[1][0]};  # and text/html",
        "        gzip_proxied any;",
        "        gzip_vary off;  # Vary is below, whole",
        '        add_header Vary "Accept, Accept-Encoding";',
        f'        add_header Cache-Control "max-age={site.page_max_age}";',
    ]


def _page_locations(site: NginxSite) -> list[str]:
    flat = "/simple/$cellar_project/$cellar_page"
    hashed = "/simple/$cellar_letter/$cellar_project/$cellar_page"
    first, second = (hashed, flat) if site.hash_index else (flat, hashed)
    redirect = "return 301 $cellar_up$cellar_normal/$is_args$args;"
    return [
        "",
        "    location = /simple {",
        "        return 301 simple/$is_args$args;",
        "    }",
        "    location = /simple/ {",
        *_page_settings(site),
        "        try_files /simple/$cellar_page =404;",
        "    }",
        "    # A project page under its normalised name: the negotiated file, in either layout",
        "    # (hash-index: simple/<first letter>/<name>/, as bandersnatch's rewrite finds it).",
        '    location ~ "^/simple/(?<cellar_project>(?<cellar_letter>[a-z0-9])[a-z0-9]*'
        '(?:-[a-z0-9]+)*)/$" {',
        *_page_settings(site),
        f"        try_files {first} {second} =404;",
        "    }",
        "    # Any other spelling, or no trailing slash: 301 to the normalised name if the project",
        "    # is there (a name still partly normalised goes on to the next step unchecked).",
        '    location ~ "^/simple/(?<cellar_spelled>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)'
        '(?<cellar_slash>/?)$" {',
        "        if ($cellar_partial) {",
        f"            {redirect}",
        "        }",
        "        if (-f $document_root/simple/$cellar_normal/index.html) {",
        f"            {redirect}",
        "        }",
        "        if (-f $document_root/simple/$cellar_initial/$cellar_normal/index.html) {",
        f"            {redirect}",
        "        }",
        "        return 404;",
        "    }",
    ]


def _file_locations(site: NginxSite) -> list[str]:
    types = " ".join(f"{media} {extensions};" for media, extensions in FILE_TYPES)
    lines = [
        "",
        "    location /packages/ {",
        f"        types {{ {types} }}",
        "        default_type application/octet-stream;",
        f'        add_header Cache-Control "{FILE_CACHE_CONTROL}";',
        "        try_files $uri =404;",
        "    }",
    ]
    if site.json_api:
        for path in ("/json/", "/pypi/"):
            lines += [
                f"    location {path} {{  # bandersnatch's JSON API documents",
                "        types { }",
                "        default_type application/json;",
                "        gzip on;",
                "        gzip_types application/json;",
                f'        add_header Cache-Control "max-age={site.page_max_age}";',
                "        try_files $uri =404;",
                "    }",
            ]
    return lines


def _prefix_locations(site: NginxSite) -> list[str]:
    if site.prefix == "/":
        return []
    prefix = site.prefix.rstrip("/")
    return [
        "",
        f"    # Served under {prefix}/: the same paths without it (redirects are relative).",
        f"    location ^~ {prefix}/ {{",
        f'        rewrite "^{re.escape(prefix)}(/.*)$" $1 last;',
        "    }",
        f"    location = {prefix} {{",
        f"        return 301 {prefix.rpartition('/')[2]}/$is_args$args;",
        "    }",
    ]


def _redirect_server(site: NginxSite) -> list[str]:
    port = _port(site.listen[0])
    authority = "$host" if port == 443 else f"$host:{port}"
    lines = ["# Plain HTTP: everything moves to HTTPS.", "server {"]
    lines += [f"    listen {address};" for address in site.http_redirect]
    lines += [
        f"    server_name {' '.join(site.server_names)};",
        f"    return 301 https://{authority}$request_uri;",
        "}",
        "",
    ]
    return lines
