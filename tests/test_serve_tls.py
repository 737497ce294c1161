"""HTTPS from ``[serve] tls-certificate`` / ``tls-key``, refused at start when the files are
unusable, and real pip and uv installing through TLS with basic auth.

Certificates come from a throwaway CA made by ``trustme``; clients trust it explicitly (pip
with ``--cert``, uv with ``SSL_CERT_FILE``, Python with an ``SSLContext``). Everything listens
on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from cellar.cli import main
from cellar.config.serve import ServeSettings
from cellar.serve.errors import TlsError
from tests.support.accept import PIP
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import (
    assert_consistent,
    cellar_serve,
    run_cli,
    write_config,
)
from tests.support.packages import build_wheel
from tests.support.server import (
    WHEEL,
    WHEEL_BYTES,
    ask,
    basic,
    bcrypt_hash,
    make_web_root,
    serving,
)
from tests.support.upstream import LocalIndex

USER, PASSWORD = "alice", "wonder land:1"


@dataclass(frozen=True)
class Pki:
    """A CA and a certificate for 127.0.0.1 it signed, written to files."""

    ca: trustme.CA
    ca_file: Path
    certificate: Path
    key: Path
    other_key: Path  # the key of another certificate

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    other = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    issued.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    issued.private_key_pem.write_to_path(str(directory / "key.pem"))
    other.private_key_pem.write_to_path(str(directory / "other-key.pem"))
    return Pki(
        ca,
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
        directory / "other-key.pem",
    )


def tls_settings(pki: Pki, **changes: object) -> ServeSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "tls_certificate": pki.certificate,
        "tls_key": pki.key,
        **changes,
    }
    return ServeSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    return make_web_root(tmp_path / "mirror" / "web")


# --- serving HTTPS ---------------------------------------------------------------------------


def test_the_server_speaks_https(pki: Pki, web_root: Path) -> None:
    with serving(web_root, tls_settings(pki), pki.client_context()) as served:
        assert served.url == f"https://127.0.0.1:{served.port}/"
        reply = ask(served, "/simple/foo-bar/", headers={"Accept": PIP, "Accept-Encoding": "gzip"})
        assert (reply.status, reply.headers["Content-Encoding"]) == (200, "gzip")
        wheel = ask(served, f"/{WHEEL}", headers={"Range": "bytes=10-19"})
        assert (wheel.status, wheel.body) == (206, WHEEL_BYTES[10:20])
        whole = ask(served, f"/{WHEEL}")
        assert (whole.status, whole.body) == (200, WHEEL_BYTES)
        # A client that does not trust the CA refuses the server.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(served.url + "health", timeout=10)  # noqa: S310
        # Plain HTTP on the TLS port gets no page.
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{served.port}/health", timeout=10)


def test_tls_with_basic_auth_for_a_real_client(pki: Pki, web_root: Path, tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"{USER}:{bcrypt_hash(PASSWORD)}\n")
    settings = tls_settings(pki, htpasswd=htpasswd)

    async def fetch(url: str, authorization: str | None) -> tuple[int, bytes]:
        connector = aiohttp.TCPConnector(ssl=pki.client_context())
        headers = {"Authorization": authorization} if authorization else {}
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url, headers=headers) as response,
        ):
            return response.status, await response.read()

    with serving(web_root, settings, pki.client_context()) as served:
        url = f"{served.url}{WHEEL}"
        assert asyncio.run(fetch(url, None))[0] == 401
        assert asyncio.run(fetch(url, basic(USER, "wrong")))[0] == 401
        assert asyncio.run(fetch(url, basic(USER, PASSWORD))) == (200, WHEEL_BYTES)
        assert asyncio.run(fetch(served.url + "health", None))[0] == 200


# --- refusing to start ------------------------------------------------------------------------


def test_a_client_that_stalls_in_the_handshake_or_after_it_is_cut_off(
    pki: Pki, web_root: Path
) -> None:
    settings = tls_settings(pki, header_timeout=1.0)
    with serving(web_root, settings, pki.client_context()) as served:
        # Silent before the handshake: the TLS handshake timeout closes it.
        raw = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        # Silent after the handshake: the header timeout closes it.
        wrapped = pki.client_context().wrap_socket(
            socket.create_connection(("127.0.0.1", served.port), timeout=5),
            server_hostname="127.0.0.1",
        )
        started = time.monotonic()
        for sock in (raw, wrapped):
            with sock, contextlib.suppress(ConnectionError, ssl.SSLError):  # closed as well
                assert sock.recv(1024) == b""
        assert time.monotonic() - started < 4
        assert ask(served, "/health").status == 200


#: Makes a certificate or key file for a case from the PKI, in a directory.
Maker = Callable[[Pki, Path], Path]


def der_certificate(pki: Pki, directory: Path) -> Path:
    path = directory / "cert.der"
    path.write_bytes(ssl.PEM_cert_to_DER_cert(pki.certificate.read_text()))
    return path


def encrypted_key(pki: Pki, directory: Path) -> Path:
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    path = directory / "encrypted.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    return path


def garbage(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    return path


@pytest.mark.parametrize(
    "case",
    [
        (lambda p, d: d / "missing.pem", None, "tls-certificate", "cannot be read: No such file"),
        (None, lambda p, d: d / "missing.pem", "tls-key", "cannot be read: No such file"),
        (lambda p, d: d, None, "tls-certificate", "cannot be read: Is a directory"),
        (lambda p, d: garbage(d, "cert.pem"), None, "tls-certificate", "cannot read"),
        (lambda p, d: p.key, None, "tls-certificate", "is not a PEM certificate"),
        (der_certificate, None, "tls-certificate", "openssl x509 -inform der"),
        (None, lambda p, d: garbage(d, "key.pem"), "tls-key", "is not a PEM private key"),
        (None, lambda p, d: p.certificate, "tls-key", "is not a PEM private key"),
        (None, lambda p, d: p.other_key, "tls-key", "is not the private key of the certificate"),
        (None, encrypted_key, "tls-key", "is encrypted with a passphrase"),
    ],
)
def test_unusable_files_are_refused_naming_the_file(
    pki: Pki, web_root: Path, tmp_path: Path, case: tuple[Maker | None, Maker | None, str, str]
) -> None:
    make_certificate, make_key, config_key, problem = case
    certificate = make_certificate(pki, tmp_path) if make_certificate else pki.certificate
    key = make_key(pki, tmp_path) if make_key else pki.key
    settings = tls_settings(pki, tls_certificate=certificate, tls_key=key)
    with pytest.raises(TlsError) as caught, serving(web_root, settings):
        pass
    named = certificate if config_key == "tls-certificate" else key
    assert (caught.value.key, caught.value.path) == (config_key, named)
    assert str(caught.value).startswith(f"[serve] {config_key} {named}: ")
    assert problem in str(caught.value)


def test_a_key_and_chain_in_one_file_is_accepted(pki: Pki, web_root: Path, tmp_path: Path) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(pki.key.read_bytes() + pki.certificate.read_bytes())
    settings = tls_settings(pki, tls_certificate=combined, tls_key=combined)
    with serving(web_root, settings, pki.client_context()) as served:
        assert ask(served, "/health").status == 200


def test_cellar_serve_refuses_a_key_that_does_not_match(pki: Pki, tmp_path: Path) -> None:
    (tmp_path / "mirror" / "web" / "simple").mkdir(parents=True)
    config = write_config(tmp_path, "http://127.0.0.1:9/simple/", ["anything"])
    with config.open("a", encoding="utf-8") as file:
        file.write(
            f'\n[serve]\nport = 0\ntls-certificate = "{pki.certificate}"\n'
            f'tls-key = "{pki.other_key}"\n'
        )
    result = run_cli("serve", "-c", str(config), timeout=60)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert (
        f"[serve] tls-key {pki.other_key}: is not the private key of the certificate" in (errors[0])
    )
    assert str(pki.certificate) in errors[0]
    assert "Traceback" not in result.stderr


# --- real installers through TLS and basic auth ---------------------------------------------


@pytest.fixture(scope="module")
def private_mirror(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A mirror served by a real ``cellar serve`` over HTTPS with basic auth; yields the base URL."""
    root = tmp_path_factory.mktemp("private")
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"))
        index.add(build_wheel("alpha", "2.0", requires_dist=["beta>=1"]))
        index.add(build_wheel("beta", "1.1"))
        # Both versions of alpha, and the dependency of the newer one.
        config = write_config(root, index.url, ["alpha"], extra_packages="versions = 0")
        assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(root / "mirror" / "web")
    (root / "htpasswd").write_text(f"{USER}:{bcrypt_hash(PASSWORD)}\n")
    with config.open("a", encoding="utf-8") as file:
        file.write(
            f'\n[serve]\nhtpasswd = "htpasswd"\ntls-certificate = "{pki.certificate}"\n'
            f'tls-key = "{pki.key}"\n'
        )
    with cellar_serve(config, context=pki.client_context()) as base:
        assert base.startswith("https://127.0.0.1:")
        yield base


#: Where this machine may point Python's HTTP clients at its own CA bundle; requests lets
#: these override pip's ``--cert``, so installers that must trust the test CA run without them.
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def trusting_env(installer_env: dict[str, str], pki: Pki) -> dict[str, str]:
    """The installers' environment, trusting the test CA (uv reads ``SSL_CERT_FILE``)."""
    env = {key: value for key, value in installer_env.items() if key not in CA_VARIABLES}
    return {**env, "SSL_CERT_FILE": str(pki.ca_file), "UV_PYTHON_DOWNLOADS": "never"}


def with_credentials(base: str, user: str = USER, password: str = PASSWORD) -> str:
    return base.replace("https://", f"https://{quote(user, safe='')}:{quote(password, safe='')}@")


@pytest.mark.slow
def test_pip_installs_through_tls_with_basic_auth(
    private_mirror: str, pki: Pki, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    env = trusting_env(installer_env, pki)
    python = make_venv(tmp_path / "venv", sys.executable)
    index = with_credentials(private_mirror) + "simple/"
    result = pip_install(
        python, index, "alpha==1.0", env=env, extra_args=["--cert", str(pki.ca_file)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "1.0"
    # alpha 2.0 needs beta: pip fetches both through the same authenticated TLS server.
    result = pip_install(
        python, index, "alpha==2.0", env=env, extra_args=["--cert", str(pki.ca_file)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "beta") == "1.1"


@pytest.mark.slow
def test_pip_without_credentials_is_refused(
    private_mirror: str, pki: Pki, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    env = trusting_env(installer_env, pki)
    python = make_venv(tmp_path / "venv", sys.executable)
    for index in (private_mirror, with_credentials(private_mirror, password="wrong")):  # noqa: S106
        result = pip_install(
            python,
            index + "simple/",
            "alpha",
            env=env,
            # -vv: pip reports a failed index page at debug level only.
            extra_args=["--cert", str(pki.ca_file), "-vv"],
        )
        assert result.returncode != 0
        assert "No matching distribution found for alpha" in result.stderr
        assert "401 Client Error: Unauthorized" in result.stdout + result.stderr


@pytest.mark.slow
def test_uv_installs_through_tls_with_basic_auth(
    private_mirror: str, pki: Pki, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    env = trusting_env(installer_env, pki)
    python = uv_venv(tmp_path / "venv", sys.executable, env=env)
    index = with_credentials(private_mirror) + "simple/"
    result = uv_install(python, index, "alpha", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"
    assert imported_version(python, "beta") == "1.1"
