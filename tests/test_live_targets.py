"""Live, at real scale (``pytest -m live``; reaches PyPI): a data-science set of fourteen roots
with extras and markers planned for sixteen targets (CPython 3.10.13, 3.11.7, 3.12.1 and 3.13.0
on Linux x86-64 and aarch64, Windows and macOS 14 on Apple silicon), checked against what pip and uv choose against
PyPI itself; and a smaller set with sdist-only projects mirrored for every local interpreter and
installed there with pip and uv from `cellar serve`.

pip is asked only for the Linux x86-64 targets, running on this machine's CPython of each
version: with ``--platform`` pip takes wheel tags for the target but evaluates markers
(``sys_platform``, ``platform_machine``) for this machine, and refuses sdists (odfpy, which
``pandas[excel]`` needs, is one). uv's ``--python-platform`` sets both, so uv is asked for every
target. Times and request counts go to
``$CELLAR_ARTIFACTS/live/`` (default ``.artifacts/live/``) and are printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from cellar.config.model import default_upstream
from cellar.select.targets import TargetEnvironment, host_target, targets_for
from cellar.sync.uv_pins import uv_platform
from tests.support.installers import (
    INSTALL_TIMEOUT,
    clean_env,
    find_interpreters,
    find_python,
    find_uv,
    imported_version,
    make_venv,
    pip_install,
    python_version,
    uv_install,
    uv_venv,
)
from tests.support.mirror import assert_consistent, cellar_serve, run_cli, write_config

#: Cold plans of sixteen targets against PyPI take minutes.
pytestmark = [pytest.mark.live, pytest.mark.timeout(3600)]

REPOSITORY = Path(__file__).resolve().parents[1]
DATA_SCIENCE = [
    "numpy",
    "pandas[performance,excel]",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "statsmodels",
    "jupyterlab",
    "polars",
    "pyarrow",
    "sqlalchemy[asyncio]",
    "requests[socks]",
    "xgboost; platform_machine == 'x86_64' or platform_machine == 'AMD64'",
    "pywin32; sys_platform == 'win32'",
]
#: The micro versions of the CPythons pip is run on (pyenv's, as CI has them): a target "3.11"
#: means 3.11.0, where soupsieve 4.1 (Requires-Python >=3.11.5) is out and pip on 3.11.7 takes it.
PYTHONS = ["3.10.13", "3.11.7", "3.12.1", "3.13.0"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_28_aarch64", "win_amd64", "macosx_14_0_arm64"]
#: Installed on every local interpreter: pure and compiled wheels, extras, and sdist-only
#: projects (docopt, pyperclip) whose build requirements must come from the mirror too.
SMALL_SET = ["requests[socks]", "rich", "pyyaml", "python-dateutil", "docopt", "pyperclip"]


def pin(name: str, version: str) -> str:
    """``name==version`` with the name normalised (pip reports names as metadata spells them)."""
    return f"{canonicalize_name(name)}=={Version(version)}"


def artifacts() -> Path:
    directory = Path(os.environ.get("CELLAR_ARTIFACTS") or REPOSITORY / ".artifacts") / "live"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def record(name: str, data: dict[str, object]) -> None:
    (artifacts() / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"\n{name}: {json.dumps(data)}")


def pip_pins(target: TargetEnvironment, requirements: list[str], tmp_path: Path) -> set[str]:
    """What pip chooses against PyPI for a Linux x86-64 ``target``: pip in a venv of this
    machine's CPython of that version (it may build sdists to read them, as users' pip does;
    ``--platform`` would refuse sdists altogether)."""
    env = clean_env(tmp_path / "pip-env")
    minor = ".".join(target.python.split(".")[:2])
    python = find_python(minor)
    found = python_version(python)
    assert found == target.python, f"pip must run on CPython {target.python}, found {found}"
    venv = make_venv(tmp_path / f"pip-{target.python}", python, env=env)
    report = tmp_path / f"pip-{target.name}.json"
    result = pip_install(
        venv,
        default_upstream(),
        *requirements,
        env=env,
        extra_args=("--dry-run", "--ignore-installed", "--quiet", "--report", str(report)),
    )
    assert result.returncode == 0, f"pip for {target.name}: {result.stderr[-3000:]}"
    installed = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {pin(p["metadata"]["name"], p["metadata"]["version"]) for p in installed}


def uv_pins(target: TargetEnvironment, requirements: list[str], tmp_path: Path) -> set[str]:
    """What `uv pip compile` chooses against PyPI for ``target``."""
    platform = uv_platform(target)
    assert platform is not None
    source = tmp_path / "requirements.in"
    source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    env = {**clean_env(tmp_path / "uv-env"), **platform[1]}
    result = subprocess.run(
        [
            *(str(find_uv()), "pip", "compile", "--no-config", "--quiet", "--no-header"),
            *("--no-annotate", "--python-version", target.python, "--python", sys.executable),
            *("--python-platform", platform[0], "--default-index", default_upstream()),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT * 4,
        check=False,
    )
    assert result.returncode == 0, f"uv for {target.name}: {result.stderr[-3000:]}"
    return {pin(*line.strip().split("==")) for line in result.stdout.splitlines() if "==" in line}


def test_the_plan_for_sixteen_targets_holds_what_pip_and_uv_choose_on_pypi(tmp_path: Path) -> None:
    requirements = [*DATA_SCIENCE]
    # pandas[excel] needs odfpy, only an sdist: uv learns its dependencies by building it, as
    # uv does on a developer's machine, so the plan lets it (uv-builds) to hold uv's pins.
    config = write_config(
        tmp_path, default_upstream(), requirements, extra_packages="uv-builds = true"
    )
    with config.open("a", encoding="utf-8") as stream:
        stream.write(
            f"[targets]\npython = {json.dumps(PYTHONS)}\nplatforms = {json.dumps(PLATFORMS)}\n"
        )
    started = time.monotonic()
    cold = run_cli("plan", "-c", str(config), "--json", timeout=3600)
    cold_seconds = time.monotonic() - started
    assert cold.returncode == 0, cold.stderr[-5000:]
    plan = json.loads(cold.stdout)
    assert len(plan["targets"]) == 16
    started = time.monotonic()
    warm = run_cli("plan", "-c", str(config), "--json", timeout=3600)
    warm_seconds = time.monotonic() - started
    assert warm.returncode == 0, warm.stderr[-5000:]

    missing: dict[str, list[str]] = {}
    checked = {"pip": 0, "uv": 0}
    uv_seconds = 0.0  # the baseline: uv resolving the same roots once per target
    for target in targets_for(PYTHONS, PLATFORMS):
        planned = {
            pin(name, version)
            for name, versions in plan["targets"][target.name]["projects"].items()
            for version in versions
        }
        started = time.monotonic()
        wanted = uv_pins(target, requirements, tmp_path)
        uv_seconds += time.monotonic() - started
        checked["uv"] += 1
        if target.platform == "manylinux_2_28_x86_64":
            wanted |= pip_pins(target, requirements, tmp_path)
            checked["pip"] += 1
        if wanted - planned:
            missing[target.name] = sorted(wanted - planned)
    record(
        "plan-16-targets",
        {
            "roots": len(requirements),
            "targets": len(plan["targets"]),
            "projects": len(plan["projects"]),
            "files": plan["total"]["files"],
            "bytes": plan["total"]["bytes"],
            "cold_seconds": round(cold_seconds, 1),
            "cold_requests": plan["requests"],
            "warm_seconds": round(warm_seconds, 1),
            "warm_requests": json.loads(warm.stdout)["requests"],
            "warm_kept": json.loads(warm.stdout)["kept"],
            "uv_compile_seconds": round(uv_seconds, 1),
            "cold_vs_uv": round(cold_seconds / uv_seconds, 2),
            "warm_vs_uv": round(warm_seconds / uv_seconds, 2),
            "checked_against": checked,
        },
    )
    assert missing == {}


def test_a_mirror_installs_with_pip_and_uv_on_every_local_interpreter(tmp_path: Path) -> None:
    interpreters = find_interpreters((3, 8))
    versions = {}
    for python in interpreters:
        versions[".".join(python_version(python).split(".")[:2])] = python
    assert len(versions) >= 3, versions  # CI has pyenv's 3.8 to 3.13
    host = host_target()
    config = write_config(tmp_path, default_upstream(), SMALL_SET)
    with config.open("a", encoding="utf-8") as stream:
        stream.write(
            f'[targets]\npython = {json.dumps(sorted(versions))}\nplatforms = ["{host.platform}"]\n'
        )
    started = time.monotonic()
    mirrored = run_cli("mirror", "-c", str(config), timeout=3600)
    seconds = time.monotonic() - started
    assert mirrored.returncode == 0, mirrored.stderr[-5000:]
    web = tmp_path / "mirror" / "web"
    assert_consistent(web)
    summary = mirrored.stdout
    installed: dict[str, str] = {}
    with cellar_serve(config) as base:
        index = f"{base}simple/"
        for version, python in sorted(versions.items()):
            env = clean_env(tmp_path / f"env-{version}")
            venv = make_venv(tmp_path / f"pip-{version}", python, env=env)
            result = pip_install(venv, index, *SMALL_SET, env=env)
            assert result.returncode == 0, f"pip on {version}: {result.stderr[-3000:]}"
            assert imported_version(venv, "docopt")
            uv_python = uv_venv(tmp_path / f"uv-{version}", python, env=env)
            result = uv_install(uv_python, index, *SMALL_SET, env=env)
            assert result.returncode == 0, f"uv on {version}: {result.stderr[-3000:]}"
            installed[version] = imported_version(uv_python, "yaml")
    record(
        "mirror-local-interpreters",
        {
            "pythons": sorted(versions, key=lambda v: tuple(map(int, v.split(".")))),
            "roots": SMALL_SET,
            "mirror_seconds": round(seconds, 1),
            "summary": summary.strip().splitlines(),
            "pyyaml_by_python": installed,
        },
    )
