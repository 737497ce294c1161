"""A re-run costs what changed upstream, not what the mirror holds (issue 11).

Counted, not timed: requests with the local index's log, and the mirror's filesystem calls with
an audit hook (``open``, directory listings, renames, removals) plus a count of ``os.stat`` and
``os.lstat`` (which raise no audit event) wrapped around the real functions. Nothing is mocked:
the calls still happen; they are only counted when their path is inside the mirror's tree.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config.load import load_config
from cellar.config.model import RootSerials
from cellar.state import MirrorState, PlanMemo
from cellar.sync.bounded import each_bounded
from cellar.sync.memo import plan_groups, settings_key
from cellar.sync.serial_costs import PROBE_FROM, SerialCosts, use_root_serials
from tests.support.mirror import EVERY_VERSION, assert_consistent, listed_files, write_config
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex

PROJECTS = [f"proj-{i}" for i in range(12)]
_EVENTS = {"open", "os.listdir", "os.scandir", "os.rename", "os.remove", "os.mkdir", "os.rmdir"}


class FileCalls:
    """Filesystem calls on paths below ``root``, by kind and path."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.active = False

    def note(self, kind: str, path: object) -> None:
        if not self.active:
            return
        try:
            text = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return  # a file descriptor
        if text.startswith(self.root):
            self.calls[kind, text[len(self.root) :]] += 1

    def under(self, prefix: str) -> list[tuple[str, str]]:
        return sorted(key for key in self.calls if key[1].startswith(prefix))


@contextmanager
def counting(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FileCalls]:
    calls = FileCalls(root)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event in _EVENTS and args:
            calls.note(event, args[0])

    sys.addaudithook(hook)  # cannot be removed: it does nothing once ``active`` is off
    real_stat, real_lstat = os.stat, os.lstat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        calls.note("stat", path)
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    def lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        calls.note("lstat", path)
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "lstat", lstat)
    calls.active = True
    try:
        yield calls
    finally:
        calls.active = False


def populate(index: LocalIndex) -> None:
    for name in PROJECTS:
        for version in ("1.0", "2.0"):
            index.add(build_wheel(name, version))


def mirror(config: Path) -> int:
    return main(["mirror", "-c", str(config)])


def mirrored_with_serials(tmp_path: Path, index: LocalIndex) -> Path:
    """Mirror PROJECTS reading the root page's serials; return the configuration."""
    populate(index)
    config = write_config(
        tmp_path,
        index.url,
        PROJECTS,
        extra_mirror='root-serials = "always"',
        extra_packages=EVERY_VERSION,
    )
    assert mirror(config) == 0
    return config


def test_a_no_change_rerun_touches_no_file_and_asks_once_per_project(
    tmp_path: Path,
    local_index: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, PROJECTS, extra_packages=EVERY_VERSION)
    assert mirror(config) == 0
    web = tmp_path / "mirror" / "web"
    local_index.reset_log()
    with counting(web, monkeypatch) as calls:
        assert mirror(config) == 0
    # One conditional request per project page (answered 304); no file asked for.
    assert sorted(r.path for r in local_index.requests) == sorted(f"/simple/{p}/" for p in PROJECTS)
    assert all(r.headers["If-None-Match"] for r in local_index.requests)
    # Not one call on a distribution file, a metadata file or a page: not even a stat.
    assert calls.under("/packages") == []
    assert calls.under("/simple") == []
    assert_consistent(web)


def test_with_serials_a_no_change_rerun_is_one_request(
    tmp_path: Path,
    local_index: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = mirrored_with_serials(tmp_path, local_index)
    web = tmp_path / "mirror" / "web"
    local_index.reset_log()
    with counting(web, monkeypatch) as calls:
        assert mirror(config) == 0
    assert [r.path for r in local_index.requests] == ["/simple/"]
    # Only `web/last-modified`, which each run that ends well writes (as bandersnatch does),
    # and a look for hosted projects' records (none here: one listing of `web/hosted`).
    assert {path for _, path in calls.under("/")} <= {"/last-modified", "/hosted"} | {
        path for _, path in calls.under("/.last-modified.")
    }


def test_a_rerun_after_one_change_works_on_that_project_alone(
    tmp_path: Path,
    local_index: LocalIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = mirrored_with_serials(tmp_path, local_index)
    local_index.add(build_wheel("proj-3", "3.0"))
    web = tmp_path / "mirror" / "web"
    local_index.reset_log()
    with counting(web, monkeypatch) as calls:
        assert mirror(config) == 0
    # The root page, the changed project's page, and its new file with its metadata file.
    paths = [r.path for r in local_index.requests]
    assert paths[:2] == ["/simple/", "/simple/proj-3/"]
    assert sorted(p.rsplit("/", 1)[1] for p in paths[2:]) == [
        "proj_3-3.0-py3-none-any.whl",
        "proj_3-3.0-py3-none-any.whl.metadata",
    ]
    # The project's pages (in either layout: `p/proj-3` is where hash-index would put them),
    # and the root page.
    touched_pages = {path.split("/")[2] for _, path in calls.under("/simple/")}
    assert touched_pages <= {"proj-3", "p", "index.html", "index.v1_html", "index.v1_json"}
    assert {path for _, path in calls.under("/simple/p/")} <= {
        f"/simple/p/proj-3{rest}"
        for rest in ("", "/index.html", "/index.v1_html", "/index.v1_json")
    }
    # Under packages/: proj-3's files (their directories on the way), which changed; no other
    # project's.
    directories = {
        "/" + str(entry["url"]).removeprefix("../../").rsplit("/", 1)[0]
        for entry in listed_files(web, "proj-3").values()
    }
    assert "proj_3-3.0-py3-none-any.whl" in listed_files(web, "proj-3")
    for _, path in calls.under("/packages"):
        assert (
            any(d.startswith(path) for d in directories)
            or "/proj_3-" in path
            or ("/.proj_3-" in path)
        ), path
    assert assert_consistent(web) == 2 * len(PROJECTS) + 1


def test_a_closure_whose_pages_did_not_move_is_not_planned_again(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    local_index.add(build_wheel("app", "1.0", requires_dist=["lib>=1"]))
    local_index.add(build_wheel("lib", "1.0", requires_dist=["base"]))
    local_index.add(build_wheel("base", "1.0"))
    config = write_config(tmp_path, local_index.url, ["app"])
    assert mirror(config) == 0
    local_index.reset_log()
    assert mirror(config) == 0
    assert sorted(r.path for r in local_index.requests) == [
        "/simple/app/",
        "/simple/base/",
        "/simple/lib/",
    ]
    assert all(r.headers["If-None-Match"] for r in local_index.requests)
    # A new release of a dependency moves the closure: planned again, and mirrored.
    local_index.add(build_wheel("base", "2.0"))
    assert mirror(config) == 0
    assert "base-2.0-py3-none-any.whl" in listed_files(tmp_path / "mirror" / "web", "base")


def test_a_changed_setting_plans_again(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["proj-1"])
    assert mirror(config) == 0
    web = tmp_path / "mirror" / "web"
    assert set(listed_files(web, "proj-1")) == {"proj_1-2.0-py3-none-any.whl"}
    write_config(tmp_path, local_index.url, ["proj-1"], extra_packages="versions = 2")
    assert mirror(config) == 0
    assert set(listed_files(web, "proj-1")) == {
        "proj_1-1.0-py3-none-any.whl",
        "proj_1-2.0-py3-none-any.whl",
    }


def test_a_deleted_project_is_mirrored_again(tmp_path: Path, local_index: LocalIndex) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["proj-1", "proj-2"])
    assert mirror(config) == 0
    assert main(["delete", "-c", str(config), "proj-2"]) == 0
    web = tmp_path / "mirror" / "web"
    assert listed_files(web, "proj-2") == {}
    assert mirror(config) == 0
    assert set(listed_files(web, "proj-2")) == {"proj_2-2.0-py3-none-any.whl"}
    assert_consistent(web)


def test_json_api_switched_on_writes_the_documents_of_unchanged_projects(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["proj-1"])
    assert mirror(config) == 0
    web = tmp_path / "mirror" / "web"
    assert not (web / "pypi" / "proj-1" / "json").exists()
    write_config(tmp_path, local_index.url, ["proj-1"], extra_mirror="json-api = true")
    assert mirror(config) == 0
    assert (web / "pypi" / "proj-1" / "json").is_file()


def test_a_partial_download_not_resumed_is_removed_by_the_next_run(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    payload = os.urandom(2 << 20)  # incompressible: the cut leaves a partial worth keeping
    local_index.add(build_wheel("big", "1.0", extra_files={"data.bin": payload}))
    config = write_config(tmp_path, local_index.url, ["big"], extra_packages=EVERY_VERSION)
    local_index.fault("*big-1.0-py3-none-any.whl", truncate=True)
    assert mirror(config) == 1
    web = tmp_path / "mirror" / "web"
    (partial,) = web.rglob("*.part")
    with MirrorState.open(tmp_path / "mirror") as state:
        assert state.partials() == [str(partial.relative_to(web))]
    # The file is gone upstream: nothing resumes the partial, and the run that finds so
    # removes it without searching the tree.
    local_index.clear_faults()
    local_index.remove("big", "big-1.0-py3-none-any.whl")
    local_index.add(build_wheel("big", "2.0"))
    assert mirror(config) == 0
    assert not partial.exists()
    with MirrorState.open(tmp_path / "mirror") as state:
        assert state.partials() == []


def test_temporary_files_of_a_run_that_did_not_finish_are_swept(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["proj-1"])
    assert mirror(config) == 0
    web = tmp_path / "mirror" / "web"
    stray = web / "packages" / "ab" / ".x-1.0.tar.gz.0123abcd0123.part"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half")
    # After a run that finished, no leftover can exist, and the tree is not searched...
    assert mirror(config) == 0
    assert stray.exists()
    # ...after one that did not (killed: its run record has no end), it is.
    with MirrorState.open(tmp_path / "mirror") as state:
        state.start_run()
    assert mirror(config) == 0
    assert not stray.exists()


def test_memo_keys_are_the_same_in_every_process(tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    config.write_text(
        '[mirror]\ndirectory = "m"\nupstream = "http://127.0.0.1:9/simple/"\n'
        '[packages]\nrequirements = ["a>=1", "b[x]; python_version>=\'3.8\'"]\n'
        '[targets]\npython = ["3.10", "3.12"]\nplatforms = ["linux_x86_64", "win_amd64"]\n'
        '[filters]\nblock-projects = ["z", "y", "x"]\nexclude-platforms = ["macos"]\n'
    )
    code = (
        "import sys; from pathlib import Path; from cellar.config.load import load_config;"
        "from cellar.sync.memo import plan_groups;"
        "print([g.key for g in plan_groups(load_config(Path(sys.argv[1])))])"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code, str(config)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1
    loaded = load_config(config)
    assert keys == {f"{[g.key for g in plan_groups(loaded)]}\n"}
    assert settings_key(loaded) != settings_key(
        load_config(_with(config, 'exclude-platforms = ["macos"]', "exclude-platforms = []"))
    )


def test_without_dependencies_each_project_is_a_group_of_its_own(tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    config.write_text(
        '[mirror]\ndirectory = "m"\nupstream = "http://127.0.0.1:9/simple/"\n'
        '[packages]\nrequirements = ["a>=1", "B", "a<3"]\ndependencies = false\n'
    )
    groups = plan_groups(load_config(config))
    assert [(g.names, [str(r) for r in g.requirements]) for g in groups] == [
        (("a",), ["a>=1", "a<3"]),
        (("b",), ["B"]),
    ]


def _with(config: Path, old: str, new: str) -> Path:
    changed = config.with_name("changed.toml")
    changed.write_text(config.read_text().replace(old, new))
    return changed


@pytest.mark.parametrize(
    ("setting", "costs", "expected"),
    [
        ("always", SerialCosts(0, None, None), True),
        ("never", SerialCosts(10**6, 1.0, 0.1), False),
        # Nothing kept with a serial: a serial would spare nothing.
        ("auto", SerialCosts(0, 0.5, 0.1), False),
        # What a page costs is not known yet.
        ("auto", SerialCosts(500, None, None), False),
        # The root page never read: read once when the pages would take a second or more.
        ("auto", SerialCosts(100, 0.05, None), PROBE_FROM <= 100 * 0.05 / 10),
        ("auto", SerialCosts(1000, 0.05, None), True),
        # Measured both: the cheaper way.
        ("auto", SerialCosts(1000, 0.05, 4.0), True),
        ("auto", SerialCosts(1000, 0.05, 6.0), False),
    ],
)
def test_root_serials_are_read_when_they_cost_less(
    setting: RootSerials, costs: SerialCosts, expected: bool
) -> None:
    assert use_root_serials(setting, costs, concurrency=10) is expected


def test_auto_reads_the_root_page_once_it_pays(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with LocalIndex() as index:
        names = [f"p{i}" for i in range(30)]
        for name in names:
            index.add(build_wheel(name, "1.0"))
        config = write_config(tmp_path, index.url, names, extra_packages=EVERY_VERSION)
        assert mirror(config) == 0
        with MirrorState.open(tmp_path / "mirror") as state:
            assert state.measure("page-seconds") is not None
            assert state.measure("root-seconds") is None
            # As measured on an upstream far away: each page request takes a second.
            state.record_measure("page-seconds", 1.0)
        index.reset_log()
        assert mirror(config) == 0
        assert [r.path for r in index.requests] == ["/simple/"]
        with MirrorState.open(tmp_path / "mirror") as state:
            root = state.measure("root-seconds")
            assert root is not None
            assert root < 1.0
            # A root page slower than the pages: asked page by page again.
            state.record_measure("root-seconds", 100.0)
        index.reset_log()
        assert mirror(config) == 0
        assert len(index.requests) == len(names)
    load_config(config)  # still a valid configuration


def test_a_state_from_before_these_records_is_brought_up_to_date(
    tmp_path: Path,
    local_index: LocalIndex,
) -> None:
    # The tables as Cellar created them before plan memos: no page digest, no published key.
    directory = tmp_path / "mirror" / ".cellar"
    directory.mkdir(parents=True)
    with sqlite3.connect(directory / "state.sqlite3") as db:
        db.execute(
            "CREATE TABLE projects (name TEXT PRIMARY KEY, display_name TEXT NOT NULL,"
            " synced_at TEXT NOT NULL, files INTEGER NOT NULL, bytes INTEGER NOT NULL, page BLOB)"
        )
        db.execute(
            "CREATE TABLE pages (name TEXT PRIMARY KEY, body BLOB NOT NULL, content_type TEXT,"
            " url TEXT NOT NULL, serial TEXT, etag TEXT, last_modified TEXT)"
        )
        db.execute("INSERT INTO pages VALUES ('proj-1', x'7b7d', NULL, 'u', NULL, NULL, NULL)")
    populate(local_index)
    config = write_config(tmp_path, local_index.url, ["proj-1"])
    assert mirror(config) == 0
    local_index.reset_log()
    assert mirror(config) == 0
    assert [r.path for r in local_index.requests] == ["/simple/proj-1/"]
    with MirrorState.open(tmp_path / "mirror") as state:
        assert set(state.published_keys()) == {"proj-1"}
        assert state.page_digests()["proj-1"][1] is not None


@pytest.mark.parametrize("dependencies", [True, False])
def test_what_failed_fails_again_until_it_is_mended(
    tmp_path: Path, local_index: LocalIndex, dependencies: bool
) -> None:
    # A plan or a file that failed is never kept as done: each run says so again, exit 1,
    # and the run after the upstream mends it mirrors it.
    populate(local_index)
    extra = "" if dependencies else EVERY_VERSION
    config = write_config(tmp_path, local_index.url, ["proj-1", "proj-2"], extra_packages=extra)
    local_index.fault("*proj_2-2.0-py3-none-any.whl", wrong_bytes=True)
    assert mirror(config) == 1
    assert mirror(config) == 1
    web = tmp_path / "mirror" / "web"
    assert "proj_2-2.0-py3-none-any.whl" not in listed_files(web, "proj-2")
    local_index.clear_faults()
    assert mirror(config) == 0
    assert "proj_2-2.0-py3-none-any.whl" in listed_files(web, "proj-2")
    local_index.fault("/simple/proj-1/", status=500)
    assert mirror(config) == 1  # the page cannot be checked: planned again, and it fails
    local_index.clear_faults()
    local_index.reset_log()
    assert mirror(config) == 0
    assert_consistent(web)


def test_plan_memos_read_back_as_written_and_a_damaged_one_is_ignored(tmp_path: Path) -> None:
    memo = PlanMemo(pages={"a": "ab" * 32, "gone": None}, projects={"a": "cd" * 32})
    with MirrorState.open(tmp_path) as state:
        state.record_plan_memos({"k1": memo, "k2": PlanMemo(pages={}, projects={})})
        assert state.plan_memos() == {"k1": memo, "k2": PlanMemo(pages={}, projects={})}
        with sqlite3.connect(state.path) as db:
            db.execute("UPDATE plan_memos SET pages = '{\"a\": \"x\"}' WHERE key = 'k1'")
        # Damaged (or written by another version): no memo, so the group is planned again.
        assert set(state.plan_memos()) == {"k2"}


def test_work_on_many_items_keeps_a_bounded_number_in_flight() -> None:
    seen: list[int] = []
    in_flight = peak = 0

    async def work(item: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        seen.append(item)
        in_flight -= 1

    asyncio.run(each_bounded(range(1000), 7, work))
    assert sorted(seen) == list(range(1000))
    assert peak == 7
