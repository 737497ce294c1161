"""The pages for people as pure functions: search and releases, sizes and times, escaping."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from cellar.clients import ClientAccess
from cellar.model import DistFile, ProjectListing, PublishedFile, frozen_mapping
from cellar.serve.catalogue import (
    MAX_QUERY,
    MirrorStatus,
    ProjectSearch,
    latest_version,
    releases,
    search_key,
    search_projects,
)
from cellar.serve.human import SHOWN_FAILURES, render_home, render_not_found, render_project
from cellar.serve.humanize import format_age, format_duration, format_size, format_time
from cellar.state import Failure, RunRecord, Totals

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=y>'
SETUP = ClientAccess("http://127.0.0.1:8080/simple/")


class Page(HTMLParser):
    """A page parsed: its start tags with their attributes, and its text."""

    def __init__(self, body: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(body.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def attrs(self, tag: str, name: str) -> list[str | None]:
        return [attrs.get(name) for found, attrs in self.tags if found == tag]


def published(
    filename: str,
    *,
    size: int = 1234,
    yanked: bool = False,
    reason: str | None = None,
    requires_python: str | None = None,
    upload_time: str | None = None,
    metadata: bool = True,
) -> PublishedFile:
    sha256 = hashlib.sha256(filename.encode()).hexdigest()
    entry = DistFile(
        filename=filename,
        url=f"../../packages/ab/{filename}",
        hashes=frozen_mapping({"sha256": sha256}),
        requires_python=requires_python,
        yanked=yanked,
        yanked_reason=reason,
        size=size,
        upload_time=upload_time,
    )
    path = f"packages/ab/{filename}"
    return PublishedFile(entry, path, sha256, size, "f" * 64 if metadata else None)


def test_sizes_for_people() -> None:
    assert format_size(0) == "0 bytes"
    assert format_size(1) == "1 byte"
    assert format_size(999) == "999 bytes"
    assert format_size(1000) == "1.0 kB"
    assert format_size(1_500_000) == "1.5 MB"
    assert format_size(999_999) == "1.0 MB"  # never "1000.0 kB"
    assert format_size(3 * 10**12) == "3.0 TB"
    assert format_size(5 * 10**18) == "5000.0 PB"


def test_times_and_durations_for_people() -> None:
    assert format_time("2024-03-05T14:30:59.123456Z") == "2024-03-05 14:30 UTC"
    assert format_time("2024-03-05T16:30:00+02:00") == "2024-03-05 14:30 UTC"
    assert format_time("2024-03-05T14:30:00") == "2024-03-05 14:30 UTC"  # naive means UTC
    assert format_time("yesterday") == "yesterday"
    assert [format_duration(s) for s in (0, 42, 60, 192, 3600, 7500, 5 * 86400)] == [
        "0 s",
        "42 s",
        "1 min",
        "3 min 12 s",
        "1 h",
        "2 h 5 min",
        "5 days",
    ]
    ago = [NOW - timedelta(seconds=s) for s in (5, 125, 3 * 3600, 3 * 86400, -600)]
    assert [format_age(t.isoformat(), NOW) for t in ago] == [
        "just now",
        "2 min ago",
        "3 h ago",
        "3 days ago",
        "just now",  # a clock a little ahead
    ]
    assert format_age("garbage", NOW) == ""


NAMES = {n: n for n in ("foo", "foo-bar", "foobar", "my-foo", "bar", "zope-interface", "zope-foo")}


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("foo", ["foo", "foo-bar", "foobar", "my-foo", "zope-foo"]),  # exact, prefix, rest
        ("Foo_Bar", ["foo-bar"]),
        ("  FOO.bar ", ["foo-bar"]),
        ("-zope-", ["zope-foo", "zope-interface"]),
        ("zope interface", ["zope-interface"]),
        ("nothing", []),
        ("", sorted(NAMES)),
        ("---", sorted(NAMES)),
    ],
)
def test_search_matches_normalised_names(query: str, found: list[str]) -> None:
    result = search_projects(NAMES, query)
    assert [entry.name for entry in result.entries] == found
    assert (result.matched, result.total) == (len(found), len(NAMES))


def test_search_pages_and_limits() -> None:
    names = {f"p{i:03}": f"P{i:03}" for i in range(250)}
    first = search_projects(names, "", page_size=100)
    assert (first.page, first.pages, len(first.entries)) == (1, 3, 100)
    assert first.entries[0].display == "P000"
    last = search_projects(names, "p", 3, page_size=100)
    assert (last.page, [e.name for e in last.entries][:1], len(last.entries)) == (3, ["p200"], 50)
    assert search_projects(names, "", 99, page_size=100).page == 3
    assert search_projects(names, "", -4, page_size=100).page == 1
    empty = search_projects({}, "x")
    assert (empty.page, empty.pages, empty.matched) == (1, 1, 0)
    assert len(search_projects(names, "p" * 1000).query) == MAX_QUERY
    assert search_key(" A__b..C ") == "a-b-c"


def test_releases_newest_first_and_yanked() -> None:
    listing = ProjectListing(
        "Demo",
        (
            published("demo-2.0.tar.gz"),
            published("demo-10.0-py3-none-any.whl", yanked=True),
            published("demo-2.0-py3-none-any.whl"),
            published("demo-2.0rc1-py3-none-any.whl"),
            published("other-1.0.tar.gz"),
            published("demo-9.0-py3-none-any.whl", yanked=True),
            published("demo-9.0.tar.gz"),
        ),
    )
    found = releases(listing)
    assert [r.version for r in found] == ["10.0", "9.0", "2.0", "2.0rc1", None]
    assert [r.yanked for r in found] == [True, False, False, False, False]
    assert [f.entry.filename for f in found[2].files] == [
        "demo-2.0.tar.gz",
        "demo-2.0-py3-none-any.whl",
    ]
    assert [f.entry.filename for f in found[-1].files] == ["other-1.0.tar.gz"]
    assert latest_version(found) == "9.0"
    assert latest_version(found[3:]) == "2.0rc1"  # only a pre-release left
    assert latest_version(found[:1]) is None  # only yanked


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("http://127.0.0.1:8080/simple/", None),
        ("http://localhost/simple/", None),
        ("http://[::1]:8080/simple/", None),
        ("https://packages.example.test/simple/", None),
        ("http://packages.example.test:8000/simple/", "packages.example.test:8000"),
        ("http://10.1.2.3/simple/", "10.1.2.3"),
    ],
)
def test_pip_is_told_to_trust_only_plain_http_elsewhere(url: str, trusted: str | None) -> None:
    assert ClientAccess(url).trusted_host == trusted


def test_project_page_shows_files_and_escapes_what_upstream_said() -> None:
    listing = ProjectListing(
        "demo",
        (
            published(
                "demo-1.0-py3-none-any.whl",
                size=2_500_000,
                requires_python=">=3.8,<4",
                upload_time="2024-03-05T14:30:00.000000Z",
            ),
            published("demo-1.0.tar.gz", size=999, metadata=False),
            published("demo-2.0-py3-none-any.whl", yanked=True, reason=HOSTILE),
            published("demo-3.0-py3-none-any.whl", yanked=True),
            published("demo-4.0 weird#?.whl"),
        ),
        status="archived",
        status_reason=HOSTILE,
    )
    body = render_project(listing, f"Demo {HOSTILE}", SETUP)
    page = Page(body)
    assert page.names().isdisjoint({"script", "img", "iframe", "object", "link"})
    assert f"Demo {HOSTILE}" in page.text
    assert f"This project is archived: {HOSTILE}" in page.text
    assert f"yanked: {HOSTILE}" in page.text
    assert "2.5 MB" in page.text and "999 bytes" in page.text
    assert ">=3.8, <4" in page.text and "2024-03-05 14:30 UTC" in page.text
    assert "pip install --index-url http://127.0.0.1:8080/simple/ demo" in page.text
    # Newest first; the latest is the newest release not yanked.
    assert [attrs["id"] for tag, attrs in page.tags if tag == "h2" and "id" in attrs] == [
        "v3.0",
        "v2.0",
        "v1.0",
        "other-files",
    ]
    assert "4 files" not in page.text and "3 versions · 5 files · latest 1.0" in page.text
    hrefs = page.attrs("a", "href")
    assert "../../packages/ab/demo-1.0-py3-none-any.whl" in hrefs
    assert "../../packages/ab/demo-1.0-py3-none-any.whl.metadata" in hrefs
    assert "../../packages/ab/demo-1.0.tar.gz.metadata" not in hrefs
    assert "../../packages/ab/demo-4.0%20weird%23%3F.whl" in hrefs
    assert "../../simple/demo/" in hrefs
    assert all(not href or not href.startswith(("http:", "https:", "//")) for href in hrefs)
    yanked_rows = [attrs for tag, attrs in page.tags if tag == "tr" and attrs.get("class")]
    assert len(yanked_rows) == 2


def test_a_project_without_files() -> None:
    page = Page(render_project(ProjectListing("empty", ()), "empty", SETUP))
    assert "This project lists no files." in page.text
    assert "0 versions · 0 files" in page.text


def run_record(*, finished: bool = True, failures: int = 0) -> RunRecord:
    started = NOW - timedelta(hours=3)
    return RunRecord(
        id=7,
        started_at=started.isoformat(),
        finished_at=(started + timedelta(seconds=192)).isoformat() if finished else None,
        projects=12,
        files_added=34,
        bytes_added=5_600_000,
        failures=tuple(
            Failure(f"proj{i}", f"proj{i}-1.0.tar.gz" if i % 2 else None, f"{HOSTILE} {i}")
            for i in range(failures)
        ),
    )


def home(search: ProjectSearch, status: MirrorStatus, setup: ClientAccess = SETUP) -> Page:
    return Page(render_home(search, status, setup, now=NOW))


def test_home_page_holds_setup_projects_and_status() -> None:
    names = {"alpha": "Alpha", "beta": HOSTILE}
    status = MirrorStatus(Totals(2, 40, 12_300_000), run_record(failures=2), free_bytes=10**11)
    page = home(search_projects(names, ""), status)
    text = page.text
    assert page.names().isdisjoint({"script", "img"})
    assert "2projects" in text and "40files" in text and "12.3 MBdisk used" in text
    assert "100.0 GB free" in text and "3 h agolast sync, 2 failures" in text
    assert "pip install --index-url http://127.0.0.1:8080/simple/ <project>" in text
    assert "uv pip install --index-url http://127.0.0.1:8080/simple/ <project>" in text
    assert "index-url = http://127.0.0.1:8080/simple/" in text
    assert 'url = "http://127.0.0.1:8080/simple/"' in text
    assert "trusted-host" not in text
    assert HOSTILE in text and "project/alpha/" in page.attrs("a", "href")
    assert "2025-06-01 09:00 UTC (3 h ago)" in text
    assert "3 min 12 s" in text and "34 (5.6 MB)" in text and "2 failures" in text
    assert f"{HOSTILE} 1" in text and "proj1-1.0.tar.gz" in text
    forms = [attrs for tag, attrs in page.tags if tag == "form"]
    assert forms == [{"action": "./", "method": "get", "role": "search"}]


def test_home_page_search_results_are_counted_paged_and_escaped() -> None:
    names = {f"x-{i:03}": f"x-{i:03}" for i in range(150)}
    query = f'x" {HOSTILE}'
    page = home(search_projects(names, query), MirrorStatus())
    assert f"No project matches “{query}”." in page.text
    assert [v for tag, v in ((t, a.get("value")) for t, a in page.tags) if tag == "input"] == [
        query
    ]
    page = home(search_projects(names, "x-", 2, page_size=100), MirrorStatus())
    assert "150 projects match “x-”, showing 101\u2013150." in page.text
    assert "page 2 of 2" in page.text
    assert "./?q=x-&page=1#projects" in page.attrs("a", "href")
    page = home(search_projects({"a": "a"}, "A"), MirrorStatus())
    assert "1 project matches “A”." in page.text


def test_home_page_before_any_run_and_without_a_record() -> None:
    page = home(search_projects({}, ""), MirrorStatus(Totals(0, 0, 0)))
    assert "No project yet" in page.text and "No sync has run yet" in page.text
    page = home(search_projects({"a": "a"}, ""), MirrorStatus(problem=f"gone {HOSTILE}"))
    assert f"The mirror's record cannot be read: gone {HOSTILE}" in page.text
    assert "1projects" in page.text  # counted from the root page instead


def test_home_page_shows_an_unfinished_run_and_caps_failures() -> None:
    status = MirrorStatus(Totals(1, 1, 1), run_record(finished=False))
    assert "not finished" in home(search_projects({}, ""), status).text
    status = MirrorStatus(Totals(1, 1, 1), run_record(failures=SHOWN_FAILURES + 5))
    page = home(search_projects({}, ""), status)
    assert sum(tag == "li" for tag, _ in page.tags) == SHOWN_FAILURES
    assert "and 5 more" in page.text


def test_trusted_host_for_plain_http_elsewhere() -> None:
    setup = ClientAccess("http://packages.example.test:8000/simple/")
    text = home(search_projects({}, ""), MirrorStatus(), setup).text
    assert (
        "pip install --index-url http://packages.example.test:8000/simple/"
        " --trusted-host packages.example.test:8000 <project>"
    ) in text
    assert "trusted-host = packages.example.test:8000" in text


def test_not_found_page() -> None:
    page = Page(render_not_found(HOSTILE, "../../"))
    assert page.names().isdisjoint({"script", "img"})
    assert f"no project named “{HOSTILE}”" in page.text
    search = next(h for h in page.attrs("a", "href") if h and "?q=" in h)
    assert search.startswith("../../?q=%3Cscript%3E")
    assert page.attrs("input", "value") == [HOSTILE]
