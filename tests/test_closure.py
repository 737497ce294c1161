"""The dependency closure, checked with real installers against the served mirror.

A local upstream holds a graph built for the purpose (markers on Python version and platform,
extras, a conflict that needs backtracking, an sdist-only project with its own build backend,
yanked versions, Requires-Python cut-offs, abi3 and pure wheels). Cellar mirrors the closure for
four targets; then, for every target, pip (``--dry-run --report`` with ``--python-version`` and
``--platform``) and uv (``pip compile --python-platform --python-version``) must resolve every
requirement, alone and together, against the mirror alone, and pin exactly what they pin against
the full upstream.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.select.targets import TargetEnvironment
from tests.support.installers import (
    find_uv,
    imported_version,
    make_venv,
    pip_install,
)
from tests.support.mirror import assert_consistent, cellar_serve, listed_files, write_config
from tests.support.packages import build_backend_wheel, build_sdist, build_wheel
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

TARGETS = [
    ("3.11", "manylinux_2_28_x86_64", "x86_64-manylinux_2_28"),
    ("3.12", "manylinux_2_28_x86_64", "x86_64-manylinux_2_28"),
    ("3.11", "win_amd64", "x86_64-pc-windows-msvc"),
    ("3.12", "win_amd64", "x86_64-pc-windows-msvc"),
]
REQUIREMENTS = ["app[extra]", "conflict-a", "conflict-b", "fastlib"]


def build_graph(index: LocalIndex) -> None:
    """Publish the test graph on ``index``."""
    index.add(build_wheel("app", "1.0", requires_dist=["lib>=1.0"]))
    index.add(
        build_wheel(
            "app",
            "2.0",
            requires_dist=[
                "lib>=1.0",
                "winonly; sys_platform == 'win32'",
                "oldpy; python_version < '3.12'",
                "extra-dep; extra == 'extra'",
            ],
        )
    )
    index.add(build_wheel("lib", "1.0"))
    index.add(build_wheel("lib", "1.5"), yanked="bad release")
    index.add(build_wheel("lib", "2.0", requires_python=">=3.12"))
    index.add(build_wheel("winonly", "1.0", tag="cp39-abi3-win_amd64"))
    index.add(build_wheel("oldpy", "1.0"))
    index.add(build_wheel("extra-dep", "1.0"))
    index.add(build_wheel("unused", "1.0"))
    # A conflict that needs backtracking: conflict-a 2.0 wants shared<2, conflict-b wants >=2.
    index.add(build_wheel("conflict-a", "1.0", requires_dist=["shared"]))
    index.add(build_wheel("conflict-a", "2.0", requires_dist=["shared<2"]))
    index.add(build_wheel("conflict-b", "1.0", requires_dist=["shared>=2"]))
    index.add(build_wheel("shared", "1.0"))
    index.add(build_wheel("shared", "2.0"))
    # Platform wheels per Python version, and a pure fallback for older Pythons.
    for python in ("311", "312"):
        index.add(build_wheel("fastlib", "1.0", tag=f"cp{python}-cp{python}-manylinux_2_17_x86_64"))
        index.add(build_wheel("fastlib", "1.0", tag=f"cp{python}-cp{python}-win_amd64"))
        index.add(build_wheel("fastlib", "1.0", tag=f"cp{python}-cp{python}-macosx_11_0_arm64"))
    # Only an sdist, built by a backend that must come from the mirror too.
    index.add(build_backend_wheel())
    index.add(
        build_sdist(
            "sdist-only",
            "1.0",
            requires_dist=["lib>=1.0"],
            build_requires=["tinybackend"],
            build_backend="tinybackend",
        )
    )


@pytest.fixture(scope="module")
def closure_mirror(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, Path, Path]]:
    """Mirror the closure of the graph for TARGETS; yield (upstream URL, mirror URL, web root)."""
    root = tmp_path_factory.mktemp("closure")
    with LocalIndex() as index:
        build_graph(index)
        pythons = sorted({python for python, _, _ in TARGETS})
        platforms = sorted({platform for _, platform, _ in TARGETS})
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        config = write_config(
            root,
            index.url,
            [*REQUIREMENTS, f"sdist-only; python_version == '{host}'"],
            extra_packages='sdists = "needed"\nversions = 1',
        )
        with config.open("a", encoding="utf-8") as stream:
            stream.write(
                f"[targets]\npython = {json.dumps(pythons)}\nplatforms = {json.dumps(platforms)}\n"
            )
        assert main(["mirror", "-c", str(config)]) == 0
        web = root / "mirror" / "web"
        assert_consistent(web)
        with cellar_serve(config) as base:
            yield index.url, base + "simple/", web, config


def platform_options(python: str, platform: str) -> list[str]:
    """Return pip's ``--platform`` options for every platform tag the target accepts.

    pip takes ``--platform manylinux_2_28_x86_64`` literally (that tag only), where a real
    glibc 2.28 machine also accepts manylinux_2_17 wheels and older.
    """
    platforms = dict.fromkeys(tag.platform for tag in TargetEnvironment(python, platform).tags)
    return [option for name in platforms if name != "any" for option in ("--platform", name)]


def pip_report(
    index_url: str, python: str, platform: str, requirements: Sequence[str], tmp_path: Path
) -> dict[str, str]:
    """Return the pins pip resolves for ``requirements`` on a target, from ``index_url`` alone."""
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
            "--no-cache-dir",
            "--python-version",
            python,
            *platform_options(python, platform),
            "--only-binary=:all:",
            "--index-url",
            index_url,
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, f"pip on {python} {platform}: {result.stderr}"
    pins = json.loads(report.read_text())["install"]
    return {p["metadata"]["name"].lower(): p["metadata"]["version"] for p in pins}


def uv_compile(
    index_url: str, python: str, uv_platform: str, requirements: Sequence[str], tmp_path: Path
) -> dict[str, str]:
    """Return the pins ``uv pip compile`` resolves for a target, from ``index_url`` alone."""
    source = tmp_path / "requirements.in"
    source.write_text("\n".join(requirements) + "\n")
    result = subprocess.run(
        [
            str(find_uv()),
            "pip",
            "compile",
            "--no-config",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python-version",
            python,
            "--python-platform",
            uv_platform,
            "--default-index",
            index_url,
            "--no-cache",
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        # No interpreter downloads: uv must never reach beyond 127.0.0.1.
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
        },
    )
    assert result.returncode == 0, f"uv on {python} {uv_platform}: {result.stderr}"
    pins = {}
    for line in result.stdout.splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[name.strip().lower()] = version.split(";")[0].strip()
    return pins


@pytest.mark.parametrize(("python", "platform", "uv_platform"), TARGETS)
def test_every_requirement_resolves_from_the_mirror_alone(
    closure_mirror: tuple[str, str, Path, Path],
    tmp_path: Path,
    python: str,
    platform: str,
    uv_platform: str,
) -> None:
    upstream, mirror, _, _ = closure_mirror
    for requirements in ([*REQUIREMENTS], *([r] for r in REQUIREMENTS)):
        expected = pip_report(upstream, python, platform, requirements, tmp_path)
        assert pip_report(mirror, python, platform, requirements, tmp_path) == expected
        expected_uv = uv_compile(upstream, python, uv_platform, requirements, tmp_path)
        assert uv_compile(mirror, python, uv_platform, requirements, tmp_path) == expected_uv


def test_the_mirror_holds_only_what_targets_need(
    closure_mirror: tuple[str, str, Path, Path],
) -> None:
    _, _, web, _ = closure_mirror
    projects = sorted(p.name for p in (web / "simple").iterdir() if p.is_dir())
    assert "unused" not in projects
    assert "macosx" not in " ".join(f for p in projects for f in listed_files(web, p))
    assert sorted(listed_files(web, "lib")) == [
        "lib-1.0-py3-none-any.whl",
        "lib-2.0-py3-none-any.whl",
    ]
    assert sorted(listed_files(web, "winonly")) == ["winonly-1.0-cp39-abi3-win_amd64.whl"]
    # conflict-a alone takes 2.0 and shared 1.0; with conflict-b it backtracks to 1.0, shared 2.0.
    assert sorted(listed_files(web, "conflict-a")) == [
        "conflict_a-1.0-py3-none-any.whl",
        "conflict_a-2.0-py3-none-any.whl",
    ]
    assert sorted(listed_files(web, "shared")) == [
        "shared-1.0-py3-none-any.whl",
        "shared-2.0-py3-none-any.whl",
    ]
    # The sdist-only project brings its build backend.
    assert "tinybackend" in projects


def test_sdist_only_project_builds_offline_from_the_mirror(
    closure_mirror: tuple[str, str, Path, Path],
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    _, mirror, _, _ = closure_mirror
    python = make_venv(tmp_path / "venv", sys.executable)
    result = pip_install(python, mirror, "sdist-only", env=installer_env)
    assert result.returncode == 0, result.stderr
    assert imported_version(python, "sdist_only") == "1.0"


def test_why_and_plan(
    closure_mirror: tuple[str, str, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, _, config = closure_mirror
    assert main(["why", "-c", str(config), "winonly"]) == 0
    out = capsys.readouterr().out
    assert "cp311-manylinux_2_28_x86_64: not needed" in out
    assert "cp311-win_amd64:\n  app[extra] -> winonly\n  app[extra]==2.0 -> winonly\n" in out
    assert main(["why", "-c", str(config), "lib"]) == 0
    assert "app[extra] -> lib>=1.0" in capsys.readouterr().out
    assert main(["why", "-c", str(config), "unused"]) == 1
    capsys.readouterr()
    assert main(["plan", "-c", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["new"] == {"files": 0, "bytes": 0}
    assert set(data["targets"]) == {
        "cp311-manylinux_2_28_x86_64",
        "cp312-manylinux_2_28_x86_64",
        "cp311-win_amd64",
        "cp312-win_amd64",
    }
    assert data["targets"]["cp311-win_amd64"]["projects"]["lib"] == ["1.0"]
    assert data["targets"]["cp312-win_amd64"]["projects"]["lib"] == ["2.0"]
