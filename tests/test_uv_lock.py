"""uv.lock as a requirement source: the pins read from a lock real uv made against the local
index are, on every target, exactly those `uv export` says that target installs; a mirror of
them installs with pip and uv; and malformed or odd locks are refused or read as uv means them.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cellar.cli import main
from cellar.select.locks import read_uv_lock
from cellar.select.sources import RequirementsFileError
from cellar.select.targets import TargetEnvironment
from tests.support.installers import (
    INSTALL_TIMEOUT,
    clean_env,
    find_uv,
    make_venv,
    pip_install,
    uv_install,
    uv_venv,
)
from tests.support.mirror import assert_consistent, cellar_serve, write_config
from tests.support.packages import build_backend_wheel, build_sdist, build_wheel
from tests.support.upstream import LocalIndex

PROJECT = """\
[project]
name = "app"
version = "0.1"
requires-python = ">=3.9"
dependencies = ["alpha", "beta[fast]", "winonly; sys_platform == 'win32'", "delta"]
[project.optional-dependencies]
plot = ["zeta"]
[dependency-groups]
dev = ["eta", {include-group = "lint"}]
lint = ["theta"]
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"""
TARGETS = [
    TargetEnvironment(python, platform)
    for python in ("3.9", "3.10", "3.12", "3.13")
    for platform in ("manylinux_2_28_x86_64", "win_amd64", "macosx_11_0_arm64")
]


def populate(index: LocalIndex) -> None:
    """Projects that make uv fork (alpha by Python), follow markers, extras and groups."""
    index.add(build_wheel("alpha", "1.0"))
    index.add(build_wheel("alpha", "2.0", requires_python=">=3.10"))
    index.add(build_wheel("beta", "1.0", requires_dist=['gamma; extra == "fast"']))
    index.add(build_wheel("gamma", "1.0"))
    index.add(build_wheel("winonly", "1.0"))
    index.add(build_wheel("delta", "1.0", requires_dist=["epsilon; python_version < '3.11'"]))
    index.add(build_wheel("epsilon", "1.0"))
    index.add(build_wheel("zeta", "1.0"))
    index.add(build_wheel("eta", "1.0"))
    # sdist-only: the lock pins it, and the plan adds its build backend.
    index.add(
        build_sdist("theta", "1.0", build_requires=["tinybackend"], build_backend="tinybackend")
    )
    index.add(build_backend_wheel())


def uv(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_uv()), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def locked(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalIndex, Path, dict[str, str]]]:
    """(index, project directory) with a uv.lock that real uv made against the local index."""
    root = tmp_path_factory.mktemp("uv-lock")
    project = root / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(PROJECT, encoding="utf-8")
    env = clean_env(root / "env")
    with LocalIndex() as index:
        populate(index)
        result = uv("lock", "--no-config", "--default-index", index.url, cwd=project, env=env)
        assert result.returncode == 0, result.stderr
        yield index, project, env


def pins(requirements: Iterable[Requirement], target: TargetEnvironment) -> set[str]:
    environment = target.markers()
    return {
        f"{r.name}=={next(iter(r.specifier)).version}"
        for r in requirements
        if r.marker is None or r.marker.evaluate(environment)
    }


def test_the_pins_on_each_target_are_what_uv_export_says(
    locked: tuple[LocalIndex, Path, dict[str, str]],
) -> None:
    _, project, env = locked
    exported = uv(
        *("export", "--frozen", "--no-config", "--all-extras", "--all-groups", "--no-hashes"),
        *("--no-emit-project", "--no-header", "--no-annotate"),
        cwd=project,
        env=env,
    )
    assert exported.returncode == 0, exported.stderr
    theirs = [Requirement(line) for line in exported.stdout.splitlines() if line.strip()]
    ours = read_uv_lock(project / "uv.lock")
    for target in TARGETS:
        assert pins(ours, target) == pins(theirs, target), target.name
    # The fork and the markers really are in play: alpha by Python, winonly, epsilon.
    assert "alpha==1.0" in pins(ours, TARGETS[0]) and "alpha==2.0" in pins(ours, TARGETS[-1])
    windows = TargetEnvironment("3.12", "win_amd64")
    assert "winonly==1.0" in pins(ours, windows)
    assert "winonly==1.0" not in pins(ours, TargetEnvironment("3.12", "manylinux_2_28_x86_64"))
    assert {"gamma==1.0", "zeta==1.0", "eta==1.0", "theta==1.0"} <= pins(ours, windows)
    # Outside the lock's requires-python a target takes nothing from it.
    assert pins(ours, TargetEnvironment("3.8", "manylinux_2_28_x86_64")) == set()


@pytest.mark.slow
def test_a_mirror_of_a_uv_lock_installs_with_pip_and_uv(
    locked: tuple[LocalIndex, Path, dict[str, str]],
    tmp_path: Path,
) -> None:
    index, project, env = locked
    config = write_config(tmp_path, index.url, [])
    with config.open("a", encoding="utf-8") as stream:
        stream.write(f"uv-lock-files = [{str(project / 'uv.lock')!r}]\n")
        stream.write('[targets]\npython = ["3.9", "3.12"]\nplatforms = ["linux", "windows"]\n')
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    assert_consistent(web)
    mirrored = {path.parent.name for path in (web / "simple").glob("*/index.v1_json")}
    # Everything the lock pins, and theta's build backend (theta is an sdist: pip and uv build
    # it from the mirror).
    assert mirrored == {
        *["alpha", "beta", "gamma", "winonly", "delta", "epsilon", "zeta", "eta", "theta"],
        "tinybackend",
    }

    exported = uv(
        *("export", "--frozen", "--no-config", "--no-hashes", "--no-emit-project"),
        *("--no-header", "--extra", "plot"),
        cwd=project,
        env=env,
    )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(exported.stdout, encoding="utf-8")
    installer_env = clean_env(tmp_path / "installer")
    with cellar_serve(config) as base:
        python = make_venv(tmp_path / "pip-venv", sys.executable, env=installer_env)
        result = pip_install(python, f"{base}simple/", "-r", str(requirements), env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        uv_python = uv_venv(tmp_path / "uv-venv", env=installer_env)
        result = uv_install(uv_python, f"{base}simple/", "-r", str(requirements), env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr


LOCK_HEAD = 'version = 1\nrevision = 3\nrequires-python = ">=3.10"\n'


def write_lock(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text(LOCK_HEAD + body, encoding="utf-8")
    return path


def test_conflicting_extras_are_all_taken_and_other_sources_skipped(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """uv writes the extras and groups a lock is installed with into its markers; every
    selection is mirrored. A project from git is no index's to serve."""
    path = write_lock(
        tmp_path,
        """
[[package]]
name = "me"
version = "0.1"
source = { virtual = "." }
dependencies = [{ name = "from-git" }]

[package.optional-dependencies]
cpu = [{ name = "torchish", version = "1.0", source = { registry = "https://example.invalid/cpu" }, marker = "extra == 'extra-2-me-cpu'" }]
gpu = [{ name = "torchish", version = "2.0", source = { registry = "https://example.invalid/gpu" }, marker = "extra == 'extra-2-me-gpu' and sys_platform == 'linux'" }]

[[package]]
name = "torchish"
version = "1.0"
source = { registry = "https://example.invalid/cpu" }
dependencies = [{ name = "me" }]

[[package]]
name = "torchish"
version = "2.0"
source = { registry = "https://example.invalid/gpu" }

[[package]]
name = "from-git"
version = "3.0"
source = { git = "https://example.invalid/from-git.git?rev=main#0123456789abcdef" }
dependencies = [{ name = "six" }]

[[package]]
name = "six"
version = "1.17.0"
source = { registry = "https://example.invalid/simple" }
""",
    )
    with caplog.at_level(logging.WARNING, logger="cellar.config"):
        found = read_uv_lock(path)
    assert [str(r) for r in found] == [
        'torchish==1.0; python_full_version >= "3.10"',
        'torchish==2.0; python_full_version >= "3.10" and sys_platform == "linux"',
        'six==1.17.0; python_full_version >= "3.10"',
    ]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: skipping from-git: installed from a git, not an index"
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[package]]\nname = 'x'\n", "has no version; is it a uv.lock?"),
        ("version = 2\n", "uv.lock version 2 is not supported"),
        ("version = 1\npackage = 3\n", "[[package]] must be an array of tables"),
        ("version = 1\n[[package]]\nversion = '1'\n", "entry 1 is not a table with a name"),
        (
            "version = 1\n[[package]]\nname = 'me'\nsource = { virtual = '.' }\n"
            "dependencies = [{ name = 'ghost' }]\n",
            "me depends on 'ghost' , not in the lock",
        ),
        (
            "version = 1\n[[package]]\nname = 'me'\nsource = { virtual = '.' }\n"
            "dependencies = [{ name = 'x', marker = 'os_name ==' }]\n[[package]]\nname = 'x'\n"
            "version = '1'\n",
            "a dependency of me: marker 'os_name =='",
        ),
        ("version = 1\nrequires-python = '>=three'\n", "requires-python '>=three' is not valid"),
    ],
)
def test_uv_lock_problems_are_errors_naming_the_file(
    tmp_path: Path,
    text: str,
    reason: str,
) -> None:
    path = tmp_path / "uv.lock"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RequirementsFileError) as caught:
        read_uv_lock(path)
    assert reason in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_a_dependency_cycle_with_markers_ends(tmp_path: Path) -> None:
    path = write_lock(
        tmp_path,
        """
[[package]]
name = "me"
source = { editable = "." }
dependencies = [{ name = "a", marker = "os_name == 'posix'" }]

[[package]]
name = "a"
version = "1"
source = { registry = "https://example.invalid/simple" }
dependencies = [{ name = "b", marker = "python_version < '3.13'" }]

[[package]]
name = "b"
version = "1"
source = { registry = "https://example.invalid/simple" }
dependencies = [{ name = "a", marker = "sys_platform == 'linux'" }]
""",
    )
    found = {r.name: str(r.marker) for r in read_uv_lock(path)}
    assert found == {
        "a": 'python_full_version >= "3.10" and os_name == "posix"',
        "b": 'python_full_version >= "3.10" and (os_name == "posix" and python_version < "3.13")',
    }
