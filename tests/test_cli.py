"""The command line as a user meets it: real processes, exit codes, messages without tracebacks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellar.state import MirrorState
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    interruptible_cellar,
    run_cli,
    write_config,
)
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def test_help_for_each_command() -> None:
    commands = ("mirror", "serve", "plan", "why", "status", "verify", "delete")
    for command in (*commands, "nginx-config", "client-config"):
        result = run_cli(command, "--help")
        assert result.returncode == 0
        assert "--config" in result.stdout
    assert "bandersnatch" in run_cli("config", "convert", "--help").stdout


#: What `cellar --help` and `--version` must not load: each costs a tenth of a second or more
#: (benchmarks/startup.py times the whole start-up).
#: ``cellar.config.location`` (which file to read) is light and loads nothing else; the readers
#: and the model are not.
HEAVY = (
    *("aiohttp", "rich", "pypi_simple", "resolvelib", "sqlite3"),
    *("cellar.config.load", "cellar.config.model", "cellar.config.checks", "cellar.sync"),
)
LOADED = """
import sys
from cellar.cli import main
try:
    main(sys.argv[1:])
finally:
    loaded = [n for n in sys.modules if any(n == h or n.startswith(h + ".") for h in {heavy})]
    print(sorted(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize("arguments", [["--version"], ["--help"], ["mirror", "--help"]])
def test_help_and_version_load_nothing_heavy(arguments: list[str]) -> None:
    script = LOADED.format(heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_bad_configuration_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    config.write_text('[mirror]\ndirectory = "m"\nworkers = "many"\n', encoding="utf-8")
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 2
    assert str(config) in result.stderr
    assert "[mirror] workers: must be a whole number, not 'many'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_missing_default_config_and_environment_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cellar", "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "CELLAR_CONFIG"},
    )
    assert result.returncode == 2
    assert "cellar.toml" in result.stderr
    assert "file not found" in result.stderr
    other = tmp_path / "other.toml"
    other.write_text('[mirror]\ndirectory = "m"\n', encoding="utf-8")
    result = run_cli("status", env={**os.environ, "CELLAR_CONFIG": str(other)})
    assert result.returncode == 2  # as verify and delete: no mirror yet is a set-up problem
    assert "no mirror has been made here yet" in result.stderr
    for command in ("verify", "delete"):
        result = run_cli(
            command,
            *(["x"] if command == "delete" else []),
            env={**os.environ, "CELLAR_CONFIG": str(other)},
        )
        assert result.returncode == 2, command
        assert "no mirror has been made here yet" in result.stderr, command


def test_usage_error_exits_2() -> None:
    assert run_cli("frobnicate").returncode == 2


def test_mirror_as_a_process_logs_plain_lines_and_a_summary(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    config = write_config(tmp_path, local_index.url, ["alpha"], extra_packages=EVERY_VERSION)
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "INFO alpha: added alpha-1.0-py3-none-any.whl" in result.stderr
    assert "1 project mirrored" in result.stdout
    assert "1 added" in result.stdout


def test_a_second_mirror_run_is_refused_while_one_holds_the_lock(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.fault("/simple/alpha/", delay=5, times=1)
    config = write_config(tmp_path, local_index.url, ["alpha"], extra_packages=EVERY_VERSION)
    first = subprocess.Popen(
        [sys.executable, "-m", "cellar", "mirror", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = tmp_path / "mirror" / ".cellar" / "lock"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
            time.sleep(0.05)
        second = run_cli("mirror", "-c", str(config))
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr
        assert "another cellar process is working on this mirror" in second.stderr
    finally:
        assert first.wait(timeout=60) == 0


def test_interrupting_a_mirror_keeps_it_consistent_and_the_next_run_finishes(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    for version in ("1.0", "2.0", "3.0"):
        local_index.add(build_wheel("alpha", version))
    local_index.add(build_wheel("beta", "1.0"))
    # alpha's page is quick; beta's files are slow, so the interrupt lands mid-run.
    local_index.fault("*beta-1.0-py3-none-any.whl", delay=30)
    config = write_config(
        tmp_path, local_index.url, ["alpha", "beta"], extra_packages=EVERY_VERSION
    )
    process = subprocess.Popen(
        interruptible_cellar("mirror", "-c", str(config)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    web = tmp_path / "mirror" / "web"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (web / "simple" / "alpha" / "index.v1_json").exists():
        time.sleep(0.05)
    while time.monotonic() < deadline and local_index.count("beta-1.0-py3-none-any.whl") == 0:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert_consistent(web)
    assert not list(web.rglob("*.part"))
    assert not (web / "simple" / "beta").exists()

    local_index.clear_faults()
    local_index.reset_log()
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert local_index.count("alpha-") == 0  # verified before the interrupt: not fetched again
    assert assert_consistent(web) == 4


def test_serve_refuses_to_start_without_a_mirror(tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    config.write_text('[mirror]\ndirectory = "nothing-here"\n', encoding="utf-8")
    result = run_cli("serve", "-c", str(config), "--port", "0")
    assert result.returncode == 2
    assert str(tmp_path / "nothing-here") in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_selection_says_so(tmp_path: Path, local_index: LocalIndex) -> None:
    config = write_config(tmp_path, local_index.url, [], extra_packages=EVERY_VERSION)
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 0
    assert "selects no projects" in result.stderr
    assert "0 projects mirrored" in result.stdout


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(port: str) -> None:
    result = run_cli("serve", f"--port={port}")
    assert result.returncode == 2
    assert f"argument --port: '{port}' is not a port (0 to 65535)" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_a_run_that_did_not_finish(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/simple/", ["alpha"])
    with MirrorState.open(tmp_path / "mirror") as state:
        state.start_run()  # and never finished: killed, or still running
    result = run_cli("status", "-c", str(config))
    assert "did not finish (interrupted or still running)" in result.stdout
    assert "finished did not" not in result.stdout


def test_an_unusable_mirror_directory_is_a_setup_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("a file, not a directory\n")
    config = tmp_path / "cellar.toml"
    config.write_text(
        f'[mirror]\ndirectory = "{not_a_directory}/mirror"\n'
        '[packages]\nrequirements = ["six"]\ndependencies = false\n'
    )
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 2
    assert f"[mirror] directory {not_a_directory}/mirror cannot be used: Not a directory" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_configuration_error_keeps_one_problem_a_line(tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    config.write_text(
        '[mirror]\ndirectory = "m"\nworkers = 0\n'
        '[targets]\npython = ["3.11", "2.1"]\nplatforms = ["amiga"]\n'
    )
    result = run_cli("plan", "-c", str(config))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].endswith(f"invalid configuration {config}:")
    # Continuation lines are indented: none can pass for a log record of its own.
    assert all(line.startswith("  ") for line in lines[1:]), lines
    assert any("[mirror] workers: must be 1 to 256, not 0" in line for line in lines)
    assert "\\n" not in result.stderr
