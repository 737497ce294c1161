"""PyPI's serials: with every project's serial from the root page, an unchanged page is not asked for.

PyPI's PEP 691 root page gives each project's ``_last-serial``; a project page whose snapshot is
at that serial cannot have changed. The local upstream serves serials the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config.checks import ConfigError
from cellar.config.load import load_config
from cellar.state.snapshots import PageSnapshot, SerialIndex
from cellar.upstream.errors import MalformedPageError, UnsupportedAPIVersionError
from cellar.upstream.root_serials import parse_index_serials
from tests.support.mirror import EVERY_VERSION, assert_consistent, listed_files, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex

JSON = "application/vnd.pypi.simple.v1+json"


def test_serials_are_read_from_a_json_root_page_only() -> None:
    body = (
        b'{"meta": {"api-version": "1.1", "_last-serial": 9}, "projects": ['
        b'{"name": "Foo_Bar", "_last-serial": 7}, {"name": "baz"}, {"name": "q", "_last-serial": true}]}'
    )
    assert parse_index_serials(body, JSON, "http://x/simple/") == {"foo-bar": 7}
    assert parse_index_serials(b"<html></html>", "text/html", "http://x/simple/") == {}
    with pytest.raises(MalformedPageError, match="http://x/simple/"):
        parse_index_serials(b'{"meta": ', JSON, "http://x/simple/")


def test_a_snapshot_is_current_only_at_the_root_pages_serial() -> None:
    index = SerialIndex({"alpha": 5})
    snapshot = PageSnapshot(b"", JSON, "u", serial="5")
    assert index.current("alpha", snapshot)
    assert not index.current("alpha", PageSnapshot(b"", JSON, "u", serial="4"))
    assert not index.current("alpha", PageSnapshot(b"", JSON, "u"))
    assert not index.current("beta", snapshot)
    assert not index.current("alpha", None)


def test_the_setting_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "cellar.toml"
    path.write_text('[mirror]\ndirectory = "m"\nroot-serials = "sometimes"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[mirror\] root-serials: must be one of 'auto'"):
        load_config(path)
    path.write_text('[mirror]\ndirectory = "m"\n', encoding="utf-8")
    assert load_config(path).mirror.root_serials == "auto"


def run(tmp_path: Path, index: LocalIndex, setting: str) -> int:
    config = write_config(
        tmp_path,
        index.url,
        ["alpha", "beta", "gamma"],
        extra_mirror=f'root-serials = "{setting}"',
        extra_packages=EVERY_VERSION,
    )
    return main(["mirror", "-c", str(config)])


def test_a_rerun_asks_only_for_the_root_page_and_what_changed(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("alpha", "beta", "gamma"):
        local_index.add(build_wheel(name, "1.0"))
    assert run(tmp_path, local_index, "always") == 0
    capsys.readouterr()

    local_index.reset_log()
    assert run(tmp_path, local_index, "always") == 0
    assert [r.path for r in local_index.requests] == ["/simple/"]
    assert (
        "3 project pages checked upstream: 0 new or changed, 3 unchanged "
        "(3 known from the root page's serials)"
    ) in capsys.readouterr().out

    local_index.add(build_wheel("beta", "2.0"))
    local_index.set_yanked("gamma", "gamma-1.0-py3-none-any.whl", "bad")
    local_index.reset_log()
    assert run(tmp_path, local_index, "always") == 0
    pages = sorted(r.path for r in local_index.requests if r.path.startswith("/simple/"))
    assert pages == ["/simple/", "/simple/beta/", "/simple/gamma/"]
    assert "2 new or changed, 1 unchanged (1 known from" in capsys.readouterr().out
    web = tmp_path / "mirror" / "web"
    assert "beta-2.0-py3-none-any.whl" in listed_files(web, "beta")
    assert listed_files(web, "gamma")["gamma-1.0-py3-none-any.whl"]["yanked"] == "bad"
    assert_consistent(web)


def test_auto_below_the_threshold_and_never_do_not_read_the_root_page(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    for name in ("alpha", "beta", "gamma"):
        local_index.add(build_wheel(name, "1.0"))
    for setting in ("auto", "never"):
        assert run(tmp_path, local_index, setting) == 0
        local_index.reset_log()
        assert run(tmp_path, local_index, setting) == 0
        assert "/simple/" not in [r.path for r in local_index.requests]
        assert len(local_index.requests) == 3


def test_an_upstream_without_serials_is_asked_page_by_page(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with LocalIndex(html_only=True) as index:
        for name in ("alpha", "beta", "gamma"):
            index.add(build_wheel(name, "1.0"))
        assert run(tmp_path, index, "always") == 0
        index.reset_log()
        assert run(tmp_path, index, "always") == 0
        assert sorted(r.path for r in index.requests) == [
            "/simple/",
            "/simple/alpha/",
            "/simple/beta/",
            "/simple/gamma/",
        ]
    assert "the upstream's root page gives no serials" in caplog.text


@pytest.mark.parametrize(
    ("body", "error", "match"),
    [
        (b'{"meta": {"api-version": "2.0"}, "projects": []}', "version", "version 2.0"),
        (b'{"meta": {}, "projects": []}', "malformed", "api-version"),
        (b'{"meta": {"api-version": "1.1"}, "projects": [{"nom": "x"}]}', "malformed", "projects"),
        (b'{"meta": {"api-version": "1.1"}, "projects": {}}', "malformed", "projects"),
        (b"[1, 2]", "malformed", "api-version"),
        (b"\xff\xfe", "malformed", "http://x/simple/"),
    ],
)
def test_a_root_page_that_is_not_one_is_refused(body: bytes, error: str, match: str) -> None:
    expected = UnsupportedAPIVersionError if error == "version" else MalformedPageError
    with pytest.raises(expected, match=match):
        parse_index_serials(body, JSON, "http://x/simple/")


def test_names_that_are_not_project_names_get_no_serial() -> None:
    body = (
        b'{"meta": {"api-version": "1.1"}, "projects": ['
        b'{"name": "../etc", "_last-serial": 1}, {"name": "ok", "_last-serial": 2}]}'
    )
    assert parse_index_serials(body, JSON, "http://x/simple/") == {"ok": 2}
