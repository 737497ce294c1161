"""nginx configuration for a mirror's tree: the text ``cellar nginx-config`` prints (pure, no I/O).

The output goes inside nginx's ``http { }`` block (``/etc/nginx/conf.d/cellar.conf``): the
``map`` blocks of ``cellar.nginx.maps`` (PEP 691 negotiation, PEP 503 names), then one
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
and ``immutable``. Every value written into the text is checked (``cellar.nginx.site``, where
the ``NginxSite`` comes from) or quoted; what nginx cannot take (a ``$`` in a path, a relative
path) is a ``NginxConfigError``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from cellar import __version__
from cellar.nginx.maps import map_blocks
from cellar.nginx.site import (
    PAGE_MAX_AGE,
    NginxConfigError,
    NginxSite,
    TlsFiles,
    check_site,
    listen_port,
    site_from_config,
)

__all__ = [
    "FILE_CACHE_CONTROL",
    "FILE_TYPES",
    "PAGE_MAX_AGE",
    "PAGE_TYPES",
    "NginxConfigError",
    "NginxSite",
    "TlsFiles",
    "check_site",
    "render_nginx_config",
    "site_from_config",
]

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
    ("application/json", "provenance"),
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
        *_upload_locations(site),
        *_page_locations(site),
        *_file_locations(site),
        *_prefix_locations(site),
        "}",
        "",
    ]
    return lines


def _fixed_locations(site: NginxSite) -> list[str]:
    health_auth = ["        auth_basic off;"] if site.htpasswd and site.health_without_auth else []
    if site.upload_path is None:
        methods = [
            "    # The Simple API is read-only: GET and HEAD, else 405 with Allow.",
            '    if ($request_method !~ "^(?:GET|HEAD)$") {',
        ]
    else:
        upload = re.escape(site.upload_path.rstrip("/"))
        methods = [
            "    # The Simple API is read-only: GET and HEAD, else 405 with Allow; POST only to",
            "    # the upload path.",
            '    set $cellar_request "$request_method $uri";',
            f'    if ($cellar_request !~ "^(?:(?:GET|HEAD) |POST {upload}/?$)") {{',
        ]
    return [
        "",
        *methods,
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


def _upload_locations(site: NginxSite) -> list[str]:
    if site.upload_path is None or site.upload_backend is None:
        return []
    path = site.upload_path.rstrip("/")
    backend = site.upload_backend.rstrip("/")
    auth = ["        auth_basic off;  # uploaders' credentials, checked by cellar serve"]
    return [
        "",
        "    # Uploads to hosted projects (twine upload, uv publish) go to cellar serve, which",
        "    # checks the uploader's credentials and the file; streamed, not buffered whole.",
        f'    location ~ "^{re.escape(path)}/?$" {{',
        *(auth if site.htpasswd is not None else []),
        f"        client_max_body_size {site.upload_body};",
        "        proxy_request_buffering off;",
        "        proxy_http_version 1.1;",
        "        proxy_read_timeout 600s;",
        "        proxy_set_header Host $http_host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "        proxy_set_header X-Forwarded-Proto $scheme;",
        f"        proxy_pass {backend};",
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
    port = listen_port(site.listen[0])
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
