"""The pips people really have, installing from the mirror: Debian 12's 23.0.1 on CPython 3.11.

pip 22.3 to 23.1 crash on PEP 658's legacy ``dist-info-metadata`` key in a JSON page (the bug
PEP 714 is about), so this pip fails on any page that carries it. Its wheel is fetched at
set-up (``tests/clients.txt``, by the README's test command) into ``.clients/`` or
``$CELLAR_CLIENT_WHEELS``; pytest itself downloads nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config import load_config
from cellar.nginx import render_nginx_config, site_from_config
from tests.support.installers import INSTALL_TIMEOUT, find_python, make_venv, pip_install
from tests.support.mirror import EVERY_VERSION, cellar_serve, write_config
from tests.support.nginx import free_port, running_nginx
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CLIENT_WHEELS = Path(os.environ.get("CELLAR_CLIENT_WHEELS", ROOT / ".clients"))


def client_wheel(name: str, version: str) -> Path:
    """Return the wheel of ``name`` ``version`` fetched at set-up; fail saying how to fetch it."""
    found = sorted(CLIENT_WHEELS.glob(f"{name}-{version}-*.whl"))
    if not found:
        pytest.fail(
            f"no {name} {version} wheel in {CLIENT_WHEELS}: run the README's test set-up "
            f"(bash scripts/test.sh, or pip download --no-deps -d .clients -r tests/clients.txt)"
        )
    return found[0]


@pytest.fixture(scope="module")
def mirror_config(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distro-pips")
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"))
        index.add(build_wheel("alpha", "2.0"))
        index.add(build_sdist("alpha", "2.0"))
        index.add(build_wheel("beta", "1.0"), metadata=False)  # no PEP 658 file
        index.add(build_wheel("app", "1.0", requires_dist=["alpha>=2", "beta"]))
        config = write_config(
            root, index.url, ["app", "alpha", "beta"], extra_packages=EVERY_VERSION
        )
        assert main(["mirror", "-c", str(config)]) == 0
    return config


@pytest.fixture(scope="module")
def debian_pip(tmp_path_factory) -> Path:
    """A CPython 3.11 venv holding pip 23.0.1, as Debian 12 has them."""
    venv = make_venv(tmp_path_factory.mktemp("debian12") / "venv", find_python("3.11"))
    wheel = client_wheel("pip", "23.0.1")
    subprocess.run(
        [str(venv), "-m", "pip", "install", "--isolated", "--no-index", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
    )
    version = subprocess.run(
        [str(venv), "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("pip 23.0.1 "), version
    return venv


@pytest.fixture(params=["cellar serve", "nginx"])
def index_url(request, mirror_config, tmp_path_factory) -> Iterator[str]:
    if request.param == "cellar serve":
        with cellar_serve(mirror_config) as base:
            yield base + "simple/"
    else:
        port = free_port()
        site = site_from_config(load_config(mirror_config), listen=(f"127.0.0.1:{port}",))
        with running_nginx(tmp_path_factory.mktemp("nginx"), render_nginx_config(site), port):
            yield f"http://127.0.0.1:{port}/simple/"


def test_debian_12s_pip_installs_from_the_mirror(debian_pip, index_url, tmp_path, installer_env):
    target = tmp_path / "target"
    result = pip_install(
        debian_pip, index_url, "app", env=installer_env, extra_args=("--target", str(target))
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    installed = sorted(path.name for path in target.glob("*.dist-info"))
    assert installed == ["alpha-2.0.dist-info", "app-1.0.dist-info", "beta-1.0.dist-info"]
