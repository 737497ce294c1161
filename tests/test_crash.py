"""Crash safety: SIGKILL at any moment, resumed downloads, leftovers swept.

A mirror killed at any point must still serve correctly (no page lists a missing or partial
file); the next run must finish the work without downloading again what was verified, resuming
large partial downloads with HTTP Range.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from cellar.cli import main
from tests.support.mirror import EVERY_VERSION, assert_consistent, listed_files, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex

BIG = 4 * 1024 * 1024


def incompressible(size: int, seed: bytes) -> bytes:
    """Return ``size`` deterministic bytes that zip cannot shrink."""
    blocks = []
    digest = seed
    for _ in range(size // 32 + 1):
        digest = hashlib.sha256(digest).digest()
        blocks.append(digest)
    return b"".join(blocks)[:size]


def test_killed_at_any_moment_the_mirror_stays_servable_and_the_next_run_finishes(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    names = [f"proj{i}" for i in range(12)]
    for i, name in enumerate(names):
        local_index.add(
            build_wheel(name, "1.0", extra_files={"data.bin": incompressible(200_000, bytes([i]))})
        )
    local_index.fault("*.whl", delay=0.5)
    config = write_config(
        tmp_path, local_index.url, names, extra_mirror="workers = 2", extra_packages=EVERY_VERSION
    )
    web = tmp_path / "mirror" / "web"
    state = tmp_path / "mirror" / ".cellar" / "state.sqlite3"
    verified: set[str] = set()

    # Kill runs mid-way until some files, but not all, are verified (bounded: a slow machine
    # needs more rounds; each file takes 0.5 s, two at a time).
    def wheel_requests() -> int:
        return sum(1 for r in local_index.requests if r.path.endswith(".whl"))

    for _ in range(8):
        asked = wheel_requests()
        process = subprocess.Popen(
            [sys.executable, "-m", "cellar", "mirror", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # A sign of progress, not a fixed delay: start-up alone takes seconds on a busy
        # machine. Once downloads have begun, a little more than one file's delay lets some
        # finish before the kill.
        deadline = time.monotonic() + 60
        while wheel_requests() == asked and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.7)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if (web / "simple").exists():
            assert_consistent(web, root_complete=False)
        if state.exists():
            with closing(sqlite3.connect(state)) as db:
                rows = db.execute("SELECT path FROM files WHERE path LIKE '%.whl'")
                verified = {"/" + path for (path,) in rows}
        if len(verified) >= 3:
            break
    assert 0 < len(verified) < 12, "the kills should land mid-run"
    # Files in place: recorded as verified, or placed a moment before the kill (records are
    # written in batches), which the next run hashes rather than downloads.
    in_place = {"/" + str(p.relative_to(web)) for p in web.rglob("*.whl")}
    assert verified <= in_place
    local_index.clear_faults()
    local_index.reset_log()
    assert main(["mirror", "-c", str(config)]) == 0
    assert assert_consistent(web) == 12
    assert not list(web.rglob("*.part"))
    fetched = {r.path for r in local_index.requests if r.path.endswith(".whl")}
    assert not fetched & in_place, "files in place were downloaded again"
    assert len(fetched) == 12 - len(in_place)


def test_a_cut_download_resumes_with_range(tmp_path: Path, local_index: LocalIndex) -> None:
    local_index.add(
        build_wheel("big", "1.0", extra_files={"data.bin": incompressible(BIG, b"big")})
    )
    local_index.fault("*big-1.0-py3-none-any.whl", truncate=True, times=1)
    config = write_config(tmp_path, local_index.url, ["big"], extra_packages=EVERY_VERSION)
    assert main(["mirror", "-c", str(config)]) == 0
    gets = [r for r in local_index.requests if r.path.endswith("big-1.0-py3-none-any.whl")]
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    assert gets[1].headers["Range"].startswith("bytes=")
    assert int(gets[1].headers["Range"][6:].rstrip("-")) > 1024 * 1024
    assert_consistent(tmp_path / "mirror" / "web")


def test_a_partial_download_is_resumed_by_the_next_run(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_index.add(
        build_wheel("big", "1.0", extra_files={"data.bin": incompressible(BIG, b"big")})
    )
    local_index.fault("*big-1.0-py3-none-any.whl", truncate=True)
    config = write_config(tmp_path, local_index.url, ["big"], extra_packages=EVERY_VERSION)
    assert main(["mirror", "-c", str(config)]) == 1
    web = tmp_path / "mirror" / "web"
    (partial,) = web.rglob("*.part")
    kept = partial.stat().st_size
    assert kept > 1024 * 1024
    assert listed_files(web, "big") == {}
    capsys.readouterr()

    local_index.clear_faults()
    local_index.reset_log()
    assert main(["mirror", "-c", str(config)]) == 0
    (get,) = [r for r in local_index.requests if r.path.endswith("big-1.0-py3-none-any.whl")]
    assert get.headers[
        "Range"
    ] == f"bytes={partial.stat().st_size if partial.exists() else ''}-" or get.headers[
        "Range"
    ].startswith("bytes=")
    assert not list(web.rglob("*.part"))
    assert assert_consistent(web) == 1


def test_a_corrupt_partial_download_is_discarded_not_published(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    dist = build_wheel("big", "1.0", extra_files={"data.bin": incompressible(BIG, b"big")})
    local_index.add(dist)
    config = write_config(tmp_path, local_index.url, ["big"], extra_packages=EVERY_VERSION)
    # A partial left by a crash whose bytes went bad on disk: resuming it cannot verify.
    local_index.fault("*big-1.0-py3-none-any.whl", truncate=True)
    assert main(["mirror", "-c", str(config)]) == 1
    web = tmp_path / "mirror" / "web"
    (partial,) = web.rglob("*.part")
    partial.write_bytes(b"\0" * partial.stat().st_size)
    local_index.clear_faults()
    assert main(["mirror", "-c", str(config)]) == 1  # sha256 mismatch: the partial is dropped
    assert not list(web.rglob("*.part"))
    assert listed_files(web, "big") == {}
    assert main(["mirror", "-c", str(config)]) == 0  # and the next run downloads it whole
    assert assert_consistent(web) == 1


def test_leftover_temporary_files_are_swept(tmp_path: Path, local_index: LocalIndex) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    config = write_config(tmp_path, local_index.url, ["alpha"], extra_packages=EVERY_VERSION)
    stray = tmp_path / "mirror" / "web" / "packages" / "ab" / ".alpha-0.9.tar.gz.0123abcd.part"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a file")
    assert main(["mirror", "-c", str(config)]) == 0
    assert not stray.exists()


@contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` (a real full disk; needs root, as CI runs)."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"this test mounts a small tmpfs and needs root: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_fails_clearly_and_keeps_what_was_mirrored(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_index.add(build_wheel("small", "1.0"))
    for i in range(4):
        local_index.add(
            build_wheel(
                f"big{i}", "1.0", extra_files={"data.bin": incompressible(400_000, bytes([i]))}
            )
        )
    # keep-free = 0: no margin, so the disk itself says no (the margin is the next test's).
    no_margin = "keep-free = 0"
    with small_filesystem(tmp_path / "disk", "1200k") as disk:
        config = write_config(
            disk, local_index.url, ["small"], extra_mirror=no_margin, extra_packages=EVERY_VERSION
        )
        assert main(["mirror", "-c", str(config)]) == 0
        web = disk / "mirror" / "web"
        before = (web / "simple" / "small" / "index.v1_json").read_bytes()
        config = write_config(
            disk,
            local_index.url,
            ["small", *(f"big{i}" for i in range(4))],
            extra_mirror=no_margin,
            extra_packages=EVERY_VERSION,
        )
        capsys.readouterr()
        code = main(["mirror", "-c", str(config)])
        captured = capsys.readouterr()
        assert code == 1
        assert "No space left on device" in captured.out + captured.err, captured.out + captured.err
        assert "Traceback" not in captured.err
        assert (web / "simple" / "small" / "index.v1_json").read_bytes() == before
        assert_consistent(web)
        assert not list(web.rglob("*.part"))
        assert len([p for p in (web / "simple").iterdir() if p.is_dir()]) < 5


def test_a_nearly_full_disk_fails_the_files_that_do_not_fit_and_publishes_the_rest(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_index.add(build_wheel("small", "1.0"))
    for i in range(4):
        local_index.add(
            build_wheel(
                f"big{i}", "1.0", extra_files={"data.bin": incompressible(400_000, bytes([i]))}
            )
        )
    projects = ["small", *(f"big{i}" for i in range(4))]
    with small_filesystem(tmp_path / "disk", "1500k") as disk:
        # A fresh mirror: nothing published yet, and not room for everything.
        config = write_config(
            disk,
            local_index.url,
            projects,
            extra_mirror='keep-free = "300k"',
            extra_packages=EVERY_VERSION,
        )
        code = main(["mirror", "-c", str(config)])
        captured = capsys.readouterr()
        assert code == 1
        output = captured.out + captured.err
        assert "keep-free" in output and "not downloaded" in output, output
        assert "database or disk is full" not in output
        assert "Traceback" not in captured.err
        # The run ended with its summary, and published what was complete.
        assert "projects mirrored" in captured.out
        web = disk / "mirror" / "web"
        published = sorted(p.name for p in (web / "simple").iterdir() if p.is_dir())
        assert "small" in published
        assert 2 <= len(published) < 5, published
        assert assert_consistent(web) == len(published)
        assert shutil.disk_usage(disk).free >= 200_000
        # The state database is intact and knows what is there.
        assert main(["status", "-c", str(config)]) == 1
        assert f"projects: {len(published)}" in capsys.readouterr().out
