"""``cellar plan`` says its last report again while nothing it rested on changed upstream.

The local index counts what is asked of it: a kept report costs one conditional request per
page the last plan read (or one request with the root page's serials) and no metadata.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cellar.cli import main
from tests.support.mirror import write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def plan(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["plan", "-c", str(config), *extra])
    return code, capsys.readouterr().out


def without_timing(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("planned in ")]


def populate(index: LocalIndex) -> None:
    index.add(build_wheel("app", "1.0", requires_dist=["lib>=1", "win; sys_platform == 'win32'"]))
    index.add(build_wheel("lib", "1.0"), metadata=False)
    index.add(build_wheel("win", "1.0"))


def test_an_unchanged_upstream_gets_the_kept_report(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["app"])
    code, first = plan(config, capsys)
    assert code == 0
    assert "no page the last plan read has changed" not in first
    local_index.reset_log()
    code, second = plan(config, capsys)
    assert code == 0
    assert "(no page the last plan read has changed: its plan holds)" in second
    assert without_timing(second) == without_timing(first)
    # One conditional request per page read, each answered 304; no metadata, no files.
    pages = [r for r in local_index.requests if r.path.startswith("/simple/")]
    assert len(pages) == len(local_index.requests) == 2  # app and lib: win is not for Linux
    assert all(r.headers["If-None-Match"] for r in pages)
    code, again = plan(config, capsys, "--json")
    data = json.loads(again)
    assert data["kept"] is True
    assert data["projects"]["lib"]["versions"] == ["1.0"]
    assert [f["filename"] for f in data["projects"]["app"]["files"]] == ["app-1.0-py3-none-any.whl"]


def new_release(tmp_path: Path, index: LocalIndex) -> tuple[Path, str]:
    index.add(build_wheel("lib", "2.0"))
    return write_config(tmp_path, index.url, ["app"]), "  lib 2.0"


def another_selection(tmp_path: Path, index: LocalIndex) -> tuple[Path, str]:
    return write_config(tmp_path, index.url, ["app", "win"]), "  win 1.0"


@pytest.mark.parametrize("change", [new_release, another_selection])
def test_a_change_is_planned_again(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[Path, LocalIndex], tuple[Path, str]],
) -> None:
    populate(local_index)
    plan(write_config(tmp_path, local_index.url, ["app"]), capsys)
    config, expected = change(tmp_path, local_index)
    code, out = plan(config, capsys)
    assert code == 0
    assert "its plan holds" not in out
    assert expected in out


def test_a_failed_plan_is_made_again_and_says_its_failures(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["app", "lib>=5"])
    for _ in range(2):
        code, out = plan(config, capsys)
        assert code == 1
        assert "its plan holds" not in out
        assert "could not be planned" in out


def test_warnings_are_said_again_with_the_kept_report(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["app[nope]"])
    for said in range(2):
        code = main(["plan", "-c", str(config)])
        captured = capsys.readouterr()
        assert code == 0
        assert ("its plan holds" in captured.out) is (said == 1)
        assert "does not provide the extra 'nope'" in captured.err


def test_a_damaged_kept_report_is_planned_again(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["app"])
    plan(config, capsys)
    with sqlite3.connect(tmp_path / "mirror/.cellar/state.sqlite3") as db:
        assert db.execute("UPDATE plan_reports SET report = 'not json'").rowcount == 1
    code, out = plan(config, capsys)
    assert code == 0
    assert "its plan holds" not in out
    assert "  lib 1.0" in out
    code, out = plan(config, capsys)
    assert "its plan holds" in out  # written again
