"""A project's pyproject.toml as a requirement source: its dependencies, what it needs to build
and its dependency groups (PEP 735) are each planned as they are installed, apart from each
other, so a build requirement or a group that conflicts with the rest is no failure; then the
project builds and its groups install from the mirror alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cellar.cli import main
from tests.support.installers import (
    clean_env,
    make_venv,
    pip_install,
    uv_install,
    uv_venv,
)
from tests.support.mirror import assert_consistent, cellar_serve, run_cli, write_config
from tests.support.packages import build_backend_wheel, build_wheel, core_metadata
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

PYPROJECT = """\
[build-system]
requires = ["tinybackend>=2"]
build-backend = "tinybackend"

[project]
name = "inhouse"
version = "1.0"
dependencies = ["lib"]

[dependency-groups]
docs = ["shared<2"]
test = ["shared>=2", {include-group = "lint"}]
lint = ["checker"]
"""


@pytest.fixture(scope="module")
def project_mirror(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, dict[str, Any]]:
    """(config, project directory) mirrored from an index where the parts conflict."""
    root = tmp_path_factory.mktemp("project-sources")
    project = root / "inhouse"
    (project / "inhouse").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    # What tinybackend builds a wheel from: the metadata and the module.
    (project / "PKG-INFO").write_bytes(core_metadata("inhouse", "1.0", requires_dist=["lib"]))
    (project / "inhouse" / "__init__.py").write_text("VERSION = '1.0'\n", encoding="utf-8")
    with LocalIndex() as index:
        index.add(build_backend_wheel(version="1.0"))
        index.add(build_backend_wheel(version="2.0"))
        for name, version in [("lib", "1.0"), ("shared", "1.0"), ("shared", "2.0")]:
            index.add(build_wheel(name, version))
        index.add(build_wheel("checker", "1.0"))
        # The configuration's own requirements pin the backend below what the build needs:
        # resolved with the build requirements, that could never be satisfied.
        config = write_config(root, index.url, ["tinybackend<2"])
        with config.open("a", encoding="utf-8") as stream:
            stream.write(f"pyproject-files = [{json.dumps(str(project / 'pyproject.toml'))}]\n")
            host = f"{sys.version_info.major}.{sys.version_info.minor}"
            stream.write(f'[targets]\npython = ["{host}"]\nplatforms = ["linux"]\n')

        planned = run_cli("plan", "-c", str(config), "--json")
        assert planned.returncode == 0, planned.stderr
        assert main(["mirror", "-c", str(config)]) == 0
    assert_consistent(root / "mirror" / "web")
    return config, project, json.loads(planned.stdout)


def test_build_requirements_and_groups_are_planned_apart(
    project_mirror: tuple[Path, Path, dict[str, Any]],
) -> None:
    _, _, plan = project_mirror
    (target,) = plan["targets"].values()
    versions = target["projects"]
    assert versions["tinybackend"] == ["1.0", "2.0"]  # <2 for the configuration, >=2 to build
    assert versions["shared"] == ["1.0", "2.0"]  # the docs group's and the test group's
    assert versions["checker"] == ["1.0"]  # included by the test group
    assert versions["lib"] == ["1.0"]
    assert plan["failures"] == []


def test_the_project_builds_and_its_groups_install_from_the_mirror(
    project_mirror: tuple[Path, Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    config, project, _ = project_mirror
    env = clean_env(tmp_path / "installer")
    with cellar_serve(config) as base:
        index = f"{base}simple/"
        python = make_venv(tmp_path / "venv", env=env)
        # pip builds the project in an isolated environment holding tinybackend>=2.
        built = pip_install(python, index, str(project), env=env)
        assert built.returncode == 0, built.stdout + built.stderr
        uv_python = uv_venv(tmp_path / "uv-venv", env=env)
        for group, shared in (("test", "2.0"), ("docs", "1.0")):
            installed = uv_install(
                uv_python, index, "--group", f"{project / 'pyproject.toml'}:{group}", env=env
            )
            assert installed.returncode == 0, installed.stdout + installed.stderr
            assert f"shared=={shared}" in installed.stderr or f"shared {shared}" in (
                installed.stderr
            ), installed.stderr
