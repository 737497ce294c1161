"""`cellar verify` on a mirror made by `cellar mirror` from the local index, then damaged.

Each test breaks the mirror the way disks, crashes and operators do (a corrupt byte, a missing
file, a truncated page, a leftover temporary file), runs the real command line, and checks the
report, the exit code, what the upstream was asked, and that the tree is consistent after.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.keep.checks import FLUSH_SECONDS
from cellar.model import DistFile, ProjectListing, PublishedFile
from cellar.state import MirrorState
from cellar.sync import pages as pages_module
from cellar.sync.pages import listing_from_json
from cellar.sync.render import render_project_html, render_project_json
from cellar.tree.lock import MirrorLock
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    interruptible_cellar,
    listed_files,
    run_cli,
    write_config,
)
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex

ALPHA_WHEEL = "alpha-1.0-py3-none-any.whl"


@pytest.fixture
def mirrored(tmp_path: Path, local_index: LocalIndex) -> tuple[Path, Path]:
    """A mirror of alpha (wheel with metadata, sdist, yanked wheel) and beta (no metadata)."""
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_sdist("alpha", "1.0"))
    local_index.add(build_wheel("alpha", "2.0"), yanked="broken")
    local_index.add(build_wheel("beta", "0.1"), metadata=False)
    config = write_config(
        tmp_path, local_index.url, ["alpha", "beta"], extra_packages=EVERY_VERSION
    )
    assert main(["mirror", "-c", str(config)]) == 0
    return config, tmp_path / "mirror" / "web"


def verify(config: Path, *options: str) -> int:
    return main(["verify", "-c", str(config), *options])


def local(web: Path, project: str, filename: str) -> Path:
    url = str(listed_files(web, project)[filename]["url"])
    return web / url.removeprefix("../../")


def counts(out: str) -> dict[str, int]:
    """The numbers of the report's count line (intact, missing, corrupt, orphans, damaged)."""
    line = next(line for line in out.splitlines() if line.startswith("intact "))
    return {name: int(value) for name, value in re.findall(r"([a-z][a-z ]*?) (\d+)", line)}


def test_a_sound_mirror_verifies_clean(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _ = mirrored
    capsys.readouterr()
    assert verify(config) == 0
    out = capsys.readouterr().out
    # 4 distributions and the 3 metadata files beside the alpha ones.
    assert "2 projects, 7 files listed; checked 7;" in out
    assert counts(out) == {
        "intact": 7,
        "missing": 0,
        "corrupt": 0,
        "orphans": 0,
        "damaged pages": 0,
    }
    assert out.rstrip().endswith("all good")


def test_each_stage_is_logged_when_not_on_a_terminal(mirrored: tuple[Path, Path]) -> None:
    """A walk of a large tree and its pages' reads take a while: the log says what is going on."""
    config, web = mirrored
    result = run_cli("verify", "-c", str(config), "--fast")
    assert result.returncode == 0, result.stderr
    stages = [
        f"walking {web}",
        "walked 7 files in ",
        "reading the pages of 2 projects",
        "verifying 7 files",
    ]
    found = [line for line in result.stderr.splitlines() if any(s in line for s in stages)]
    assert len(found) == len(stages), result.stderr
    for line, stage in zip(found, stages, strict=True):
        assert stage in line


def test_a_corrupt_file_is_reported_then_downloaded_again(
    mirrored: tuple[Path, Path],
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    path = local(web, "alpha", ALPHA_WHEEL)
    path.write_bytes(b"x" * path.stat().st_size)  # same size, different bytes
    capsys.readouterr()
    assert verify(config) == 1
    out = capsys.readouterr().out
    assert counts(out)["corrupt"] == 1
    assert f"corrupt: alpha: {ALPHA_WHEEL}" in out
    assert "its sha256 is" in out
    assert "1 problem remain" in out

    local_index.reset_log()
    assert verify(config, "--repair") == 0
    out = capsys.readouterr().out
    assert "-> repaired: downloaded again from http://127.0.0.1" in out
    assert local_index.count(ALPHA_WHEEL) == 1
    assert assert_consistent(web) == 4
    assert verify(config) == 0


def test_a_missing_file_and_metadata_are_downloaded_again(
    mirrored: tuple[Path, Path],
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    wheel = local(web, "alpha", ALPHA_WHEEL)
    wheel.unlink()
    sdist = local(web, "alpha", "alpha-1.0.tar.gz")
    Path(f"{sdist}.metadata").unlink()
    capsys.readouterr()
    assert verify(config) == 1
    out = capsys.readouterr().out
    assert counts(out)["missing"] == 2
    assert f"missing: alpha: {ALPHA_WHEEL} (" in out
    assert "missing: alpha: alpha-1.0.tar.gz.metadata" in out

    local_index.reset_log()
    assert verify(config, "--repair") == 0
    assert local_index.count(ALPHA_WHEEL) == 1
    assert local_index.count("alpha-1.0.tar.gz.metadata") == 1
    assert local_index.count("alpha-1.0.tar.gz") == 1  # only the metadata file
    assert assert_consistent(web) == 4


def test_damaged_pages_are_rewritten(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    html = web / "simple" / "alpha" / "index.html"
    original = html.read_bytes()
    html.write_bytes(original[: len(original) // 2])
    page = web / "simple" / "beta" / "index.v1_json"
    beta_page = page.read_bytes()
    page.write_bytes(b'{"meta": {')  # unreadable: rewritten from the state's copy
    (web / "simple" / "index.v1_html").unlink()
    capsys.readouterr()
    assert verify(config) == 1
    out = capsys.readouterr().out
    assert counts(out)["damaged pages"] == 3
    assert "damaged page: alpha: index.html" in out
    assert "damaged page: beta: index.v1_json (simple/beta/index.v1_json): cannot be read" in out
    assert "damaged page: simple/index.v1_html: is missing" in out

    assert verify(config, "--repair") == 0
    assert html.read_bytes() == original
    assert page.read_bytes() == beta_page
    assert assert_consistent(web) == 4


def test_orphans_and_leftover_temporary_files_are_pruned_on_request(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    stray = web / "packages" / "ab" / "cd" / "stray-1.0-py3-none-any.whl"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"nobody lists me")
    wheel = local(web, "alpha", ALPHA_WHEEL)
    part = wheel.parent / f".{wheel.name}.0123456789ab.part"
    part.write_bytes(b"half a download")
    page_part = web / "simple" / "alpha" / ".index.html.a1b2c3d4e5f6.part"
    page_part.write_bytes(b"<html")
    # A project's first publication killed mid-write: a directory with a temporary file only.
    first = web / "simple" / "gamma" / ".index.v1_json.0a1b2c3d4e5f.part"
    first.parent.mkdir()
    first.write_bytes(b"{")
    capsys.readouterr()
    assert verify(config) == 1
    out = capsys.readouterr().out
    assert counts(out)["orphans"] == 4
    assert counts(out)["damaged pages"] == 0
    assert "orphan: packages/ab/cd/stray-1.0-py3-none-any.whl: no page lists it" in out
    assert "a temporary file left by an interrupted run" in out
    assert stray.exists() and part.exists()

    assert verify(config, "--prune-orphans") == 0
    out = capsys.readouterr().out
    assert "-> pruned" in out
    assert not stray.exists() and not part.exists() and not page_part.exists()
    assert not first.parent.exists()
    assert not (web / "packages" / "ab").exists()  # emptied directories go too
    assert wheel.exists()
    assert assert_consistent(web) == 4


def test_orphans_stay_while_a_page_cannot_be_read(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    stray = web / "packages" / "stray-1.0.tar.gz"
    stray.write_bytes(b"nobody lists me")
    (web / "simple" / "beta" / "index.v1_json").write_bytes(b"{")
    with MirrorState.open(web.parent) as state:
        state.forget_project("beta")  # no copy in the state either
    capsys.readouterr()
    assert verify(config, "--prune-orphans", "--repair") == 1
    out = capsys.readouterr().out
    assert "not removed: the pages of beta cannot be read" in out
    assert "no intact copy of the project's JSON page" in out
    assert stray.exists()
    assert local(web, "alpha", ALPHA_WHEEL).exists()


def test_fast_checks_size_and_mtime_only(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    wheel = local(web, "alpha", ALPHA_WHEEL)
    before = wheel.stat()
    data = wheel.read_bytes()
    # Same size, same mtime, different bytes: --fast cannot see it (documented), a full run can.
    wheel.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    os.utime(wheel, ns=(before.st_atime_ns, before.st_mtime_ns))
    capsys.readouterr()
    assert verify(config, "--fast") == 0
    out = capsys.readouterr().out
    assert "0 B hashed" in out
    assert verify(config) == 1
    assert counts(capsys.readouterr().out)["corrupt"] == 1

    # A size change is seen by --fast.
    sdist = local(web, "alpha", "alpha-1.0.tar.gz")
    with sdist.open("ab") as stream:
        stream.write(b"!")
    assert verify(config, "--fast") == 1
    out = capsys.readouterr().out
    assert "corrupt: alpha: alpha-1.0.tar.gz" in out
    assert "the page says" in out


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The projects whose pages verify renders again to compare (a spy: it still renders)."""
    names: list[str] = []
    real = pages_module.render_pages

    def spy(listing: ProjectListing) -> dict[str, bytes]:
        names.append(listing.name)
        return real(listing)

    monkeypatch.setattr(pages_module, "render_pages", spy)
    return names


def test_fast_trusts_pages_that_keep_the_marks_they_were_written_with(
    mirrored: tuple[Path, Path],
    renders: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    assert verify(config, "--fast") == 0
    assert renders == []  # marked when `cellar mirror` wrote them: only the JSON page is read
    assert verify(config) == 0
    assert sorted(renders) == ["alpha", "beta"]  # a full verify renders every page

    # Same size, same mtime, other bytes: the ctime, which no one can set back, gives it away.
    page = web / "simple" / "alpha" / "index.html"
    before = page.stat()
    data = page.read_bytes()
    page.write_bytes(data.replace(b"<html", b"<HTML", 1))
    os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert page.stat().st_size == before.st_size
    renders.clear()
    capsys.readouterr()
    assert verify(config, "--fast") == 1
    assert renders == ["alpha"]
    assert "simple/alpha/index.html" in capsys.readouterr().out
    assert verify(config, "--fast", "--repair") == 0
    renders.clear()
    assert verify(config, "--fast") == 0
    assert renders == []  # the repaired page was marked when it was written


def test_pages_found_intact_are_marked_for_the_next_fast_run(
    mirrored: tuple[Path, Path],
    renders: list[str],
) -> None:
    config, web = mirrored
    with sqlite3.connect(web.parent / ".cellar" / "state.sqlite3") as db:
        db.execute("UPDATE projects SET page_marks = NULL")  # as an older Cellar left them
    assert verify(config, "--fast") == 0
    assert sorted(renders) == ["alpha", "beta"]
    renders.clear()
    assert verify(config, "--fast") == 0
    assert renders == []


def test_fast_trusts_marked_pages_in_the_hash_index_layout(
    tmp_path: Path,
    local_index: LocalIndex,
    renders: list[str],
) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_wheel("a", "0.1"))  # simple/a/ is a letter's directory and a's page's
    config = write_config(
        tmp_path, local_index.url, ["alpha", "a"], extra_mirror="hash-index = true"
    )
    assert main(["mirror", "-c", str(config)]) == 0
    renders.clear()  # what the mirror rendered to publish
    assert verify(config, "--fast") == 0
    assert renders == []
    page = tmp_path / "mirror" / "web" / "simple" / "a" / "a" / "index.v1_html"
    page.write_bytes(page.read_bytes() + b" ")
    assert verify(config, "--fast") == 1
    assert renders == ["a"]


def test_a_full_verify_leaves_access_times_alone(mirrored: tuple[Path, Path]) -> None:
    """Hashing every file must not dirty every inode (their write-back slows what follows)."""
    config, web = mirrored
    wheel, sdist = local(web, "alpha", ALPHA_WHEEL), local(web, "alpha", "alpha-1.0.tar.gz")
    for path in (wheel, sdist):
        mtime = path.stat().st_mtime_ns
        os.utime(path, ns=(mtime - 3600 * 10**9, mtime))  # older than the mtime: relatime's case
    sdist.read_bytes()  # the control: on this file system a plain read updates it
    assert sdist.stat().st_atime_ns >= sdist.stat().st_mtime_ns
    before = wheel.stat().st_atime_ns
    assert verify(config) == 0
    assert wheel.stat().st_atime_ns == before


def test_fast_hashes_files_the_state_has_no_record_of(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    with MirrorState.open(web.parent) as state:
        state.forget_files([str(local(web, "beta", "beta-0.1-py3-none-any.whl").relative_to(web))])
    capsys.readouterr()
    assert verify(config, "--fast") == 0
    out = capsys.readouterr().out
    size = local(web, "beta", "beta-0.1-py3-none-any.whl").stat().st_size
    assert f"{size} B hashed" in out


def test_an_unrepairable_file_is_taken_off_its_page(
    mirrored: tuple[Path, Path],
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    wheel = local(web, "alpha", ALPHA_WHEEL)
    wheel.write_bytes(b"x" * wheel.stat().st_size)
    local_index.fault(f"*/{ALPHA_WHEEL}", status=404)
    capsys.readouterr()
    assert verify(config, "--repair") == 1
    out = capsys.readouterr().out
    assert "WERE REMOVED FROM THEIR PAGES" in out
    assert "-> removed from its page: " in out and "404" in out
    assert ALPHA_WHEEL not in listed_files(web, "alpha")
    assert not wheel.exists()  # the corrupt bytes are never served again
    assert assert_consistent(web) == 3
    # Its metadata file is now listed by no page: an orphan, until pruned.
    assert verify(config, "--prune-orphans") == 0
    assert verify(config) == 0


def test_unrepairable_metadata_is_dropped_from_the_page(
    mirrored: tuple[Path, Path],
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    sdist = local(web, "alpha", "alpha-1.0.tar.gz")
    Path(f"{sdist}.metadata").write_bytes(b"Metadata-Version: 2.1\nName: evil\n\n")
    local_index.fault("*alpha-1.0.tar.gz.metadata", status=404)
    capsys.readouterr()
    assert verify(config, "--repair") == 1
    out = capsys.readouterr().out
    assert "-> metadata removed from its page" in out
    assert "core-metadata" not in listed_files(web, "alpha")["alpha-1.0.tar.gz"]
    assert sdist.exists()
    assert assert_consistent(web) == 4


def test_a_project_missing_from_the_record_is_recorded_again(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    with MirrorState.open(web.parent) as state:
        state.forget_project("beta")
    capsys.readouterr()
    assert verify(config) == 1
    out = capsys.readouterr().out
    assert "not in the mirror's record, so the root page does not list it" in out
    assert verify(config, "--repair") == 0
    assert assert_consistent(web) == 4


def test_the_lock_keeps_verify_away_from_a_running_mirror(mirrored: tuple[Path, Path]) -> None:
    config, web = mirrored
    with MirrorLock(web.parent / ".cellar" / "lock"):
        result = run_cli("verify", "-c", str(config))
    assert result.returncode == 2
    assert f"pid {os.getpid()}" in result.stderr
    assert "another cellar process is working on this mirror" in result.stderr


def test_verify_without_a_mirror_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9/simple/", ["alpha"])
    result = run_cli("verify", "-c", str(config))
    assert result.returncode == 2
    assert "no mirror has been made here yet" in result.stderr
    assert not (tmp_path / "mirror").exists()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_an_interrupted_verify_is_resumed(
    tmp_path: Path, local_index: LocalIndex, stop: signal.Signals
) -> None:
    """Stop a verify mid-run, then check that the next run examines only the rest.

    To stop it mid-run without racing it, its log (one line per file, ``-v``) goes into a pipe
    shrunk to one page that the test stops reading: the process blocks writing the next line
    with part of the mirror verified, and is stopped there, after its record of what it
    verified was due to be committed.
    """
    for number in range(60):
        for version in ("1.0", "2.0", "3.0"):
            local_index.add(build_wheel(f"proj{number}", version))
    names = [f"proj{number}" for number in range(60)]
    config = write_config(tmp_path, local_index.url, names, extra_packages=EVERY_VERSION)
    assert main(["mirror", "-c", str(config), "-q"]) == 0
    total = 60 * 3 * 2  # each wheel and its metadata file

    read_end, write_end = os.pipe()
    fcntl.fcntl(read_end, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe Linux allows
    process = subprocess.Popen(
        interruptible_cellar("verify", "-c", str(config), "-v"),
        stdout=subprocess.DEVNULL,
        stderr=write_end,
    )
    os.close(write_end)
    seen = b""
    while seen.count(b" intact packages/") < 10:
        chunk = os.read(read_end, 512)
        assert chunk, "verify ended before it was interrupted"
        seen += chunk
    # Blocked on its log now. Let its progress fall due, let it write (and commit) a little
    # more, then stop it while it is blocked again.
    time.sleep(FLUSH_SECONDS * 2)
    os.read(read_end, 4096)
    time.sleep(0.5)
    process.send_signal(stop)
    while chunk := os.read(read_end, 65536):  # what it says on the way out
        seen += chunk
    os.close(read_end)
    if stop == signal.SIGKILL:
        assert process.wait(timeout=30) == -signal.SIGKILL
    else:
        assert process.wait(timeout=30) == 130
        assert b"interrupted; what was already verified is kept" in seen

    with MirrorState.open(tmp_path / "mirror") as state:
        unfinished = state.unfinished_verify_run()
        assert unfinished is not None
        done = len(state.verified_files(unfinished.id))
    assert 10 <= done < total

    result = run_cli("verify", "-c", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checked {total - done}, {done} skipped (found intact by the interrupted run" in (
        result.stdout
    )
    # Finished: the next run starts afresh and examines everything.
    result = run_cli("verify", "-c", str(config))
    assert f"checked {total};" in result.stdout


def test_restart_and_a_run_of_the_other_kind_do_not_resume(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    path = local(web, "beta", "beta-0.1-py3-none-any.whl")
    found = path.stat()
    sha = str(listed_files(web, "beta")["beta-0.1-py3-none-any.whl"]["hashes"]["sha256"])  # type: ignore[index]
    verified = [(str(path.relative_to(web)), sha, found.st_size, found.st_mtime_ns)]

    def interrupted_run() -> None:
        """Record a full run that found beta's wheel intact and never finished."""
        with MirrorState.open(web.parent) as state:
            state.record_verified(state.start_verify_run(fast=False), verified)

    interrupted_run()
    capsys.readouterr()
    assert verify(config, "--fast") == 0  # another kind: abandons it
    assert "skipped" not in capsys.readouterr().out
    with MirrorState.open(web.parent) as state:
        assert state.unfinished_verify_run() is None
    interrupted_run()
    assert verify(config, "--restart") == 0
    assert "checked 7;" in capsys.readouterr().out
    interrupted_run()
    assert verify(config) == 0
    assert "checked 6, 1 skipped" in capsys.readouterr().out


def test_listing_round_trips_through_the_json_page() -> None:
    """Every field the render module writes is read back: a field added to DistFile or
    PublishedFile without teaching ``listing_from_json`` fails here, not in production."""
    assert {f.name for f in dataclasses.fields(DistFile)} == {
        "filename",
        "url",
        "hashes",
        "requires_python",
        "yanked",
        "yanked_reason",
        "core_metadata",
        "size",
        "upload_time",
        "provenance",
    }
    assert {f.name for f in dataclasses.fields(PublishedFile)} == {
        "entry",
        "path",
        "sha256",
        "size",
        "metadata_sha256",
    }
    assert {f.name for f in dataclasses.fields(ProjectListing)} == {
        "name",
        "files",
        "versions",
        "status",
        "status_reason",
    }
    entries = [
        DistFile(
            "Foo_Bar-1.0-py3-none-any.whl",
            "https://x/f",
            requires_python=">=3.8",
            yanked=True,
            yanked_reason="bad <build>",
            upload_time="2024-01-01T00:00:00Z",
            provenance="https://x/p",
            size=10,
        ),
        DistFile("foo_bar-2.0.tar.gz", "https://x/g", yanked=True, size=20),
        DistFile("foo_bar-3.0 ünï.tar.gz", "https://x/h", size=30),
    ]
    listing = ProjectListing(
        name="foo-bar",
        files=tuple(
            PublishedFile(
                entry,
                f"packages/aa/bb/{'c' * 60}/{entry.filename}",
                f"{n:064x}",
                entry.size or 0,
                f"{n + 7:064x}" if n else None,
            )
            for n, entry in enumerate(entries)
        ),
        versions=("1.0", "2.0"),
        status="archived",
        status_reason="moved",
    )
    page = render_project_json(listing)
    assert render_project_json(listing_from_json(page)) == page
    assert render_project_html(listing_from_json(page)) == render_project_html(listing)
    data = json.loads(page)
    data["files"][0]["url"] = "../../../etc/passwd"
    with pytest.raises(ValueError, match="not a path under packages/"):
        listing_from_json(json.dumps(data).encode())
