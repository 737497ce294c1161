"""Real pip and uv, run against one index and nothing else from this machine's configuration.

A developer's or CI machine's pip and uv settings (config files, ``PIP_*`` and ``UV_*``
variables, ``find-links``, extra indexes) would otherwise leak into installs and let a test pass
on files the index under test never served. :func:`clean_env` builds an environment that reads
no configuration at all, and the install helpers pass every option on the command line.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

#: How long one installer run may take before the test fails with its output.
INSTALL_TIMEOUT = 240.0

_DROPPED = frozenset(
    {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"}
)
_PROBE = (
    "import importlib.util, json, platform, sys; print(json.dumps({"
    "'impl': platform.python_implementation(), 'version': list(sys.version_info[:3]), "
    "'executable': sys.executable, 'ensurepip': bool(importlib.util.find_spec('ensurepip'))}))"
)


def clean_env(tmp: Path) -> dict[str, str]:
    """Return an environment for installers that reads no pip or uv configuration.

    It is ``os.environ`` without ``PIP_*``, ``UV_*``, ``VIRTUAL_ENV``, ``PYTHONPATH`` and the
    like, with ``HOME`` moved to ``tmp/home`` (created) so no user file is found, caches under
    ``tmp``, and loopback excluded from any proxy.
    """
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_")) and key not in _DROPPED
    }
    env.update(
        {
            "HOME": str(home),
            # os.devnull as the config file makes pip skip every other config file too.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def find_interpreters(min_version: tuple[int, int] = (3, 9)) -> list[Path]:
    """Return one CPython per minor version (at least ``min_version``), oldest first.

    Candidates are pyenv's versions, ``python3.X`` on PATH and this interpreter; each is run to
    learn what it really is (pyenv puts shims on PATH for versions that are not active, and
    they fail), and only those that can make a venv with pip (``ensurepip``) are kept. The paths
    returned are the interpreters' own ``sys.executable``. The search runs once per session.
    """
    return [path for version, path in _interpreters() if version >= min_version]


@functools.cache
def _interpreters() -> tuple[tuple[tuple[int, int], Path], ...]:
    candidates: list[str] = []
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        if root.returncode == 0:
            versions = Path(root.stdout.strip()) / "versions"
            candidates.extend(str(path) for path in sorted(versions.glob("*/bin/python3")))
    for minor in range(30):
        found = shutil.which(f"python3.{minor}")
        if found is not None:
            candidates.append(found)
    candidates.append(sys.executable)  # last: a base interpreter is preferred to this venv's

    by_version: dict[tuple[int, int], Path] = {}
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [candidate, "-c", _PROBE], capture_output=True, text=True, timeout=30, check=False
            )
            facts = json.loads(probe.stdout) if probe.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
            facts = None
        if not facts or facts["impl"] != "CPython" or not facts["ensurepip"]:
            continue
        version = (facts["version"][0], facts["version"][1])
        by_version.setdefault(version, Path(facts["executable"]))
    return tuple(sorted(by_version.items()))


def python_version(python: Path) -> str:
    """Return the full version (``"3.11.7"``) of the interpreter ``python``."""
    return subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def find_python(minor: str) -> Path:
    """Return a CPython ``minor`` (``"3.11"``) found on this machine; fail the test if none is."""
    for python in find_interpreters((0, 0)):
        if ".".join(python_version(python).split(".")[:2]) == minor:
            return python
    pytest.fail(f"no CPython {minor} on this machine (pyenv, or python{minor} on PATH)")


def interpreter_of(venv: Path) -> Path:
    """Return the path of the interpreter inside the virtual environment ``venv``."""
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def make_venv(
    path: Path, python: Path | str = sys.executable, *, env: Mapping[str, str] | None = None
) -> Path:
    """Create a venv with pip at ``path`` using ``python -m venv``; return its interpreter.

    Raises ``subprocess.CalledProcessError`` (with the output) if the venv cannot be made.
    """
    subprocess.run(
        [str(python), "-m", "venv", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(env) if env is not None else None,
        timeout=INSTALL_TIMEOUT,
    )
    return interpreter_of(path)


def find_uv() -> Path:
    """Return the uv binary of the installed ``uv`` package, else the one on PATH.

    Raises FileNotFoundError when there is neither.
    """
    try:
        from uv import find_uv_bin  # noqa: PLC0415  (an optional test dependency)

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise FileNotFoundError("uv is neither installed as a package nor on PATH") from None
        return Path(found)


def uv_venv(path: Path, python: Path | str = sys.executable, *, env: Mapping[str, str]) -> Path:
    """Create a venv (without pip) at ``path`` with ``uv venv``; return its interpreter.

    Raises ``subprocess.CalledProcessError`` (with the output) if uv fails.
    """
    command = [find_uv(), "venv", "--no-config", "--no-project", "--python", python, path]
    subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=True,
        env=dict(env),
        cwd=path.parent,
        timeout=INSTALL_TIMEOUT,
    )
    return interpreter_of(path)


def pip_install(
    venv_python: Path,
    index_url: str,
    *requirements: str,
    env: Mapping[str, str],
    extra_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``pip install`` in the venv of ``venv_python`` from ``index_url`` alone.

    Returns the finished process (output captured as text) whatever its exit code.
    ``--isolated`` drops environment variables and user config, but pip still reads the
    global config file then; ``PIP_CONFIG_FILE=os.devnull`` in ``env`` is what stops that.
    """
    command = [
        str(venv_python),
        *("-m", "pip", "install", "--isolated", "--no-input", "--disable-pip-version-check"),
        *("--no-cache-dir", "--index-url", index_url),
        *extra_args,
        *requirements,
    ]
    return _run(command, env, cwd=venv_python.parent.parent)


def uv_install(
    venv_python: Path,
    index_url: str,
    *requirements: str,
    env: Mapping[str, str],
    extra_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``uv pip install`` into the venv of ``venv_python`` from ``index_url`` alone.

    Returns the finished process (output captured as text) whatever its exit code.
    """
    command = [
        str(find_uv()),
        *("pip", "install", "--no-config", "--no-cache", "--python", str(venv_python)),
        *("--default-index", index_url),
        *extra_args,
        *requirements,
    ]
    return _run(command, env, cwd=venv_python.parent.parent)


def run_command(
    command: Sequence[str | Path], env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` with ``env``; return it finished, output captured as text,
    whatever its exit code (bounded by ``INSTALL_TIMEOUT``)."""
    return _run([str(part) for part in command], env, cwd)


def _run(command: list[str], env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # cwd is the venv, never the repository: uv would otherwise find pyproject.toml files.
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env=dict(env),
        cwd=cwd,
        timeout=INSTALL_TIMEOUT,
    )


def imported_version(python: Path, module: str) -> str:
    """Return ``module.__version__`` as the interpreter ``python`` imports it."""
    result = subprocess.run(
        [str(python), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()
