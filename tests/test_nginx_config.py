"""`cellar nginx-config`: what it writes for each setting, that nginx accepts it (``nginx -t``), and
that real nginx negotiates and normalises names as Cellar's own code does, case by case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from packaging.utils import canonicalize_name

from cellar.cli import main
from cellar.config.load import load_config
from cellar.nginx import (
    NginxConfigError,
    NginxSite,
    TlsFiles,
    render_nginx_config,
    site_from_config,
)
from cellar.nginx.maps import NAME_FIXES_PER_REDIRECT
from cellar.serve.negotiate import PageFormat, choose_format
from tests.support import accept
from tests.support.http_client import fetch
from tests.support.nginx import free_port, nginx_test, running_nginx

JSON = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML = "text/html"


def config_file(tmp_path: Path, serve: str = "", mirror: str = "") -> Path:
    path = tmp_path / "cellar.toml"
    path.write_text(
        f'[mirror]\ndirectory = "mirror"\n{mirror}\n[serve]\n{serve}\n', encoding="utf-8"
    )
    return path


def site_for(tmp_path: Path, serve: str = "", mirror: str = "", **overrides: Any) -> NginxSite:
    return site_from_config(load_config(config_file(tmp_path, serve, mirror)), **overrides)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    directory = tmp_path_factory.mktemp("tls")
    issued = trustme.CA().issue_cert("127.0.0.1", "localhost")
    issued.cert_chain_pems[0].write_to_path(directory / "cert.pem")
    issued.private_key_pem.write_to_path(directory / "key.pem")
    return TlsFiles(directory / "cert.pem", directory / "key.pem")


# -- what the defaults and options become ------------------------------------------------------


def test_without_a_url_nginx_listens_where_cellar_serve_would(tmp_path: Path) -> None:
    site = site_for(tmp_path, 'host = "0.0.0.0"\nport = 8081')
    assert (site.listen, site.server_names, site.tls, site.prefix) == (
        ("0.0.0.0:8081",),
        ("_",),
        None,
        "/",
    )
    assert site.web_root == tmp_path / "mirror" / "web"


def test_the_url_gives_the_port_and_the_server_name(tmp_path: Path) -> None:
    site = site_for(tmp_path, 'url = "http://packages.example.test:8000/"')
    assert (site.listen, site.server_names) == (("8000",), ("packages.example.test",))
    site = site_for(tmp_path, 'url = "http://packages.example.test/"')
    assert site.listen == ("80",)


def test_tls_from_the_config_listens_on_443_and_redirects_port_80(
    tmp_path: Path,
    certificate: TlsFiles,
) -> None:
    serve = (
        f'url = "https://packages.example.test/"\ntls-certificate = "{certificate.certificate}"\n'
        f'tls-key = "{certificate.key}"'
    )
    site = site_for(tmp_path, serve)
    assert (site.listen, site.http_redirect, site.tls) == (("443",), ("80",), certificate)
    text = render_nginx_config(site)
    assert "listen 443 ssl;" in text
    assert "return 301 https://$host$request_uri;" in text


def test_tls_on_another_port_redirects_to_that_port(tmp_path: Path, certificate: TlsFiles) -> None:
    site = site_for(
        tmp_path,
        tls=True,
        certificate=certificate.certificate,
        key=certificate.key,
        listen=("127.0.0.1:8443",),
    )
    assert site.http_redirect == ("127.0.0.1:80",)
    assert "return 301 https://$host:8443$request_uri;" in render_nginx_config(site)


def test_tls_without_a_certificate_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NginxConfigError, match="--certificate and --key"):
        site_for(tmp_path, tls=True)


def test_no_redirect_server_when_asked(tmp_path: Path, certificate: TlsFiles) -> None:
    site = site_for(
        tmp_path,
        tls=True,
        certificate=certificate.certificate,
        key=certificate.key,
        http_redirect=(),
    )
    assert render_nginx_config(site).count("server {") == 1


def test_auth_covers_everything_but_health_unless_configured(tmp_path: Path) -> None:
    (tmp_path / "htpasswd").write_text("")
    text = render_nginx_config(site_for(tmp_path, 'htpasswd = "htpasswd"'))
    assert f'auth_basic_user_file "{tmp_path / "htpasswd"}";' in text
    assert "auth_basic off;" in text
    text = render_nginx_config(
        site_for(tmp_path, 'htpasswd = "htpasswd"\nhealth-without-auth = false')
    )
    assert "auth_basic off;" not in text


def test_hash_index_looks_in_the_letter_directory_first(tmp_path: Path) -> None:
    hashed = "/simple/$cellar_letter/$cellar_project/$cellar_page"
    flat = "/simple/$cellar_project/$cellar_page"
    text = render_nginx_config(site_for(tmp_path, mirror="hash-index = true"))
    assert f"try_files {hashed} {flat} =404;" in text
    assert f"try_files {flat} {hashed} =404;" in render_nginx_config(site_for(tmp_path))


def test_json_api_documents_are_served_when_written(tmp_path: Path) -> None:
    assert "location /pypi/" not in render_nginx_config(site_for(tmp_path))
    text = render_nginx_config(site_for(tmp_path, mirror="json-api = true"))
    assert "location /json/" in text
    assert "location /pypi/" in text


def test_a_path_in_the_url_is_served_as_a_prefix(tmp_path: Path) -> None:
    text = render_nginx_config(site_for(tmp_path, 'url = "http://packages.example.test/py/pi/"'))
    assert 'rewrite "^/py/pi(/.*)$" $1 last;' in text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listen": ("127.0.0.1",)}, "not an nginx listen address"),
        ({"listen": ("99999",)}, "not an nginx listen address"),
        ({"server_names": ("a b",)}, "not a server name"),
        ({"web_root": Path("/srv/$mirror/web")}, "no '\\$'"),
        ({"web_root": Path("relative/web")}, "relative path"),
        ({"page_max_age": -1}, "0 or more seconds"),
    ],
)
def test_what_nginx_cannot_take_is_refused(
    tmp_path: Path,
    overrides: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(NginxConfigError, match=message):
        site_for(tmp_path, **overrides)


def test_paths_are_quoted(tmp_path: Path) -> None:
    site = site_for(tmp_path, web_root=Path('/srv/my "mirror"/web'))
    assert 'root "/srv/my \\"mirror\\"/web";' in render_nginx_config(site)


# -- nginx accepts what is written -----------------------------------------------------------


def variants(certificate: TlsFiles, tmp_path: Path) -> dict[str, NginxSite]:
    web = tmp_path / "web"
    return {
        "plain": NginxSite(web, listen=("127.0.0.1:8080",)),
        "tls": NginxSite(web, listen=("127.0.0.1:8443",), tls=certificate, http_redirect=("8081",)),
        "auth": NginxSite(web, htpasswd=tmp_path / "htpasswd", health_without_auth=False),
        "hash-index": NginxSite(web, hash_index=True, json_api=True, page_max_age=0),
        "prefix": NginxSite(web, prefix="/mirrors/python/", server_names=("a.test", "b.test")),
    }


@pytest.mark.parametrize("variant", ["plain", "tls", "auth", "hash-index", "prefix"])
def test_nginx_accepts_the_configuration(
    tmp_path: Path,
    certificate: TlsFiles,
    variant: str,
) -> None:
    site = variants(certificate, tmp_path)[variant]
    result = nginx_test(tmp_path / "nginx", render_nginx_config(site))
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr
    assert "[emerg]" not in result.stderr


def test_two_mirrors_in_one_nginx_share_the_maps(tmp_path: Path) -> None:
    first = render_nginx_config(NginxSite(tmp_path / "one", listen=("127.0.0.1:8080",)))
    second = render_nginx_config(
        NginxSite(tmp_path / "two", listen=("127.0.0.1:8081",), maps=False)
    )
    assert "map " not in second
    result = nginx_test(tmp_path / "nginx", first + second)
    assert result.returncode == 0, result.stderr


def test_the_command_prints_a_configuration_nginx_accepts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_file(tmp_path, 'url = "http://packages.example.test:8088/"')
    assert main(["nginx-config", "-c", str(config), "--server-name", "other.test"]) == 0
    text = capsys.readouterr().out
    assert "listen 8088;" in text
    assert "server_name other.test;" in text
    assert f"from {config}." in text
    result = nginx_test(tmp_path / "nginx", text)
    assert result.returncode == 0, result.stderr


def test_the_command_explains_what_it_cannot_do(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_file(tmp_path)
    assert main(["nginx-config", "-c", str(config), "--tls"]) == 2
    assert "HTTPS needs a certificate and its key" in capsys.readouterr().err


# -- real nginx against Cellar's own rules ---------------------------------------------------

#: Accept headers on which nginx must choose as ``cellar serve`` does.
SAME_CHOICE = [
    None,
    "",
    "*/*",
    "*",
    "text/*",
    "application/*",
    accept.PIP,
    accept.UV,
    accept.FIREFOX,
    JSON,
    HTML_V1,
    HTML,
    "APPLICATION/VND.PYPI.SIMPLE.V1+JSON",
    f"{JSON};q=0",
    f"{JSON};q=0, */*",
    f"{JSON};q=0.0, {HTML_V1}",
    f"{JSON} ; q = 0.5 , {HTML} ; q = 0.6",
    f'{JSON};q="0.7", {HTML};q=0.6',
    f"{JSON};q=1.000, {HTML};q=1",
    f"{JSON};q=0.001, {HTML};q=0",
    f"{JSON};q=0.1, {HTML_V1};q=0.10, {HTML};q=0.100",
    f"{HTML};q=0.2, {HTML_V1};q=0.2",
    f"{HTML}, {HTML_V1}, {JSON}",
    f"{HTML};level=1;q=0.9, {JSON};q=0.8",
    f"{JSON};charset=utf-8;q=0.9, {HTML};q=0.1",
    f"application/*;q=0.5, {HTML};q=0.4",
    f"application/*;q=0.5, {HTML};q=0.6",
    f"application/*, {JSON};q=0",
    "text/*;q=0.9, application/*;q=0.8",
    "*/*;q=0.1, text/html;q=0",
    "*/*;q=0",
    "image/png, image/*",
    f"{JSON};q=abc, {HTML};q=0.9",
    f"{JSON};q=2, {HTML};q=0.9",
    f"{JSON};q=-1, {HTML};q=0.1",
    "application/vnd.pypi.simple.v1+jsonx, text/htmlx",
    f"{JSON};q=0.5;foo=bar, text/html;q=0.49",
]
#: Where nginx reads differently (docs/nginx.md, Content negotiation): only the first element
#: naming a range counts.
DIFFERENT_CHOICE = [
    (f"{HTML};q=0.1, {JSON};q=0.5, {HTML};q=0.9", PageFormat.JSON_V1),
    (f"{JSON};q=0, {JSON}, {HTML};q=0.5", PageFormat.HTML_LEGACY),
]

#: Spellings nginx must redirect to ``canonicalize_name(spelling)``.
SPELLINGS = [
    "Foo",
    "FOO",
    "foo_bar",
    "Foo.Bar-Baz",
    "foo---bar",
    "foo-_-.bar",
    "a.b.c.d.e.f.g.h",
    "Z",
    "A-B_C.D",
    "x-Y",
    "Ruamel.Yaml.CLIB",
    "zope.interface",
    "PyQt5_sip",
    "ABCDEFGHIJKLMNOP",
    "ABCDEFGHIJKLMNOPQ",
    "x" + "-_" * 20 + "Y" * 20,
]


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A web root whose page files say their own format, served by nginx; yields its URL."""
    root = tmp_path_factory.mktemp("pages")
    web = root / "web"
    names = {"tree", *(canonicalize_name(name) for name in SPELLINGS)}
    for directory in [web / "simple", *(web / "simple" / name for name in names)]:
        directory.mkdir(parents=True, exist_ok=True)
        for page_format in PageFormat:
            (directory / page_format.file_name).write_text(page_format.name)
    port = free_port()
    site = NginxSite(web, listen=(f"127.0.0.1:{port}",))
    with running_nginx(root / "nginx", render_nginx_config(site), port):
        yield f"http://127.0.0.1:{port}/"


def chosen(base: str, accept_header: str | None) -> PageFormat:
    headers = {} if accept_header is None else {"Accept": accept_header}
    reply = fetch(f"{base}simple/tree/", headers=headers)
    assert reply.status == 200
    page_format = PageFormat[reply.body.decode()]
    assert reply.media_type == page_format.content_type
    return page_format


@pytest.mark.parametrize("accept_header", SAME_CHOICE)
def test_nginx_chooses_the_format_cellar_chooses(
    small_tree: str,
    accept_header: str | None,
) -> None:
    assert chosen(small_tree, accept_header) is choose_format(accept_header)


@pytest.mark.parametrize(("accept_header", "nginx_choice"), DIFFERENT_CHOICE)
def test_where_nginx_chooses_differently_it_is_as_documented(
    small_tree: str,
    accept_header: str | None,
    nginx_choice: PageFormat,
) -> None:
    assert choose_format(accept_header) is not nginx_choice
    assert chosen(small_tree, accept_header) is nginx_choice


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("slash", ["/", ""])
def test_nginx_redirects_each_spelling_to_the_normalised_name(
    small_tree: str,
    spelling: str,
    slash: str,
) -> None:
    url = f"{small_tree}simple/{spelling}{slash}"
    hops = 0
    reply = fetch(url)
    while reply.status == 301:
        hops += 1
        reply = fetch(str(reply.location))
    assert reply.status == 200
    assert reply.url == f"{small_tree}simple/{canonicalize_name(spelling)}/"
    # Capitals and separator runs other than a lone "-": each redirect fixes a batch of them.
    changes = [m for m in re.findall(r"[A-Z]|[-_.]+", spelling) if m != "-"]
    assert hops == max(
        1 if changes or not slash else 0, -(-len(changes) // NAME_FIXES_PER_REDIRECT)
    )


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx serving a small tree under /mirrors/python/; yields that URL."""
    root = tmp_path_factory.mktemp("prefixed")
    for directory in (root / "web" / "simple", root / "web" / "simple" / "foo-bar"):
        directory.mkdir(parents=True)
        for page_format in PageFormat:
            (directory / page_format.file_name).write_text(page_format.name)
    port = free_port()
    site = NginxSite(root / "web", listen=(f"127.0.0.1:{port}",), prefix="/mirrors/python/")
    with running_nginx(root / "nginx", render_nginx_config(site), port):
        yield f"http://127.0.0.1:{port}/mirrors/python/"


def test_under_a_path_prefix_pages_and_redirects_keep_it(prefixed: str) -> None:
    assert fetch(f"{prefixed}simple/foo-bar/", headers={"Accept": JSON}).body == b"JSON_V1"
    assert fetch(f"{prefixed}simple/Foo_Bar").location == f"{prefixed}simple/foo-bar/"
    assert fetch(f"{prefixed}simple").location == f"{prefixed}simple/"
    assert fetch(prefixed).location == f"{prefixed}simple/"
    assert fetch(prefixed.rstrip("/")).location == prefixed
    assert fetch(f"{prefixed}health").status == 200


def test_an_ipv6_host_is_listened_on_in_brackets_and_named_by_no_name(tmp_path: Path) -> None:
    site = site_for(tmp_path, 'host = "::1"\nport = 8081')
    assert (site.listen, site.server_names) == (("[::1]:8081",), ("_",))
    site = site_for(tmp_path, 'url = "http://[::1]:8082/"')
    assert (site.listen, site.server_names) == (("8082",), ("_",))


def test_a_tree_in_s3_is_refused_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    config.write_text(
        '[mirror]\ndirectory = "m"\n[packages]\ndependencies = false\n'
        '[storage]\nbackend = "s3"\nbucket = "pypi-tree"\n',
        encoding="utf-8",
    )
    with pytest.raises(NginxConfigError, match=r"s3://pypi-tree/: nginx cannot read a private"):
        site_from_config(load_config(config))
    local = site_from_config(load_config(config), web_root=tmp_path / "copy")
    assert local.web_root == tmp_path / "copy"
