"""The pages for people, served by a real `cellar serve` and looked at in a real headless Chromium.

A mirror is made from the local upstream (one file of it unreachable, so the last sync has a
failure to show), then Debian's Chromium, driven by Playwright, loads the home page, searches,
opens project pages and follows a file link. Screenshots are kept as test artefacts in
``$CELLAR_ARTIFACTS/pages_for_people/`` (default ``<repository>/.artifacts/``). Chromium is
required: without it the browser test fails, it is never skipped (``scripts/test.sh`` installs it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from cellar.cli import main
from cellar.state import MirrorState, MirrorStateError, state_path
from tests.support.accept import PIP
from tests.support.mirror import EVERY_VERSION, cellar_serve, write_config
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex

REPOSITORY = Path(__file__).resolve().parents[1]
#: Chromium's own switches for a quiet, self-contained headless run: no sandbox (CI runs as
#: root), no GPU, and nothing that would reach the network in the background.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE_REASON = '<script>alert("x")</script> broken & <b>bad</b>'
UPLOADED = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
#: Long enough to wrap in its column, and without spaces as PyPI often has it: it must wrap
#: between clauses, never inside one.
REQUIRES_PYTHON = ">=3.8,!=3.9.*,!=3.10.0,!=3.10.1,<4"
CLAUSES = REQUIRES_PYTHON.split(",")


@pytest.fixture(scope="module")
def mirror_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror of a small upstream with a yanked file, a failure, and a name to normalise."""
    root = tmp_path_factory.mktemp("people")
    with LocalIndex() as index:
        index.add(build_wheel("alpha", "1.0"), upload_time=UPLOADED)
        index.add(
            build_wheel("alpha", "2.0", requires_python=REQUIRES_PYTHON), upload_time=UPLOADED
        )
        index.add(build_sdist("alpha", "2.0"))
        index.add(build_wheel("alpha", "10.0"), yanked=HOSTILE_REASON)
        index.add(build_wheel("Foo_Bar.baz", "1.5"))
        index.add(build_wheel("zope.thing", "4.0"))
        index.add(build_wheel("zope.thing", "5.0"))
        index.fault("zope_thing-5.0-py3-none-any.whl", status=404)
        config = write_config(
            root,
            index.url,
            ["alpha", "Foo_Bar.baz", "zope.thing"],
            extra_packages=EVERY_VERSION,
        )
        assert main(["mirror", "-c", str(config)]) == 1  # the 404 is a failure
    return config


@pytest.fixture(scope="module")
def base(mirror_config: Path) -> Iterator[str]:
    with cellar_serve(mirror_config) as url:
        yield url


def get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    """GET ``url`` without following redirects; return status, headers and text."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback URLs
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    directory = Path(os.environ.get("CELLAR_ARTIFACTS") or REPOSITORY / ".artifacts")
    directory = directory / "pages_for_people"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "Chromium is not installed: the pages for people are tested in Debian's Chromium "
            "(`apt-get install chromium`, as scripts/test.sh does); Playwright's own browsers are "
            "never downloaded"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_person_browses_searches_and_opens_projects(
    base: str,
    browser: Browser,
    artifacts: Path,
) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, java_script_enabled=False
    )
    page = context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(base) else outside.append(request.url),
    )

    # The home page: what the mirror holds, how to use it, the projects, the last sync.
    response = page.goto(base)
    assert response is not None and response.status == 200
    assert page.title() == "Cellar package mirror"
    cards = page.locator(".cards").inner_text()
    assert "3\nprojects" in cards
    assert "files" in cards and "disk used" in cards
    setup = page.locator(".setup").inner_text()
    assert f"pip install --index-url {base}simple/ <project>" in setup
    assert f"uv pip install --index-url {base}simple/ <project>" in setup
    assert f"index-url = {base}simple/" in setup
    assert f'url = "{base}simple/"' in setup
    # The names as the mirror records them (the upstream's JSON pages give normalised names).
    assert page.locator(".projects a").all_inner_texts() == ["alpha", "foo-bar-baz", "zope-thing"]
    status = page.locator("#status + table").inner_text()
    assert "1 failure" in status and "Duration" in status
    assert "zope_thing-5.0-py3-none-any.whl" in page.locator("main").inner_text()
    page.screenshot(path=artifacts / "home.png", full_page=True)

    # The search box: a plain GET form, answered by the server.
    page.fill("input[name=q]", "foo bar")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/?q=foo+bar")
    assert page.locator(".summary").inner_text() == "1 project matches “foo bar”."
    assert page.locator(".projects a").all_inner_texts() == ["foo-bar-baz"]
    assert page.input_value("input[name=q]") == "foo bar"
    page.screenshot(path=artifacts / "search.png", full_page=True)

    # A project's page, reached from the results.
    page.click(".projects a")
    page.wait_for_url(f"{base}project/foo-bar-baz/")
    assert page.locator("h1").inner_text() == "foo-bar-baz"
    assert "foo_bar_baz-1.5-py3-none-any.whl" in page.locator("table").inner_text()
    assert (
        f"pip install --index-url {base}simple/ foo-bar-baz" in page.locator(".setup").inner_text()
    )

    # Another spelling of a name is redirected; versions newest first, yanked with its reason.
    page.goto(f"{base}project/ALPHA")
    assert page.url == f"{base}project/alpha/"
    assert page.locator("main h2[id^=v]").all_inner_texts() == ["10.0 yanked", "2.0", "1.0"]
    text = page.locator("main").inner_text()
    assert "4 files" in text and "latest 2.0" in text
    assert f"yanked: {HOSTILE_REASON}" in text  # shown as text, not run or rendered
    assert page.locator("main script, main b:text('bad')").count() == 0
    two = page.locator("#v2\\.0 + table").inner_text()
    assert ", ".join(CLAUSES) in two and "alpha-2.0.tar.gz" in two
    assert UPLOADED.strftime("%Y-%m-%d %H:%M UTC") in page.locator("#v1\\.0 + table").inner_text()
    wheel = build_wheel("alpha", "1.0")
    assert f"sha256: {wheel.sha256}" in text
    page.screenshot(path=artifacts / "project.png", full_page=True)

    # Requires-Python wraps between its clauses, never inside one, even in a narrow window.
    page.set_viewport_size({"width": 700, "height": 800})
    clauses = page.locator("#v2\\.0 + table .clause")
    assert clauses.all_inner_texts() == CLAUSES
    boxes = [box for box in (clauses.nth(i).bounding_box() for i in range(clauses.count())) if box]
    line = min(box["height"] for box in boxes)
    assert len({round(box["y"]) for box in boxes}) > 1  # the clauses do wrap here ...
    assert all(box["height"] < 1.5 * line for box in boxes)  # ... each on one line
    page.set_viewport_size({"width": 1280, "height": 800})

    # The file links are the mirror's files.
    href = page.get_attribute("a:text-is('alpha-1.0-py3-none-any.whl')", "href")
    assert href is not None
    download = page.request.get(href if href.startswith("http") else page.url + href)
    assert hashlib.sha256(download.body()).hexdigest() == wheel.sha256
    simple = page.get_attribute("a:text-is('Simple API page')", "href")
    assert simple is not None
    assert page.request.get(page.url + simple).status == 200

    # An unknown project: a page for people, with a way on.
    response = page.goto(f"{base}project/no-such-thing/")
    assert response is not None and response.status == 404
    assert "no project named “no-such-thing”" in page.locator("main").inner_text()
    page.screenshot(path=artifacts / "not-found.png", full_page=True)
    page.click("text=Search for")
    assert page.locator(".summary").inner_text().startswith("No project matches")

    assert outside == []
    context.close()


def test_clients_of_the_simple_api_are_unaffected(base: str) -> None:
    status, headers, _ = get(base, Accept=PIP)
    assert (status, headers["Location"]) == (302, "simple/")
    status, headers, body = get(f"{base}simple/", Accept=PIP)
    assert (status, headers["Content-Type"]) == (200, "application/vnd.pypi.simple.v1+json")
    assert '"name":"alpha"' in body
    status, headers, body = get(f"{base}simple/alpha/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>Links for alpha</h1>" in body


def test_pages_headers_escaping_and_redirects(base: str) -> None:
    status, headers, body = get(base)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Vary"] == "Accept"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "<script" not in body and "http" not in body.split("<main>")[0].replace(base, "")
    status, _, body = get(f"{base}?q=%3Cscript%3E&page=zz")
    assert status == 200 and "&lt;script&gt;" in body and "<script>" not in body
    status, headers, _ = get(f"{base}project/Foo_Bar.Baz/")
    assert (status, headers["Location"]) == (301, "../foo-bar-baz/")
    assert get(f"{base}project/alpha")[1]["Location"] == "alpha/"
    assert get(f"{base}project/-bad-/")[0] == 404
    status, _, body = get(f"{base}project/%3Cb%3E/")
    assert status == 404 and "&lt;b&gt;" in body
    # The Host header is shown back only when it is a host name or address (and a port).
    _, _, body = get(base, Host="mirror.example.test:8123")
    assert "pip install --index-url http://mirror.example.test:8123/simple/" in body
    _, _, body = get(base, Host='x"><b>bold</b>')
    assert "<b>bold" not in body and f"--index-url {base}simple/" in body


def test_the_configured_url_is_the_one_shown(mirror_config: Path, tmp_path: Path) -> None:
    config = tmp_path / "cellar.toml"
    text = mirror_config.read_text().replace('"mirror"', f'"{mirror_config.parent / "mirror"}"')
    config.write_text(text + '[serve]\nurl = "http://packages.example.test:8000"\n')
    with cellar_serve(config) as url:
        _, _, body = get(url)
        _, _, project = get(f"{url}project/alpha/")
    line = "pip install --index-url http://packages.example.test:8000/simple/"
    assert f"{line} --trusted-host packages.example.test:8000 &lt;project&gt;" in body
    assert "trusted-host = packages.example.test:8000" in body
    assert f"{line} --trusted-host packages.example.test:8000 alpha" in project


def test_the_state_is_read_without_waiting_for_a_running_mirror(
    mirror_config: Path,
    base: str,
) -> None:
    directory = mirror_config.parent / "mirror"
    # A mirror in the middle of a write transaction, as `cellar mirror` is while it records.
    writer = sqlite3.connect(state_path(directory), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO projects (name, display_name, synced_at, files, bytes) VALUES ('held-back', 'held-back', 'now', 0, 0)"
        )
        status, _, body = get(base)
        assert status == 200 and "alpha" in body and "held-back" not in body
        with MirrorState.open_read_only(directory) as state:
            assert "held-back" not in state.project_names()
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                state.record_project("other", "other", 0, 0)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    elsewhere = mirror_config.parent / "elsewhere"
    with (
        pytest.raises(MirrorStateError, match="no mirror has been made here"),
        MirrorState.open_read_only(elsewhere),
    ):
        pass
