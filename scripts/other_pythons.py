"""Run a smoke subset of the tests on every other CPython the package supports that this
machine has (CI runs the full suite on one): each gets a virtual environment of its own in
``.smoke/``, the wheel given, the ``test`` dependency group, and the tests in ``SMOKE``.

    python scripts/other_pythons.py dist/cellar-*.whl

Interpreters are found, not assumed (pyenv's versions, ``python3.X`` on PATH); the one running
this script is skipped (the full suite ran on it). Exits non-zero when a subset fails, or when
none but this interpreter is there to try.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.installers import find_interpreters  # noqa: E402 - after the path

#: Quick tests that touch every layer: the layout and errors, configuration, resolution,
#: rendering, the storage and the state, the upstream client, a mirror made and installed from.
SMOKE = (
    "tests/test_layout.py",
    "tests/test_errors.py",
    "tests/test_config.py",
    "tests/test_resolve.py",
    "tests/test_render.py",
    "tests/test_storage.py",
    "tests/test_config_storage.py",
    "tests/test_s3.py::test_the_tree_is_in_the_bucket_and_nothing_is_left_on_disk",
    "tests/test_state_schema.py",
    "tests/test_policy_rules.py",
    "tests/test_policy_osv.py",
    "tests/test_hosted_rules.py",
    "tests/test_hosted.py::test_each_refusal_has_its_status_and_message",
    "tests/test_upstream_client.py",
    "tests/test_mirror.py::test_mirror_writes_the_bandersnatch_layout",
    "tests/test_mirror.py::test_second_run_downloads_nothing",
)


def supported_minimum() -> tuple[int, int]:
    """Return the lowest Python the package declares (``requires-python = ">=3.X"``)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = declared.removeprefix(">=").split(".")[:2]
    return int(major), int(minor)


def main() -> int:
    wheel = Path(sys.argv[1]).resolve()
    this = (sys.version_info.major, sys.version_info.minor)
    others = []
    for interpreter in find_interpreters(supported_minimum()):
        version = subprocess.run(
            [str(interpreter), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if (int(version[0]), int(version[1])) != this:
            others.append((f"{version[0]}.{version[1]}", interpreter))
    if not others:
        print("no other supported CPython on this machine", file=sys.stderr)
        return 1
    failed = []
    for version, interpreter in others:
        venv = ROOT / ".smoke" / version
        python = venv / "bin" / "python"
        if not python.exists():
            subprocess.run([str(interpreter), "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip"], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--force-reinstall",
                "--no-deps",
                str(wheel),
            ],
            check=True,
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", str(wheel), "--group", "test"],
            check=True,
            cwd=ROOT,
        )
        print(f"CPython {version}: {len(SMOKE)} smoke tests", flush=True)
        pytest = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *SMOKE]
        code = subprocess.run(pytest, cwd=ROOT, check=False).returncode
        if code:
            failed.append(version)
    if failed:
        print(f"the smoke tests failed on CPython {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
