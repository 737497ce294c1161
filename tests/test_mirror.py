"""`cellar mirror` against a real local upstream: layout, pages, re-runs, and every failure mode.

Each test runs the real command line in-process (``cellar.cli.main``) against the local index
of tests/support/upstream.py, then checks the tree on disk with ``assert_consistent``: no page
may list a file that is not there with the stated size and sha256.
"""

from __future__ import annotations

import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

import pytest

from cellar.cli import main
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    cellar_serve,
    listed_files,
    run_cli,
    write_config,
)
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex


def populate(index: LocalIndex) -> None:
    """Two ordinary projects, a dotted mixed-case one, yanked and requires-python files."""
    index.add(build_wheel("alpha", "1.0"))
    index.add(build_wheel("alpha", "2.0", requires_python=">=3.8"), requires_python=">=3.8")
    index.add(build_sdist("alpha", "2.0"))
    index.add(build_wheel("alpha", "2.1"), yanked="broken build")
    index.add(build_wheel("Foo_Bar.baz", "1.5"))
    index.add(build_wheel("Foo_Bar.baz", "3.0"))
    index.add(build_wheel("beta", "0.1"), metadata=False)


def mirror(
    tmp_path: Path, index: LocalIndex | LocalIndexAt, *requirements: str
) -> tuple[int, Path]:
    config = write_config(tmp_path, index.url, requirements, extra_packages=EVERY_VERSION)
    return main(["mirror", "-c", str(config)]), tmp_path / "mirror" / "web"


def test_mirror_writes_the_bandersnatch_layout(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    code, web = mirror(tmp_path, local_index, "alpha", "Foo_Bar.baz>=1.0,<3", "beta")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 projects mirrored" in out
    assert "no failures" in out
    for page in ("index.html", "index.v1_json", "index.v1_html"):
        assert (web / "simple" / page).is_file()
        for project in ("alpha", "foo-bar-baz", "beta"):
            assert (web / "simple" / project / page).is_file()
    assert assert_consistent(web) == 6

    alpha = listed_files(web, "alpha")
    assert sorted(alpha) == [
        "alpha-1.0-py3-none-any.whl",
        "alpha-2.0-py3-none-any.whl",
        "alpha-2.0.tar.gz",
        "alpha-2.1-py3-none-any.whl",
    ]
    assert alpha["alpha-2.1-py3-none-any.whl"]["yanked"] == "broken build"
    assert alpha["alpha-2.0-py3-none-any.whl"]["requires-python"] == ">=3.8"
    assert alpha["alpha-1.0-py3-none-any.whl"]["core-metadata"]
    assert str(alpha["alpha-1.0-py3-none-any.whl"]["url"]).startswith("../../packages/")
    assert sorted(listed_files(web, "foo-bar-baz")) == ["foo_bar_baz-1.5-py3-none-any.whl"]
    assert "core-metadata" not in listed_files(web, "beta")["beta-0.1-py3-none-any.whl"]
    html = (web / "simple" / "alpha" / "index.html").read_text()
    assert 'data-requires-python="&gt;=3.8"' in html
    assert 'data-yanked="broken build"' in html
    assert '<meta name="pypi:repository-version"' in html
    # State and lock live inside the mirror directory, not in the current directory.
    assert (tmp_path / "mirror" / ".cellar" / "state.sqlite3").is_file()
    assert not Path("state.sqlite3").exists()


def test_second_run_downloads_nothing(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    assert mirror(tmp_path, local_index, "alpha", "beta")[0] == 0
    local_index.reset_log()
    code, web = mirror(tmp_path, local_index, "alpha", "beta")
    assert code == 0
    assert local_index.count(".whl") == 0
    assert local_index.count(".tar.gz") == 0
    assert "0 added" in capsys.readouterr().out
    assert_consistent(web)


def mirror_then_damage_beta(tmp_path: Path, index: LocalIndex) -> Path:
    """Mirror ``beta``, then overwrite its wheel with bytes of the same size; return web/."""
    populate(index)
    code, web = mirror(tmp_path, index, "beta")
    assert code == 0
    path = next((web / "packages").rglob("beta-0.1-py3-none-any.whl"))
    path.write_bytes(b"x" * path.stat().st_size)
    return web


def test_a_damaged_file_is_left_to_verify_and_repaired_there(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    # A re-run trusts the state for an unchanged project, as bandersnatch does: it looks at
    # no file. Finding damage is `cellar verify`'s job, and `--repair` downloads it again.
    web = mirror_then_damage_beta(tmp_path, local_index)
    local_index.reset_log()
    assert mirror(tmp_path, local_index, "beta")[0] == 0
    assert local_index.count("beta-0.1-py3-none-any.whl") == 0
    config = tmp_path / "cellar.toml"
    assert main(["verify", "-c", str(config)]) == 1
    assert main(["verify", "-c", str(config), "--repair"]) == 0
    assert local_index.count("beta-0.1-py3-none-any.whl") == 1
    assert_consistent(web)


def test_a_file_of_a_changed_project_is_checked_again(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    # A project whose page changed has its files looked at again: a damaged one is replaced.
    web = mirror_then_damage_beta(tmp_path, local_index)
    local_index.add(build_wheel("beta", "0.2"), metadata=False)
    local_index.reset_log()
    assert mirror(tmp_path, local_index, "beta")[0] == 0
    assert local_index.count("beta-0.1-py3-none-any.whl") == 1
    assert_consistent(web)


@pytest.mark.parametrize("layout", ["pypi", "flat"])
def test_html_only_upstream_with_relative_urls(
    tmp_path: Path, layout: Literal["pypi", "flat"]
) -> None:
    with LocalIndex(html_only=True, relative_urls=True, file_layout=layout) as index:
        populate(index)
        code, web = mirror(tmp_path, index, "alpha", "foo-bar-baz")
        assert code == 0
        assert index.count("/simple/alpha/") >= 1
    assert assert_consistent(web) == 6
    files = listed_files(web, "alpha")
    assert files["alpha-2.1-py3-none-any.whl"]["yanked"] == "broken build"
    paths = [str(f["url"]) for f in files.values()]
    if layout == "pypi":
        # PyPI-shaped upstream paths are kept as they are.
        assert all(p.startswith("../../packages/") and p.count("/") == 6 for p in paths)


def test_prereleases_are_left_out_unless_asked(tmp_path: Path, local_index: LocalIndex) -> None:
    local_index.add(build_wheel("gamma", "1.0"))
    local_index.add(build_wheel("gamma", "2.0b1"))
    code, web = mirror(tmp_path, local_index, "gamma")
    assert code == 0
    assert sorted(listed_files(web, "gamma")) == ["gamma-1.0-py3-none-any.whl"]
    config = write_config(
        tmp_path, local_index.url, ["gamma"], extra_packages=EVERY_VERSION + "\nprereleases = true"
    )
    assert main(["mirror", "-c", str(config)]) == 0
    assert len(listed_files(web, "gamma")) == 2
    versions = json.loads((web / "simple" / "gamma" / "index.v1_json").read_bytes())["versions"]
    assert versions == ["1.0", "2.0b1"]


def test_retries_through_5xx_and_429(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    local_index.fault("/simple/alpha/", status=503, times=2)
    local_index.fault("*alpha-1.0-py3-none-any.whl", status=429, retry_after="0", times=1)
    local_index.fault("*alpha-2.0.tar.gz", truncate=True, times=1)
    code, web = mirror(tmp_path, local_index, "alpha")
    assert code == 0
    assert local_index.count("/simple/alpha/") == 3
    assert assert_consistent(web) == 4


def test_a_file_that_keeps_failing_is_reported_and_the_rest_is_served(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.fault("*alpha-2.0-py3-none-any.whl", status=500)
    code, web = mirror(tmp_path, local_index, "alpha", "beta")
    captured = capsys.readouterr()
    assert code == 1
    assert "1 failure" in captured.out
    assert "alpha: alpha-2.0-py3-none-any.whl" in captured.out
    assert "500" in captured.out
    assert "after 3 attempts" in captured.out
    assert "alpha-2.0-py3-none-any.whl" not in listed_files(web, "alpha")
    assert len(listed_files(web, "alpha")) == 3
    assert "beta-0.1-py3-none-any.whl" in listed_files(web, "beta")
    assert_consistent(web)


def test_wrong_bytes_are_discarded_with_a_hash_mismatch(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.fault("*beta-0.1-py3-none-any.whl", wrong_bytes=True)
    code, web = mirror(tmp_path, local_index, "beta")
    out = capsys.readouterr().out
    assert code == 1
    assert "sha256 mismatch" in out
    assert "beta-0.1-py3-none-any.whl" in out
    assert list((web / "packages").rglob("*.whl")) == []
    assert list(web.rglob("*.part")) == []
    assert not (web / "simple" / "beta").exists()
    assert_consistent(web)


def test_bad_metadata_file_leaves_the_wheel_listed_without_it(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.fault("*alpha-1.0-py3-none-any.whl.metadata", wrong_bytes=True)
    code, web = mirror(tmp_path, local_index, "alpha")
    assert code == 1
    assert "alpha-1.0-py3-none-any.whl.metadata" in capsys.readouterr().out
    assert "core-metadata" not in listed_files(web, "alpha")["alpha-1.0-py3-none-any.whl"]
    assert_consistent(web)


def test_hostile_file_names_are_refused(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.add_raw_entry("alpha", "../../../evil-1.0.tar.gz", "../../../evil-1.0.tar.gz")
    # Dot segments a URL resolver would remove are harmless; encoded ones survive and are refused.
    local_index.add_raw_entry("alpha", "alpha-9.0.tar.gz", "/files/%2e%2e/%2e%2e/alpha-9.0.tar.gz")
    code, web = mirror(tmp_path, local_index, "alpha")
    out = capsys.readouterr().out
    assert code == 1
    assert "refused '../../../evil-1.0.tar.gz'" in out
    assert "refused 'alpha-9.0.tar.gz'" in out
    assert not list(tmp_path.rglob("evil*"))
    assert len(listed_files(web, "alpha")) == 4
    assert_consistent(web)


def test_malformed_page_keeps_the_previous_mirror(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    assert mirror(tmp_path, local_index, "alpha")[0] == 0
    before = (tmp_path / "mirror/web/simple/alpha/index.v1_json").read_bytes()
    local_index.fault("/simple/alpha/", malformed=True)
    code, web = mirror(tmp_path, local_index, "alpha")
    out = capsys.readouterr().out
    assert code == 1
    assert "malformed index page" in out
    assert f"{local_index.url}alpha/" in out
    assert (web / "simple/alpha/index.v1_json").read_bytes() == before
    assert_consistent(web)


def test_unknown_project_and_unmatched_specifier(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    code, web = mirror(tmp_path, local_index, "alpha", "no-such-project", "beta>5")
    out = capsys.readouterr().out
    assert code == 1
    assert "no-such-project: for cp" in out
    assert "the index has no project named 'no-such-project'" in out
    assert "beta>5 cannot be satisfied: no version matches; the index has version 0.1" in out
    assert "1 project mirrored" in out
    # Each failure names the project it is about, not every requirement resolved beside it.
    failures = [line.strip() for line in out.splitlines() if "cannot be satisfied" in line]
    assert failures and all(line.split(":")[0] in ("no-such-project", "beta") for line in failures)
    assert_consistent(web)
    plan = json.loads(run_cli("plan", "--json", "-c", str(tmp_path / "cellar.toml")).stdout)[
        "failures"
    ]
    messages = [failure["message"] for failure in plan]
    assert len(messages) == len(set(messages))  # each once
    assert {tuple(failure["projects"]) for failure in plan} == {("no-such-project",), ("beta",)}


def test_unreachable_upstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LocalIndex() as index:
        url = index.url  # a port that was just free and is now closed again
    code, _ = mirror(tmp_path, LocalIndexAt(url), "alpha")
    out = capsys.readouterr().out
    assert code == 1
    assert "could not fetch" in out
    assert url in out
    port = url.split(":")[2].split("/")[0]
    assert f"cannot connect to 127.0.0.1:{port}: Connect call failed" in out, out
    assert "ssl:default" not in out  # aiohttp's TLS setting, meaningless for plain http


class LocalIndexAt:
    """Stands for an index at ``url`` that is not running (for the unreachable case)."""

    def __init__(self, url: str) -> None:
        self.url = url


def test_status_reports_the_mirror(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.fault("*alpha-2.0.tar.gz", status=404)
    config = write_config(
        tmp_path, local_index.url, ["alpha", "beta"], extra_packages=EVERY_VERSION
    )
    assert main(["mirror", "-c", str(config)]) == 1
    capsys.readouterr()
    assert main(["status", "-c", str(config)]) == 1
    out = capsys.readouterr().out
    assert "projects: 2" in out
    assert "files:    4" in out
    assert "1 failures" in out
    assert "alpha: alpha-2.0.tar.gz: upstream answered 404" in out


def test_a_slow_upstream_times_out_with_a_clear_message(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.fault("*beta-0.1-py3-none-any.whl", delay=3)
    config = write_config(
        tmp_path,
        local_index.url,
        ["alpha", "beta"],
        extra_mirror="timeout = 0.3",
        extra_packages=EVERY_VERSION,
    )
    code = main(["mirror", "-c", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert "beta: beta-0.1-py3-none-any.whl: could not fetch" in out
    assert "after 3 attempts" in out
    assert "no answer within 0.3 seconds" in out
    assert local_index.count("beta-0.1-py3-none-any.whl") == 3
    web = tmp_path / "mirror" / "web"
    assert len(listed_files(web, "alpha")) == 4
    assert_consistent(web)


def test_unsatisfiable_on_one_target_still_mirrors_the_others(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local_index.add(build_wheel("app", "1.0", requires_dist=["newlib>=2"]))
    local_index.add(build_wheel("newlib", "1.0"))
    local_index.add(
        build_wheel("newlib", "2.0", requires_python=">=3.12"), requires_python=">=3.12"
    )
    config = write_config(tmp_path, local_index.url, ["app"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[targets]\npython = ["3.11", "3.12"]\nplatforms = ["win_amd64"]\n')
    assert main(["plan", "-c", str(config)]) == 1
    plan = capsys.readouterr().out
    assert "cp311-win_amd64: 0 projects" in plan
    assert "cp312-win_amd64: 2 projects, 2 files" in plan
    assert "new against the mirror: 2 files" in plan
    code = main(["mirror", "-c", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "for cp311-win_amd64: newlib>=2 (required by app 1.0 <- app==1.0) cannot be satisfied: "
        "version 2.0 exists but requires Python >=3.12"
    ) in out
    web = tmp_path / "mirror" / "web"
    assert sorted(listed_files(web, "newlib")) == ["newlib-2.0-py3-none-any.whl"]
    assert sorted(listed_files(web, "app")) == ["app-1.0-py3-none-any.whl"]
    assert_consistent(web)


def test_a_rerun_with_nothing_changed_asks_only_conditional_questions(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    assert mirror(tmp_path, local_index, "alpha", "beta", "Foo_Bar.baz")[0] == 0
    assert (
        "3 project pages checked upstream: 3 new or changed, 0 unchanged" in capsys.readouterr().out
    )
    local_index.reset_log()
    code, web = mirror(tmp_path, local_index, "alpha", "beta", "Foo_Bar.baz")
    assert code == 0
    assert (
        "3 project pages checked upstream: 0 new or changed, 3 unchanged" in capsys.readouterr().out
    )
    # Only the three conditional page requests: no file, no metadata, nothing else.
    assert sorted(r.path for r in local_index.requests) == [
        "/simple/alpha/",
        "/simple/beta/",
        "/simple/foo-bar-baz/",
    ]
    assert all("If-None-Match" in r.headers for r in local_index.requests)
    assert_consistent(web)


def test_upstream_changes_appear_after_the_next_run(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    assert mirror(tmp_path, local_index, "alpha")[0] == 0
    local_index.set_yanked("alpha", "alpha-2.1-py3-none-any.whl", False)
    local_index.set_yanked("alpha", "alpha-1.0-py3-none-any.whl", "security hole")
    local_index.add(build_wheel("alpha", "3.0"))
    local_index.set_status("alpha", "deprecated", "use beta")
    code, web = mirror(tmp_path, local_index, "alpha")
    assert code == 0
    assert "1 new or changed" in capsys.readouterr().out
    files = listed_files(web, "alpha")
    assert files["alpha-2.1-py3-none-any.whl"]["yanked"] is False
    assert files["alpha-1.0-py3-none-any.whl"]["yanked"] == "security hole"
    assert "alpha-3.0-py3-none-any.whl" in files
    page = json.loads((web / "simple" / "alpha" / "index.v1_json").read_bytes())
    assert page["project-status"] == {"status": "deprecated", "reason": "use beta"}
    assert_consistent(web)


def test_a_cellar_mirror_is_an_upstream_for_another(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    populate(local_index)
    first = tmp_path / "first"
    first.mkdir()
    config = write_config(
        first, local_index.url, ["alpha", "Foo_Bar.baz"], extra_packages=EVERY_VERSION
    )
    assert main(["mirror", "-c", str(config)]) == 0
    with cellar_serve(config) as base:
        second = tmp_path / "second"
        second.mkdir()
        chained = write_config(
            second, base + "simple/", ["alpha", "foo-bar-baz"], extra_packages=EVERY_VERSION
        )
        assert main(["mirror", "-c", str(chained)]) == 0
    inner = second / "mirror" / "web"
    assert assert_consistent(inner) == 6
    assert (
        listed_files(inner, "alpha").keys()
        == listed_files(first / "mirror" / "web", "alpha").keys()
    )
    assert listed_files(inner, "alpha")["alpha-2.1-py3-none-any.whl"]["yanked"] == "broken build"


def test_a_wrong_length_is_discarded_with_a_size_mismatch(
    tmp_path: Path,
    local_index: LocalIndex,
    capsys: pytest.CaptureFixture[str],
) -> None:
    populate(local_index)
    local_index.misstate_size("beta", "beta-0.1-py3-none-any.whl", 12345)
    code, web = mirror(tmp_path, local_index, "beta", "alpha")
    out = capsys.readouterr().out
    assert code == 1
    assert "beta: beta-0.1-py3-none-any.whl: size mismatch for " in out
    assert "the index says 12345 bytes" in out
    assert listed_files(web, "beta") == {}
    assert len(listed_files(web, "alpha")) == 4
    assert not list(web.rglob("*.part"))
    assert_consistent(web)


def test_a_malformed_html_page_is_reported(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with LocalIndex(html_only=True) as index:
        populate(index)
        index.fault("/simple/alpha/", malformed=True)
        code, web = mirror(tmp_path, index, "alpha", "beta")
        url = index.url
    out = capsys.readouterr().out
    assert code == 1
    assert f"malformed index page {url}alpha/" in out
    assert "beta-0.1-py3-none-any.whl" in listed_files(web, "beta")
    assert_consistent(web)


def test_prune_removes_what_is_no_longer_selected_and_keeps_what_pages_list(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["alpha", "beta"])
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    old_alpha = set(listed_files(web, "alpha"))
    local_index.add(build_wheel("alpha", "9.0"))
    # Without prune, beta stays and alpha's old version stays on disk.
    config = write_config(tmp_path, local_index.url, ["alpha"])
    assert main(["mirror", "-c", str(config)]) == 0
    assert (web / "simple" / "beta").is_dir()
    assert list(web.rglob("alpha-2.0-py3-none-any.whl"))
    # With prune: beta's pages and files go, alpha's superseded file goes, alpha 9.0 stays.
    config = write_config(tmp_path, local_index.url, ["alpha"], extra_mirror="prune = true")
    assert main(["mirror", "-c", str(config)]) == 0
    assert not (web / "simple" / "beta").exists()
    assert not list(web.rglob("beta-*"))
    assert sorted(listed_files(web, "alpha")) == ["alpha-9.0-py3-none-any.whl"]
    assert not any(list(web.rglob(name)) for name in old_alpha)
    assert assert_consistent(web) == 1


def test_prune_waits_for_a_run_without_failures(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    assert (
        main(["mirror", "-c", str(write_config(tmp_path, local_index.url, ["alpha", "beta"]))]) == 0
    )
    local_index.fault("/simple/alpha/", status=500)
    config = write_config(tmp_path, local_index.url, ["alpha"], extra_mirror="prune = true")
    assert main(["mirror", "-c", str(config)]) == 1
    web = tmp_path / "mirror" / "web"
    assert (web / "simple" / "beta").is_dir()
    assert (web / "simple" / "alpha").is_dir()
    assert_consistent(web)


def test_a_plain_static_web_server_over_a_mirror_tree_is_an_upstream(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    """Like a bandersnatch mirror behind a web server: static index.html pages, no negotiation."""
    populate(local_index)
    first = tmp_path / "first"
    first.mkdir()
    config = write_config(first, local_index.url, ["alpha", "beta"], extra_packages=EVERY_VERSION)
    assert main(["mirror", "-c", str(config)]) == 0
    handler = partial(SimpleHTTPRequestHandler, directory=str(first / "mirror" / "web"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        second = tmp_path / "second"
        second.mkdir()
        upstream = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        chained = write_config(second, upstream, ["alpha", "beta"], extra_packages=EVERY_VERSION)
        assert main(["mirror", "-c", str(chained)]) == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    inner = second / "mirror" / "web"
    assert assert_consistent(inner) == 5
    assert listed_files(inner, "alpha")["alpha-2.1-py3-none-any.whl"]["yanked"] == "broken build"
    assert listed_files(inner, "alpha")["alpha-1.0-py3-none-any.whl"]["core-metadata"]


def test_twelve_targets_against_an_upstream_named_by_host_name(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    """The docs' 4 Pythons x 3 platforms against ``localhost`` (a name to look up, unlike
    127.0.0.1): resolver threads must never take the threads the event loop needs for that."""
    populate(local_index)
    local_index.add(build_wheel("gamma", "1.0", requires_dist=["alpha", "Foo_Bar.baz"]))
    upstream = local_index.url.replace("127.0.0.1", "localhost")
    config = write_config(tmp_path, upstream, ["gamma"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write(
            '[targets]\npython = ["3.10", "3.11", "3.12", "3.13"]\n'
            'platforms = ["manylinux_2_28_x86_64", "win_amd64", "macosx_14_0_arm64"]\n'
        )
    result = run_cli("plan", "-c", str(config), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("3 projects") >= 12, result.stdout

    def asked_for_gamma(by_uv: bool) -> int:
        return sum(
            1
            for record in local_index.requests
            if record.path == "/simple/gamma/"
            and record.headers.get("User-Agent", "").startswith("uv/") is by_uv
        )

    assert asked_for_gamma(by_uv=False) == 1  # Cellar: once for all twelve targets
    assert asked_for_gamma(by_uv=True) == 12  # uv's pins: once per target
    # Planned again with nothing changed upstream (``why`` plans in full, where a second
    # ``plan`` says its kept report): uv's answers are reused, uv asks nothing.
    local_index.reset_log()
    again = run_cli("why", "-c", str(config), "alpha", timeout=120)
    assert again.returncode == 0, again.stderr
    assert asked_for_gamma(by_uv=True) == 0
    assert "uv's pins for 1 set reused" in again.stderr


def test_plan_lists_versions_in_version_order_and_counts_in_words(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    for version in ("10.0.0", "1.5.6", "6.0"):
        local_index.add(build_wheel("delta", version))
    config = write_config(tmp_path, local_index.url, ["delta"], extra_packages=EVERY_VERSION)
    result = run_cli("plan", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "  delta 1.5.6, 6.0, 10.0.0" in result.stdout
    assert ": 1 project, 3 files, " in result.stdout
    assert "1 projects" not in result.stdout
    mirrored = run_cli("mirror", "-c", str(config))
    assert "1 project mirrored, 3 files listed" in mirrored.stdout


def test_a_warning_held_on_many_targets_is_said_once(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    local_index.add(build_wheel("delta", "1.0"))
    config = write_config(tmp_path, local_index.url, ["delta[nope]"])
    with config.open("a", encoding="utf-8") as stream:
        stream.write('[targets]\npython = ["3.11", "3.12"]\nplatforms = ["linux", "windows"]\n')
    result = run_cli("plan", "-c", str(config))
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "does not provide the extra" in line]
    assert len(said) == 1, result.stderr
    assert "4 targets (cp311-manylinux_2_28_x86_64, " in said[0]
