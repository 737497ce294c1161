"""Real pip and uv install through real nginx running what `cellar nginx-config` prints.

Two nginx servers over one mirror: plain HTTP, and the private kind (HTTPS with a certificate
from a throwaway CA, basic auth from a bcrypt htpasswd file, port 80's job done by a redirect
server). The upstream is stopped before anything is installed, so the installers can only have
reached nginx.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config.load import load_config
from cellar.nginx import render_nginx_config, site_from_config
from tests.support.http_client import fetch
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import EVERY_VERSION, assert_consistent, write_config
from tests.support.nginx import free_port, running_nginx
from tests.support.packages import build_sdist, build_wheel
from tests.support.private import make_secrets, private_config
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

USER, PASSWORD = "reader", "s3cret:with@odd/chars"


@dataclass(frozen=True)
class Private:
    """The private server: its index URL with and without credentials, and the CA to trust."""

    index_url: str
    login_url: str
    ca: Path
    http_url: str


@pytest.fixture(scope="module")
def mirror_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nginx-installs")
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"))
        index.add(build_wheel("alpha", "2.0"))
        index.add(build_sdist("alpha", "2.0"))
        index.add(build_wheel("alpha", "3.0"), yanked="do not use")
        index.add(build_wheel("Foo_Bar.baz", "1.5", requires_dist=["alpha<3"]))
        index.add(
            build_wheel("zope.thing", "4.0", requires_python=">=3.8"), requires_python=">=3.8"
        )
        config = write_config(
            root, index.url, ["alpha", "Foo_Bar.baz", "zope.thing"], extra_packages=EVERY_VERSION
        )
        assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(root / "mirror" / "web")
    return config


@pytest.fixture(scope="module")
def plain_nginx(mirror_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    site = site_from_config(load_config(mirror_config), listen=(f"127.0.0.1:{port}",))
    with running_nginx(tmp_path_factory.mktemp("nginx"), render_nginx_config(site), port):
        yield f"http://127.0.0.1:{port}/simple/"


@pytest.fixture(scope="module")
def private_nginx(
    mirror_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Private]:
    secrets = make_secrets(tmp_path_factory.mktemp("secrets"), USER, PASSWORD)
    # The [serve] table a site would write for this, read by the real config loader.
    private_config_path = private_config(mirror_config, secrets)
    port, http_port = free_port(), free_port()
    site = site_from_config(
        load_config(private_config_path),
        listen=(f"127.0.0.1:{port}",),
        http_redirect=(f"127.0.0.1:{http_port}",),
    )
    assert site.tls is not None
    with running_nginx(tmp_path_factory.mktemp("nginx"), render_nginx_config(site), port):
        yield Private(
            index_url=f"https://127.0.0.1:{port}/simple/",
            login_url=f"https://{USER}:s3cret%3Awith%40odd%2Fchars@127.0.0.1:{port}/simple/",
            ca=secrets.ca,
            http_url=f"http://127.0.0.1:{http_port}/simple/alpha/",
        )


def test_pip_installs_through_nginx(
    plain_nginx: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(python, plain_nginx, "Foo_Bar.baz", "zope.thing", env=installer_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"  # 3.0 is yanked
    assert imported_version(python, "foo_bar_baz") == "1.5"
    assert imported_version(python, "zope_thing") == "4.0"


def test_uv_installs_through_nginx(
    plain_nginx: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = uv_venv(tmp_path / "venv", sys.executable, env=installer_env)
    result = uv_install(python, plain_nginx, "foo-bar-baz", "zope-thing", env=installer_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"
    assert imported_version(python, "foo_bar_baz") == "1.5"


def pip_env(installer_env: dict[str, str]) -> dict[str, str]:
    """The installers' environment without the machine's CA bundle for requests: pip's
    requests would take REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) over ``--cert``."""
    return {
        key: value
        for key, value in installer_env.items()
        if key not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    }


def test_pip_installs_over_https_with_a_login(
    private_nginx: Private,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(
        python,
        private_nginx.login_url,
        "Foo_Bar.baz",
        env=pip_env(installer_env),
        extra_args=["--cert", str(private_nginx.ca)],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "foo_bar_baz") == "1.5"


def test_uv_installs_over_https_with_a_login(
    private_nginx: Private,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    env = {**installer_env, "SSL_CERT_FILE": str(private_nginx.ca)}
    python = uv_venv(tmp_path / "venv", sys.executable, env=env)
    result = uv_install(python, private_nginx.login_url, "foo-bar-baz", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"


def test_pip_without_the_login_is_refused(
    private_nginx: Private,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(
        python,
        private_nginx.index_url,
        "alpha",
        env=pip_env(installer_env),
        extra_args=["--cert", str(private_nginx.ca)],
    )
    assert result.returncode != 0
    assert "No matching distribution found for alpha" in result.stderr


def test_no_login_or_a_wrong_one_is_401_and_health_needs_none(private_nginx: Private) -> None:
    context = ssl.create_default_context(cafile=str(private_nginx.ca))
    base = private_nginx.index_url.removesuffix("simple/")
    assert fetch(f"{base}simple/", context=context).status == 401
    wrong = fetch(
        f"{base}simple/", headers={"Authorization": "Basic cmVhZGVyOm5v"}, context=context
    )
    assert wrong.status == 401
    assert "basic" in (wrong.header("WWW-Authenticate") or "").lower()
    assert fetch(f"{base}health", context=context).status == 200


def test_plain_http_is_redirected_to_https(private_nginx: Private) -> None:
    reply = fetch(private_nginx.http_url + "?format=text/html")
    assert reply.status == 301
    assert reply.header("Location") == (
        private_nginx.index_url.removesuffix("simple/") + "simple/alpha/?format=text/html"
    )
