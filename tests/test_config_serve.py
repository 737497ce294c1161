"""The ``[serve]`` table: defaults, the URL clients are told, and every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellar.config.checks import ConfigError
from cellar.config.load import load_config
from cellar.config.serve import ServeSettings

BASE = '[mirror]\ndirectory = "m"\n[packages]\ndependencies = false\n'


def load(tmp_path: Path, serve: str) -> ServeSettings:
    path = tmp_path / "cellar.toml"
    path.write_text(f"{BASE}[serve]\n{serve}", encoding="utf-8")
    return load_config(path).serve


def test_defaults(tmp_path: Path) -> None:
    serve = load(tmp_path, "")
    assert (serve.host, serve.port, serve.workers) == ("127.0.0.1", 8080, 1)
    assert serve.htpasswd is None and not serve.tls and serve.access_log is None
    assert serve.index_url == "http://127.0.0.1:8080/simple/"


def test_paths_are_relative_to_the_file_and_tls_changes_the_scheme(tmp_path: Path) -> None:
    serve = load(
        tmp_path,
        'host = "0.0.0.0"\nport = 443\nhtpasswd = "auth/htpasswd"\n'
        'tls-certificate = "tls/cert.pem"\ntls-key = "tls/key.pem"\nhealth-without-auth = false\n',
    )
    assert serve.htpasswd == tmp_path / "auth" / "htpasswd"
    assert serve.tls_key == tmp_path / "tls" / "key.pem"
    assert serve.tls and not serve.health_without_auth
    # The wildcard address is not something a client can reach: name the loopback instead.
    assert serve.base_url == "https://127.0.0.1/"


def test_an_explicit_url_wins_and_gets_a_slash(tmp_path: Path) -> None:
    serve = load(tmp_path, 'url = "https://pypi.example.org/mirror"\n')
    assert serve.base_url == "https://pypi.example.org/mirror/"
    assert serve.index_url == "https://pypi.example.org/mirror/simple/"


def test_ipv6_hosts_are_bracketed(tmp_path: Path) -> None:
    assert load(tmp_path, 'host = "::1"\nport = 9000\n').base_url == "http://[::1]:9000/"


def test_every_problem_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            'port = 70000\nworkers = 0\nurl = "ftp://x"\ntls-key = "k.pem"\n'
            'health-without-auth = true\nhtpasswd = ""\nspeed = 3\n',
        )
    text = str(caught.value)
    for expected in (
        "[serve] port: must be 0 to 65535, not 70000",
        "[serve] workers: must be 1 to 64, not 0",
        "[serve] url: must be an http:// or https:// URL, not 'ftp://x'",
        "[serve] tls-certificate: is required with tls-key",
        "[serve] health-without-auth: has no meaning without htpasswd",
        "[serve] htpasswd: must not be empty",
        "[serve] speed: unknown key",
    ):
        assert expected in text


def test_connection_limits(tmp_path: Path) -> None:
    serve = load(tmp_path, "")
    assert (serve.header_timeout, serve.idle_timeout, serve.max_connections) == (15.0, 30.0, 1024)
    serve = load(tmp_path, "header-timeout = 2.5\nidle-timeout = 5\nmax-connections = 10\n")
    assert (serve.header_timeout, serve.idle_timeout, serve.max_connections) == (2.5, 5.0, 10)
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, 'header-timeout = 0\nidle-timeout = "soon"\nmax-connections = 0\n')
    text = str(caught.value)
    for expected in (
        "[serve] header-timeout: must be above 0",
        "[serve] idle-timeout: must be a number",
        "[serve] max-connections: must be 1 to 1000000, not 0",
    ):
        assert expected in text, text
