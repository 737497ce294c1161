"""The mirror lock names its holder; the state database lives in the mirror and remembers runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cellar.state import Failure, FileRecord, MirrorState, MirrorStateError, state_path
from cellar.tree.lock import LockHeldError, MirrorLock


def test_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    path = tmp_path / ".cellar" / "lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from cellar.tree.lock import MirrorLock
                with MirrorLock(Path({str(path)!r})):
                    print("locked", flush=True)
                    sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeldError) as caught:
            MirrorLock(path).acquire()
        assert f"pid {holder.pid}" in str(caught.value)
        assert str(path) in str(caught.value)
    finally:
        holder.communicate("\n", timeout=10)
    with MirrorLock(path):  # released when the holder ended
        pass


def test_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from pathlib import Path; from cellar.tree.lock import MirrorLock; MirrorLock(Path({str(path)!r})).acquire(); import time; print('x', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    child.stdout.readline()
    child.kill()
    child.wait()
    child.stdout.close()
    with MirrorLock(path):
        assert str(os.getpid()) in path.read_text()


def test_state_lives_in_the_mirror_and_remembers(tmp_path: Path) -> None:
    with MirrorState.open(tmp_path) as state:
        state.record_file(
            FileRecord("packages/a/b/c/x.whl", "x", "00" * 32, 3, 123, "http://u/x.whl")
        )
        state.record_project("x", "X", files=1, size=3)
        run = state.start_run()
        state.finish_run(
            run, projects=1, files_added=1, bytes_added=3, failures=(Failure("y", None, "gone"),)
        )
    assert state_path(tmp_path).is_file()
    with MirrorState.open(tmp_path, create=False) as state:
        record = state.file("packages/a/b/c/x.whl")
        assert record is not None
        assert record.size == 3
        assert state.project_names() == {"x": "X"}
        assert state.totals().files == 1
        last = state.last_run()
        assert last is not None and last.finished_at is not None
        assert last.failures == (Failure("y", None, "gone"),)


def test_one_display_name_is_read_as_the_whole_table_gives_it(tmp_path: Path) -> None:
    with MirrorState.open(tmp_path) as state:
        state.record_project("foo-bar", "Foo_Bar", files=1, size=3)
        state.record_project("baz", "not-baz", files=1, size=3)  # a hostile page's spelling
        state.record_project("../x", "../x", files=1, size=3)  # no project name at all
        names = state.project_names()
        for name in ("foo-bar", "baz", "../x", "absent"):
            assert state.display_name(name) == names.get(name), name
        assert names == {"foo-bar": "Foo_Bar", "baz": "baz"}


def test_missing_state_is_a_clear_error(tmp_path: Path) -> None:
    with (
        pytest.raises(MirrorStateError, match="no mirror has been made here yet"),
        MirrorState.open(tmp_path, create=False),
    ):
        pass


def test_damaged_state_is_a_clear_error(tmp_path: Path) -> None:
    path = state_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MirrorStateError, match=str(path)), MirrorState.open(tmp_path):
        pass
