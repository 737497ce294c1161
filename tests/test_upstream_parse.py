"""Parsing upstream Simple API pages: literal PEP 691 JSON and PEP 503 HTML bodies."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from cellar.model import HTML_LEGACY, HTML_V1, JSON_V1, DistFile, ProjectPage
from cellar.upstream.errors import MalformedPageError, UnsupportedAPIVersionError
from cellar.upstream.parse import parse_index_page, parse_project_page

PAGE_URL = "http://127.0.0.1:8080/simple/demo/"
SHA = "a" * 64
META_SHA = "b" * 64

JSON_PAGE = {
    "meta": {"api-version": "1.4", "_last-serial": 4242},
    "name": "Demo",
    "versions": ["1.0"],
    "project-status": {"status": "archived", "reason": "moved to demo2"},
    "files": [
        {
            "filename": "demo-1.0-py3-none-any.whl",
            "url": "../../files/demo-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA, "md5": "c" * 32},
            "requires-python": ">=3.8",
            "core-metadata": {"sha256": META_SHA},
            "gpg-sig": False,
            "yanked": "broken build",
            "size": 1234,
            "upload-time": "2024-05-01T12:30:45.123456Z",
            "provenance": "http://127.0.0.1:8080/integrity/demo/1.0/provenance",
        },
        {
            "filename": "demo-1.0.tar.gz",
            "url": "http://127.0.0.1:9090/demo-1.0.tar.gz",
            "hashes": {},
            "core-metadata": True,
            "yanked": "",
            "upload-time": "2024-05-01T14:30:45+02:00",
        },
        {
            "filename": "demo-0.9.tar.gz",
            "url": "/files/demo-0.9.tar.gz",
            "hashes": {"sha256": SHA},
            "dist-info-metadata": {"sha256": META_SHA},
        },
    ],
}

HTML_PAGE = b"""<!DOCTYPE html>
<html><head>
<meta name="pypi:repository-version" content="1.1">
<meta name="pypi:project-status" content="deprecated">
<title>Links for demo</title></head>
<body>
<a href="../../files/demo-1.0.tar.gz#sha256=%s"
   data-requires-python="&gt;=3.8,&lt;4">demo-1.0.tar.gz</a>
<a href="demo-0.9.tar.gz" data-yanked="">demo-0.9.tar.gz</a>
<a href="demo-0.8.tar.gz" data-yanked="security issue">demo-0.8.tar.gz</a>
<a href="demo-1.0-py3-none-any.whl" data-core-metadata="sha256=%s">demo-1.0-py3-none-any.whl</a>
<a href="demo-0.9-py3-none-any.whl" data-dist-info-metadata="true">demo-0.9-py3-none-any.whl</a>
<a href="demo-0.7.tar.gz" data-core-metadata="false">demo-0.7.tar.gz</a>
</body></html>
""" % (SHA.encode(), META_SHA.encode())


def parse_json(data: object, **kwargs: str) -> ProjectPage:
    return parse_project_page(json.dumps(data).encode(), JSON_V1, PAGE_URL, "demo", **kwargs)


def files_by_name(files: tuple[DistFile, ...]) -> dict[str, DistFile]:
    return {dist.filename: dist for dist in files}


def test_json_page_full_file_entry() -> None:
    page = parse_project_page(json.dumps(JSON_PAGE).encode(), JSON_V1, PAGE_URL, "demo")
    assert (page.name, page.api_version, page.last_serial) == ("Demo", "1.4", 4242)
    assert (page.status, page.status_reason) == ("archived", "moved to demo2")
    wheel, sdist, old = page.files
    assert wheel == DistFile(
        filename="demo-1.0-py3-none-any.whl",
        url="http://127.0.0.1:8080/files/demo-1.0-py3-none-any.whl",
        hashes={"sha256": SHA, "md5": "c" * 32},
        requires_python=">=3.8",
        yanked=True,
        yanked_reason="broken build",
        core_metadata={"sha256": META_SHA},
        size=1234,
        upload_time="2024-05-01T12:30:45.123456Z",
        provenance="http://127.0.0.1:8080/integrity/demo/1.0/provenance",
    )
    assert wheel.sha256 == SHA
    # Empty yanked reason means "yanked, no reason"; core-metadata true means "no hashes".
    assert (sdist.yanked, sdist.yanked_reason) == (True, None)
    assert sdist.core_metadata == {}
    assert sdist.upload_time == "2024-05-01T12:30:45Z"
    assert sdist.url == "http://127.0.0.1:9090/demo-1.0.tar.gz"
    # PEP 714: the legacy key still counts when core-metadata is absent.
    assert old.core_metadata == {"sha256": META_SHA}
    assert old.url == "http://127.0.0.1:8080/files/demo-0.9.tar.gz"
    assert (old.yanked, old.size, old.upload_time, old.provenance) == (False, None, None, None)


def test_values_are_read_only() -> None:
    page = parse_project_page(json.dumps(JSON_PAGE).encode(), JSON_V1, PAGE_URL, "demo")
    with pytest.raises(TypeError):
        page.files[0].hashes["sha256"] = "0"  # type: ignore[index]


def test_serial_header_used_only_when_json_has_none() -> None:
    data = {**JSON_PAGE, "meta": {"api-version": "1.0"}}
    assert parse_json(data, serial_header="77").last_serial == 77
    assert parse_json(JSON_PAGE, serial_header="77").last_serial == 4242
    assert parse_json(data, serial_header="junk").last_serial is None
    assert parse_json(data).last_serial is None


def test_json_url_fragment_is_dropped() -> None:
    entry = {"filename": "demo-1.0.tar.gz", "url": f"demo-1.0.tar.gz#sha256={SHA}", "hashes": {}}
    page = parse_json({**JSON_PAGE, "files": [entry]})
    assert page.files[0].url == PAGE_URL + "demo-1.0.tar.gz"


@pytest.mark.parametrize("content_type", [HTML_LEGACY, HTML_V1, "text/html; charset=utf-8", None])
def test_html_page(content_type: str | None) -> None:
    page = parse_project_page(HTML_PAGE, content_type, PAGE_URL, "Demo", serial_header="99")
    assert (page.name, page.api_version, page.last_serial) == ("Demo", "1.1", 99)
    assert (page.status, page.status_reason) == ("deprecated", None)
    files = files_by_name(page.files)
    assert list(files) == [
        "demo-1.0.tar.gz",
        "demo-0.9.tar.gz",
        "demo-0.8.tar.gz",
        "demo-1.0-py3-none-any.whl",
        "demo-0.9-py3-none-any.whl",
        "demo-0.7.tar.gz",
    ]
    sdist = files["demo-1.0.tar.gz"]
    assert sdist.url == "http://127.0.0.1:8080/files/demo-1.0.tar.gz"
    assert sdist.hashes == {"sha256": SHA}
    assert sdist.requires_python == ">=3.8,<4"
    assert (sdist.yanked, sdist.core_metadata, sdist.size, sdist.upload_time) == (
        False,
        None,
        None,
        None,
    )
    yanked = files["demo-0.9.tar.gz"]
    assert (yanked.url, yanked.hashes) == (PAGE_URL + "demo-0.9.tar.gz", {})
    assert (yanked.yanked, yanked.yanked_reason) == (True, None)
    reason = files["demo-0.8.tar.gz"]
    assert (reason.yanked, reason.yanked_reason) == (True, "security issue")
    assert files["demo-1.0-py3-none-any.whl"].core_metadata == {"sha256": META_SHA}
    assert files["demo-0.9-py3-none-any.whl"].core_metadata == {}
    assert files["demo-0.7.tar.gz"].core_metadata is None


def test_html_decoded_with_declared_charset() -> None:
    body = '<a href="d\u00e9mo-1.0.tar.gz">d\u00e9mo-1.0.tar.gz</a>'.encode("latin-1")
    page = parse_project_page(body, "text/html; charset=ISO-8859-1", PAGE_URL, "demo")
    assert page.files[0].filename == "d\u00e9mo-1.0.tar.gz"


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        (JSON_V1, b'{"meta": {"api-version": "1.0"}, "name": ', "invalid JSON"),
        (JSON_V1, b"[1, 2]", "valid dictionary"),
        (JSON_V1, b'{"meta": {"api-version": "1.0"}, "name": "demo"}', "files: Field required"),
        (JSON_V1, b'{"meta": {"api-version": "1.0"}, "name": "demo", "files": [{}]}', "files.0."),
        (JSON_V1, b'{"meta": {"api-version": "x.y"}, "name": "demo", "files": []}', "x.y"),
        ("application/json", b"{}", "unsupported Content-Type 'application/json'"),
        ("text/html; charset=utf-8", b"<a href='\xff'>\xff</a>", "not valid utf-8"),
        ("text/html; charset=klingon", b"<a href='x'>x</a>", "unknown charset 'klingon'"),
    ],
)
def test_malformed_pages(content_type: str, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPageError) as caught:
        parse_project_page(body, content_type, PAGE_URL, "demo")
    assert reason in caught.value.reason
    assert caught.value.url == PAGE_URL
    assert "\n" not in str(caught.value)


def test_api_version_2_is_refused() -> None:
    data = {**JSON_PAGE, "meta": {"api-version": "2.0"}}
    with pytest.raises(UnsupportedAPIVersionError) as caught:
        parse_json(data)
    assert caught.value.version == "2.0"
    html = b'<meta name="pypi:repository-version" content="2.0"><a href="x.tar.gz">x.tar.gz</a>'
    with pytest.raises(UnsupportedAPIVersionError):
        parse_project_page(html, HTML_LEGACY, PAGE_URL, "demo")


def test_newer_minor_api_version_is_logged_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    data = {**JSON_PAGE, "meta": {"api-version": "1.9"}}
    with caplog.at_level(logging.WARNING, logger="cellar.upstream"):
        page = parse_json(data)
    assert page.api_version == "1.9"
    assert len(page.files) == 3
    [record] = caplog.records
    assert record.name == "cellar.upstream"
    assert PAGE_URL in record.getMessage()
    assert "1.9" in record.getMessage()


def test_index_page_json_and_html() -> None:
    data = {"meta": {"api-version": "1.0"}, "projects": [{"name": "Demo"}, {"name": "other_x"}]}
    assert parse_index_page(json.dumps(data).encode(), JSON_V1, PAGE_URL) == ("Demo", "other_x")
    html = b'<html><body><a href="demo/">Demo</a>\n<a href="other-x/">other_x</a></body></html>'
    assert parse_index_page(html, "text/html", PAGE_URL) == ("Demo", "other_x")
    with pytest.raises(MalformedPageError):
        parse_index_page(b'{"projects": 3}', JSON_V1, PAGE_URL)
    with pytest.raises(MalformedPageError):
        parse_index_page(b"", "image/png", PAGE_URL)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/an/absolute/dir", "not a valid name"),
        ("../../x", "not a valid name"),
        ("", "not a valid name"),
        ("de\x00mo", "not a valid name"),
        ("other", "names the project 'other', not 'demo'"),
        ("\u212aemo", "not a valid name"),
    ],
)
def test_a_json_page_must_name_the_project_asked_for(name: str, reason: str) -> None:
    body = json.dumps({"meta": {"api-version": "1.0"}, "name": name, "files": []}).encode()
    with pytest.raises(MalformedPageError, match=re.escape(reason)):
        parse_project_page(body, JSON_V1, PAGE_URL, "demo")


def test_a_valid_spelling_of_the_name_is_kept_for_display() -> None:
    body = b'{"meta": {"api-version": "1.0"}, "name": "DeMo", "files": []}'
    assert parse_project_page(body, JSON_V1, PAGE_URL, "demo").name == "DeMo"


@pytest.mark.parametrize("digest", ["zz", "ab" * 8, "ab" * 33, "g" * 64, " " + "a" * 63], ids=repr)
def test_a_digest_that_is_not_hex_of_its_length_is_refused(digest: str) -> None:
    page = {
        "meta": {"api-version": "1.0"},
        "name": "demo",
        "files": [
            {"filename": "demo-1.0.tar.gz", "url": "demo-1.0.tar.gz", "hashes": {"sha256": digest}}
        ],
    }
    with pytest.raises(MalformedPageError, match="digest"):
        parse_project_page(json.dumps(page).encode(), JSON_V1, PAGE_URL, "demo")
    html = f'<a href="demo-1.0.tar.gz#sha256={digest}">demo-1.0.tar.gz</a>'.encode()
    with pytest.raises(MalformedPageError, match="digest"):
        parse_project_page(html, "text/html", PAGE_URL, "demo")


def test_json_pages_are_read_without_loading_the_html_parser() -> None:
    # pypi-simple (with Beautiful Soup and an HTTP client) is a fifth of a second of start-up:
    # it is loaded for HTML pages only.
    code = (
        "import json, sys\n"
        "from cellar.upstream.parse import parse_index_page, parse_project_page\n"
        f"page = parse_project_page(json.dumps({JSON_PAGE!r}).encode(), {JSON_V1!r}, "
        f"{PAGE_URL!r}, 'demo')\n"
        "assert len(page.files) == 3, page\n"
        'body = b\'{"meta": {"api-version": "1.0"}, "projects": [{"name": "x"}]}\'\n'
        f"assert parse_index_page(body, {JSON_V1!r}, {PAGE_URL!r}) == ('x',)\n"
        "print(sorted(m for m in ('pypi_simple', 'bs4', 'requests') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
