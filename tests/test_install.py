"""The promise: mirror, serve with `cellar serve`, and real pip and uv install from the mirror alone.

The upstream is stopped before anything is installed, so the installers can only have reached
the Cellar server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellar.cli import main
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.mirror import EVERY_VERSION, assert_consistent, cellar_serve, write_config
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A mirror of a small upstream, served by a real `cellar serve` process."""
    root = tmp_path_factory.mktemp("served")
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"))
        index.add(build_wheel("alpha", "2.0"))
        index.add(build_sdist("alpha", "2.0"))
        index.add(build_wheel("alpha", "3.0"), yanked="do not use")
        index.add(build_wheel("Foo_Bar.baz", "1.5"))
        index.add(build_wheel("Foo_Bar.baz", "2.5"))
        index.add(
            build_wheel("zope.thing", "4.0", requires_python=">=3.8"), requires_python=">=3.8"
        )
        config = write_config(
            root,
            index.url,
            ["alpha", "Foo_Bar.baz>=1.0,<2", "zope.thing"],
            extra_packages=EVERY_VERSION,
        )
        assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(root / "mirror" / "web")
    with cellar_serve(config) as base:
        yield base + "simple/"


def test_pip_installs_from_the_mirror_alone(
    served_mirror: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(
        python, served_mirror, "alpha", "Foo_Bar.baz", "zope.thing", env=installer_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # alpha 3.0 is yanked: pip takes 2.0; Foo_Bar.baz is limited to <2 by the mirror's config.
    assert imported_version(python, "alpha") == "2.0"
    assert imported_version(python, "foo_bar_baz") == "1.5"
    assert imported_version(python, "zope_thing") == "4.0"


def test_pip_installs_a_pinned_yanked_version(
    served_mirror: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(python, served_mirror, "alpha==3.0", env=installer_env)
    assert result.returncode == 0, result.stderr
    assert "do not use" in result.stderr  # pip shows the yank reason it read from the page
    assert imported_version(python, "alpha") == "3.0"


def test_uv_installs_from_the_mirror_alone(
    served_mirror: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = uv_venv(tmp_path / "venv", sys.executable, env=installer_env)
    result = uv_install(
        python, served_mirror, "alpha", "foo-bar-baz", "zope-thing", env=installer_env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"
    assert imported_version(python, "foo_bar_baz") == "1.5"


def test_pip_fails_cleanly_for_what_the_mirror_does_not_hold(
    served_mirror: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(python, served_mirror, "not-mirrored", env=installer_env)
    assert result.returncode != 0
    assert "No matching distribution found for not-mirrored" in result.stderr
