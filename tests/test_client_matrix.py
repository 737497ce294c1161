"""The clients people really have, installing or locking from the mirror: every pip from Debian
11's to the newest on the CPython it came with, the oldest uv Cellar supports and the newest,
poetry, pdm, pipenv and pip-tools; from `cellar serve` and from nginx with the configuration
`cellar nginx-config` writes; over plain HTTP and over HTTPS with a login.

The set they install has dependencies, a file without a PEP 658 metadata file, and a project
only an sdist provides, built by a backend that must come from the mirror too. Each client runs
in a fresh environment that sees only the mirror: no configuration of this machine's, caches in
the test's directory, and every proxy variable pointing at a closed port with only loopback
exempt, so a client that tried to reach any other host would fail. HTTPS clients trust the
test's own certificate authority, configured the way docs/clients.md tells users to.

The installers are fetched at set-up (the README's test command): pip wheels into ``.clients/``
(``tests/clients.txt``), the other tools into virtual environments under ``.clients/tools/``
(``tests/client-tools.txt``); pytest itself downloads nothing. docs/clients.md's table lists
what is tested here.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from cellar.cli import main
from cellar.config.load import load_config
from cellar.nginx import render_nginx_config, site_from_config
from tests.support.installers import (
    INSTALL_TIMEOUT,
    clean_env,
    find_python,
    find_uv,
    interpreter_of,
    run_command,
    uv_venv,
)
from tests.support.mirror import assert_consistent, cellar_serve, write_config
from tests.support.nginx import free_port, running_nginx
from tests.support.packages import build_backend_wheel, build_sdist, build_wheel
from tests.support.private import make_secrets, private_config
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = Path(os.environ.get("CELLAR_CLIENT_WHEELS", ROOT / ".clients"))
TOOLS = Path(os.environ.get("CELLAR_CLIENT_TOOLS", CLIENTS / "tools"))

#: (pip, the CPython it runs on, where people meet it). docs/clients.md's table says the same.
PIPS = [
    ("20.3.4", "3.9", "Debian 11"),
    ("21.3.1", "3.8", ""),
    ("22.0.2", "3.10", "Ubuntu 22.04"),
    ("22.3.1", "3.11", "CPython 3.11.1"),
    ("23.0.1", "3.11", "Debian 12"),
    ("23.1.2", "3.11", "CPython 3.11.4"),
    ("23.2.1", "3.12", "CPython 3.12.0, 3.11.7"),
    ("24.0", "3.12", "Ubuntu 24.04"),
    ("25.3", "3.13", "newest 25.x"),
    ("26.3", "3.13", "newest"),
]
#: The oldest uv Cellar supports: the first with ``[[index]]`` and ``UV_DEFAULT_INDEX``, which
#: `cellar client-config` writes. The newest is the test environment's own.
OLDEST_UV = "0.4.23"
SERVERS = ["cellar serve, http", "cellar serve, https+login", "nginx, http", "nginx, https+login"]
USER, PASSWORD = "reader", "s3cret:with@odd/chars"
#: What installing ``app`` brings, as (name, version).
INSTALLED = {("alpha", "2.0"), ("app", "1.0"), ("beta", "1.0"), ("leaf", "1.0")}


@dataclass(frozen=True)
class Server:
    """One way of serving the mirror: its index URL, and for HTTPS the login and the CA."""

    name: str
    index_url: str
    ca: Path | None = None

    @property
    def login_url(self) -> str:
        """The index URL with the login in it (percent-encoded), or as it is over HTTP."""
        if self.ca is None:
            return self.index_url
        login = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@"
        return self.index_url.replace("https://", f"https://{login}")


def client_wheel(name: str, version: str) -> Path:
    """Return a wheel fetched at set-up; fail saying how to fetch it."""
    found = sorted(CLIENTS.glob(f"{name}-{version}-*.whl"))
    if not found:
        pytest.fail(
            f"no {name} {version} wheel in {CLIENTS}: run the README's test set-up (bash scripts/test.sh)"
        )
    return found[0]


def tool(name: str, command: str) -> Path:
    """Return a command of a tool installed at set-up; fail saying how to install it."""
    path = TOOLS / name / "bin" / command
    if not path.exists():
        pytest.fail(f"{path} is missing: run the README's test set-up (bash scripts/test.sh)")
    return path


def sealed_env(tmp: Path, server: Server, **extra: str) -> dict[str, str]:
    """An environment that reads no configuration and can reach nothing but loopback."""
    env = clean_env(tmp)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        env.pop(name, None)
    closed = "http://127.0.0.1:9"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = closed
    env["PIP_NO_CACHE_DIR"] = "1"
    if server.ca is not None:
        env["PIP_CERT"] = str(server.ca)  # pip.conf's `cert`, as docs/clients.md says
        env["SSL_CERT_FILE"] = str(server.ca)  # uv's
    env.update(extra)
    return env


def run(
    command: list[str | Path], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    result = run_command(command, env, cwd)
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def installed_in(site: Path) -> set[tuple[str, str]]:
    """Return (name, version) of every distribution installed in ``site``."""
    found = set()
    for info in site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found.add((name, version))
    return found


def site_packages(venv: Path) -> Path:
    (found,) = venv.glob("lib/python3.*/site-packages")
    return found


# -- the mirror and its four servers ---------------------------------------------------------


@pytest.fixture(scope="module")
def mirror_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("client-matrix")
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"))
        index.add(build_wheel("alpha", "2.0"))
        index.add(build_sdist("alpha", "2.0"))
        index.add(build_wheel("beta", "1.0"), metadata=False)  # no PEP 658 file
        index.add(build_backend_wheel())
        index.add(
            build_sdist("leaf", "1.0", build_requires=["tinybackend"], build_backend="tinybackend")
        )
        index.add(build_wheel("app", "1.0", requires_dist=["alpha>=2", "beta", "leaf"]))
        config = write_config(root, index.url, ["app"])
        pythons = json.dumps(sorted({python for _, python, _ in PIPS}))
        with config.open("a", encoding="utf-8") as stream:
            stream.write(f'[targets]\npython = {pythons}\nplatforms = ["linux"]\n')
        assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(root / "mirror" / "web")
    return config


@pytest.fixture(scope="module")
def servers(
    mirror_config: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """The mirror served four ways at once."""
    secrets = make_secrets(tmp_path_factory.mktemp("secrets"), USER, PASSWORD)
    private = private_config(mirror_config, secrets)
    with ExitStack() as stack:
        plain = stack.enter_context(cellar_serve(mirror_config))
        trusting = ssl.create_default_context(cafile=str(secrets.ca))
        tls = stack.enter_context(cellar_serve(private, context=trusting))
        # Over HTTPS the mirror is named by host name, as a certificate names it: pip 24.2 to
        # 26.0 cannot verify an index addressed by IP (test_pip_over_https_needs_a_host_name).
        found = {
            "cellar serve, http": Server("cellar serve, http", f"{plain}simple/"),
            "cellar serve, https+login": Server(
                "cellar serve, https+login", _by_name(f"{tls}simple/"), secrets.ca
            ),
        }
        for name, config, scheme in (
            ("nginx, http", mirror_config, "http"),
            ("nginx, https+login", private, "https"),
        ):
            port = free_port()
            site = site_from_config(
                load_config(config), listen=(f"127.0.0.1:{port}",), http_redirect=()
            )
            prefix = tmp_path_factory.mktemp("nginx")
            stack.enter_context(running_nginx(prefix, render_nginx_config(site), port))
            if scheme == "https":
                url = f"https://localhost:{port}/simple/"
                found[name] = Server(name, url, secrets.ca)
            else:
                found[name] = Server(name, f"http://127.0.0.1:{port}/simple/")
        yield found


def _by_name(url: str) -> str:
    return url.replace("://127.0.0.1:", "://localhost:")


# -- pip -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pip_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """pip version -> the interpreter of a venv holding that pip on its CPython (made once)."""
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("pips")
    for version, python, _ in PIPS:
        venv = root / version
        subprocess.run(
            [str(find_python(python)), "-m", "venv", "--without-pip", str(venv)],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT,
        )
        wheel = client_wheel("pip", version)
        # pip installs itself from its own wheel, offline.
        run(
            [
                interpreter_of(venv),
                f"{wheel}/pip",
                "install",
                "--no-index",
                "--no-compile",
                "-q",
                wheel,
            ],
            {**clean_env(root / "env"), "PIP_CONFIG_FILE": os.devnull},
            root,
        )
        made[version] = interpreter_of(venv)
    return made


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("pip", PIPS, ids=[p[0] for p in PIPS])
def test_pip(
    servers: dict[str, Server],
    pip_venvs: dict[str, Path],
    tmp_path: Path,
    server_name: str,
    pip: tuple[str, str, str],
) -> None:
    server = servers[server_name]
    version, python, _ = pip
    interpreter = pip_venvs[version]
    env = sealed_env(tmp_path, server, PIP_CONFIG_FILE=os.devnull)
    shown = run([interpreter, "-m", "pip", "--version"], env, tmp_path).stdout
    assert shown.startswith(f"pip {version} ") and f"(python {python})" in shown, shown
    target = tmp_path / "target"
    run(
        [
            interpreter,
            "-m",
            "pip",
            "install",
            "--index-url",
            server.login_url,
            "--target",
            target,
            "app",
        ],
        env,
        tmp_path,
    )
    assert installed_in(target) == INSTALLED


@pytest.mark.parametrize("pip", [("24.0", True), ("25.3", False), ("26.3", True)], ids=str)
def test_pip_over_https_needs_a_host_name(
    servers: dict[str, Server],
    pip_venvs: dict[str, Path],
    tmp_path: Path,
    pip: tuple[str, bool],
) -> None:
    """A client bug docs/clients.md warns of: pip 24.2 to 26.0 (truststore's context with
    urllib3 1.26) fail on an HTTPS index addressed by IP, with a certificate for that IP."""
    version, works = pip
    named = servers["cellar serve, https+login"]
    server = Server(named.name, named.index_url.replace("://localhost:", "://127.0.0.1:"), named.ca)
    assert "@127.0.0.1:" in server.login_url
    env = sealed_env(tmp_path, server, PIP_CONFIG_FILE=os.devnull)
    command = [pip_venvs[version], "-m", "pip", "install", "--index-url", server.login_url]
    result = subprocess.run(
        [str(part) for part in (*command, "--target", tmp_path / "target", "app")],
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert (result.returncode == 0) is works, result.stderr
    if not works:
        assert "check_hostname requires server_hostname" in result.stderr


# -- uv --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uv_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """uv version -> its binary: the oldest supported, from its wheel, and the newest."""
    unpacked = tmp_path_factory.mktemp("uv-oldest")
    with zipfile.ZipFile(client_wheel("uv", OLDEST_UV)) as wheel:
        member = next(name for name in wheel.namelist() if name.endswith("/scripts/uv"))
        wheel.extract(member, unpacked)
    oldest = unpacked / member
    oldest.chmod(0o755)
    return {OLDEST_UV: oldest, "newest": find_uv()}


@pytest.mark.parametrize("server_name", SERVERS)
@pytest.mark.parametrize("version", [OLDEST_UV, "newest"])
def test_uv(
    servers: dict[str, Server],
    uv_binaries: dict[str, Path],
    tmp_path: Path,
    server_name: str,
    version: str,
) -> None:
    server = servers[server_name]
    env = sealed_env(tmp_path, server)
    uv = uv_binaries[version]
    shown = run([uv, "--version"], env, tmp_path).stdout
    assert version == "newest" or shown.startswith(f"uv {version}"), shown
    venv_python = uv_venv(tmp_path / "venv", find_python("3.12"), env=env)
    run(
        [
            uv,
            "pip",
            "install",
            "--no-config",
            "--python",
            venv_python,
            "--default-index",
            server.login_url,
            "app",
        ],
        env,
        tmp_path,
    )
    assert installed_in(site_packages(tmp_path / "venv")) == INSTALLED


# -- poetry, pdm, pipenv, pip-tools ----------------------------------------------------------

CONSUMER = """\
[project]
name = "consumer"
version = "0.1"
requires-python = ">=3.8"
dependencies = ["app"]
"""


def locked_versions(packages: list[dict[str, str]]) -> set[tuple[str, str]]:
    return {(p["name"], p["version"]) for p in packages}


@pytest.mark.parametrize("server_name", SERVERS)
def test_poetry_locks_and_installs(
    servers: dict[str, Server],
    tmp_path: Path,
    server_name: str,
) -> None:
    server = servers[server_name]
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        CONSUMER
        + "\n[tool.poetry]\npackage-mode = false\n\n"
        + f'[[tool.poetry.source]]\nname = "cellar"\nurl = "{server.index_url}"\npriority = "primary"\n',
        encoding="utf-8",
    )
    extra = {
        "POETRY_CACHE_DIR": str(tmp_path / "poetry-cache"),
        "POETRY_CONFIG_DIR": str(tmp_path / "poetry-config"),
        "POETRY_DATA_DIR": str(tmp_path / "poetry-data"),
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
    }
    if server.ca is not None:  # `poetry config http-basic.cellar` and `certificates.cellar.cert`
        extra.update(
            {
                "POETRY_HTTP_BASIC_CELLAR_USERNAME": USER,
                "POETRY_HTTP_BASIC_CELLAR_PASSWORD": PASSWORD,
                "POETRY_CERTIFICATES_CELLAR_CERT": str(server.ca),
            }
        )
    env = sealed_env(tmp_path, server, **extra)
    poetry = tool("poetry", "poetry")
    run([poetry, "lock"], env, project)
    lock = tomllib.loads((project / "poetry.lock").read_text(encoding="utf-8"))
    assert locked_versions(lock["package"]) == INSTALLED
    run([poetry, "install", "--no-root"], env, project)
    assert installed_in(site_packages(project / ".venv")) >= INSTALLED


@pytest.mark.parametrize("server_name", SERVERS)
def test_pdm_locks_and_installs(
    servers: dict[str, Server],
    tmp_path: Path,
    server_name: str,
) -> None:
    server = servers[server_name]
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(CONSUMER + "\n[tool.pdm]\ndistribution = false\n")
    # What `pdm config pypi.url ...` (and pypi.username, pypi.password, pypi.ca_certs) write.
    settings = [f'url = "{server.index_url}"']
    if server.ca is not None:
        settings += [
            f'username = "{USER}"',
            f"password = {json.dumps(PASSWORD)}",
            f'ca_certs = "{server.ca}"',
        ]
    (tmp_path / "pdm.toml").write_text("[pypi]\n" + "\n".join(settings) + "\n", encoding="utf-8")
    env = sealed_env(
        tmp_path,
        server,
        PDM_CONFIG_FILE=str(tmp_path / "pdm.toml"),
        PDM_CACHE_DIR=str(tmp_path / "pdm-cache"),
        PDM_HOME=str(tmp_path / "pdm-home"),
        PDM_CHECK_UPDATE="false",
    )
    pdm = tool("pdm", "pdm")
    run([pdm, "lock"], env, project)
    lock = tomllib.loads((project / "pdm.lock").read_text(encoding="utf-8"))
    assert locked_versions(lock["package"]) == INSTALLED
    run([pdm, "install"], env, project)
    assert installed_in(site_packages(project / ".venv")) >= INSTALLED


@pytest.mark.parametrize("server_name", SERVERS)
def test_pipenv_locks_and_installs(
    servers: dict[str, Server],
    tmp_path: Path,
    server_name: str,
) -> None:
    server = servers[server_name]
    project = tmp_path / "project"
    project.mkdir()
    verify = "true" if server.ca is not None else "false"
    (project / "Pipfile").write_text(
        f'[[source]]\nurl = "{server.login_url}"\nverify_ssl = {verify}\nname = "cellar"\n\n'
        '[packages]\napp = "*"\n',
        encoding="utf-8",
    )
    env = sealed_env(
        tmp_path,
        server,
        PIPENV_VENV_IN_PROJECT="1",
        PIPENV_CACHE_DIR=str(tmp_path / "pipenv-cache"),
        PIPENV_NOSPIN="1",
        PIPENV_YES="1",
        PIPENV_IGNORE_VIRTUALENVS="1",
    )
    python = find_python("3.11")
    run([tool("pipenv", "pipenv"), "install", "--python", python], env, project)
    lock = json.loads((project / "Pipfile.lock").read_text(encoding="utf-8"))
    assert {
        (name, entry["version"].removeprefix("==")) for name, entry in lock["default"].items()
    } == INSTALLED
    assert installed_in(site_packages(project / ".venv")) >= INSTALLED


@pytest.mark.parametrize("server_name", SERVERS)
def test_pip_compile_locks(servers: dict[str, Server], tmp_path: Path, server_name: str) -> None:
    server = servers[server_name]
    (tmp_path / "requirements.in").write_text("app\n", encoding="utf-8")
    env = sealed_env(tmp_path, server, PIP_CONFIG_FILE=os.devnull)
    run(
        [
            *(tool("pip-tools", "pip-compile"), "--quiet", "--strip-extras", "--no-header"),
            *("--no-annotate", "--generate-hashes", "--cache-dir", tmp_path / "pip-tools-cache"),
            *("--index-url", server.login_url, "--output-file", "requirements.txt"),
            "requirements.in",
        ],
        env,
        tmp_path,
    )
    pins = {
        tuple(line.split(" ")[0].split("=="))
        for line in (tmp_path / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    assert pins == INSTALLED
