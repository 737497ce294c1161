"""Live: mirror real projects from PyPI, serve them, and install with pip from the mirror alone.

Reaches the public index, so it is deselected by default; run with ``pytest -m live``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config.model import default_upstream
from tests.support.installers import find_python, make_venv, pip_install
from tests.support.mirror import assert_consistent, cellar_serve, write_config

pytestmark = pytest.mark.live


def test_mirror_from_pypi_and_install(tmp_path: Path, installer_env: dict[str, str]) -> None:
    config = write_config(tmp_path, default_upstream(), ["six==1.16.0", "idna>=3.7,<3.9"])
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    # Every listed file, and every .metadata file the upstream offered, is in place and verified.
    assert assert_consistent(web) >= 2
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


def test_closure_of_pandas_folium_pip_for_cpython_311_manylinux(
    tmp_path: Path, installer_env: dict[str, str]
) -> None:
    """The issue's promise on real projects: the closure alone installs and imports."""
    config = write_config(tmp_path, default_upstream(), ["pandas", "folium", "pip"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[targets]\npython = ["3.11"]\nplatforms = ["manylinux_2_28_x86_64"]\n')
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    assert_consistent(web)
    for needed in ("numpy", "python-dateutil", "tzdata", "jinja2", "branca", "requests"):
        assert (web / "simple" / needed / "index.v1_json").is_file(), needed
    python = find_python("3.11")
    with cellar_serve(config) as base:
        venv = make_venv(tmp_path / "venv", python)
        result = pip_install(venv, base + "simple/", "pandas", "folium", "pip", env=installer_env)
        assert result.returncode == 0, result.stderr
    subprocess.run(
        [str(venv), "-c", "import pandas, folium; pandas.DataFrame({'a': [1]}); folium.Map()"],
        check=True,
    )


def test_the_default_limits_take_pypis_largest_pages(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PyPI's root page (about 40 MB, read for its serials) and one of its largest project pages
    (ddtrace's, about 20 MB) pass the default max-page-size and deadline; a tight limit stops
    the same page with the project failing alone."""
    config = write_config(
        tmp_path, default_upstream(), ["ddtrace"], extra_mirror='root-serials = "always"'
    )
    assert main(["plan", "-c", str(config)]) == 0
    out = capsys.readouterr()
    assert "ddtrace" in out.out
    # The root page was read whole (a JSON one gives serials; an HTML one, none), not cut.
    assert "root page" in out.err, out.err
    assert "max-page-size" not in out.out + out.err
    tight = write_config(
        tmp_path, default_upstream(), ["ddtrace", "six"], extra_mirror='max-page-size = "4MiB"'
    )
    assert main(["plan", "-c", str(tight)]) == 1
    out = capsys.readouterr()
    assert "max-page-size" in out.out + out.err
    assert "six" in out.out
