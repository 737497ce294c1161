"""Live: mirror real projects from PyPI, serve them, and install with pip from the mirror alone.

Reaches the public index, so it is deselected by default; run with ``pytest -m live``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from cellar.cli import main
from cellar.config import DEFAULT_UPSTREAM
from tests.support.installers import make_venv, pip_install
from tests.support.mirror import assert_consistent, cellar_serve, write_config

pytestmark = pytest.mark.live


def test_mirror_from_pypi_and_install(tmp_path, installer_env):
    config = write_config(tmp_path, DEFAULT_UPSTREAM, ["six==1.16.0", "idna>=3.7,<3.9"])
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    # Every listed file, and every .metadata file the upstream offered, is in place and verified.
    assert assert_consistent(web) >= 3
    # PyPI's own file paths are kept, as bandersnatch keeps them.
    assert list((web / "packages").glob("??/??/*/six-1.16.0-py2.py3-none-any.whl"))
    with cellar_serve(config) as base:
        python = make_venv(tmp_path / "venv", sys.executable)
        result = pip_install(python, base + "simple/", "six", "idna", env=installer_env)
        assert result.returncode == 0, result.stderr
    out = subprocess.run(
        [str(python), "-c", "import six, idna; print(six.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1.16.0"
