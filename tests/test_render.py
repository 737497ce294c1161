"""Rendered pages: what pip and uv read, checked by parsing them back."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from cellar.model import API_VERSION, DistFile, ProjectListing, PublishedFile
from cellar.sync.render import (
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from cellar.upstream.parse import parse_project_page

SHA = "cd" * 32
META = "ef" * 32


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.meta: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
        if tag == "meta":
            attributes = dict(attrs)
            self.meta[attributes["name"] or ""] = attributes.get("content")


def listing() -> ProjectListing:
    yanked = DistFile(
        "foo_bar-1.0-py3-none-any.whl",
        "http://up/x",
        requires_python=">=3.8,<4",
        yanked=True,
        yanked_reason='broken "build" <oops>',
        core_metadata={"sha256": META},
        upload_time="2024-01-02T03:04:05.000006Z",
    )
    plain = DistFile("foo_bar-2.0+local.tar.gz", "http://up/y", yanked=True)
    return ProjectListing(
        name="Foo_Bar",
        files=(
            PublishedFile(
                yanked,
                "packages/ab/cd/ef/foo_bar-1.0-py3-none-any.whl",
                SHA,
                10,
                META,
            ),
            PublishedFile(plain, "packages/12/34/56/foo_bar-2.0+local.tar.gz", SHA, 20),
        ),
        versions=("1.0", "2.0+local"),
        status="deprecated",
        status_reason="use baz",
    )


def test_html_page_attributes() -> None:
    parser = Anchors()
    parser.feed(render_project_html(listing()).decode())
    assert parser.meta["pypi:repository-version"] == API_VERSION
    assert parser.meta["pypi:project-status"] == "deprecated"
    first, second = parser.anchors
    assert first["href"] == f"../../packages/ab/cd/ef/foo_bar-1.0-py3-none-any.whl#sha256={SHA}"
    assert first["data-requires-python"] == ">=3.8,<4"
    assert first["data-yanked"] == 'broken "build" <oops>'
    assert first["data-core-metadata"] == f"sha256={META}"
    assert first["data-dist-info-metadata"] == f"sha256={META}"
    assert str(second["href"]).startswith("../../packages/12/34/56/foo_bar-2.0%2Blocal.tar.gz#")
    assert second["data-yanked"] == ""  # never bare: an empty reason is still a value
    assert "data-core-metadata" not in second
    assert "data-requires-python" not in second


def test_html_escapes_requires_python_in_the_raw_text() -> None:
    assert b'data-requires-python="&gt;=3.8,&lt;4"' in render_project_html(listing())


def test_json_page_fields() -> None:
    data = json.loads(render_project_json(listing()))
    assert data["meta"] == {"api-version": API_VERSION}
    assert data["name"] == "foo-bar"
    assert data["versions"] == ["1.0", "2.0+local"]
    assert data["project-status"] == {"status": "deprecated", "reason": "use baz"}
    first, second = data["files"]
    assert first["hashes"] == {"sha256": SHA}
    assert first["yanked"] == 'broken "build" <oops>'
    assert first["core-metadata"] == {"sha256": META}
    assert first["size"] == 10
    assert first["upload-time"] == "2024-01-02T03:04:05.000006Z"
    assert second["yanked"] is True
    assert "core-metadata" not in second
    assert "dist-info-metadata" not in first and "dist-info-metadata" not in second
    assert "upload-time" not in second


def test_pages_round_trip_through_the_upstream_parser() -> None:
    """Another Cellar reading this page as its upstream sees what this one holds."""
    url = "http://127.0.0.1:1/simple/foo-bar/"
    for body, content_type in (
        (render_project_json(listing()), "application/vnd.pypi.simple.v1+json"),
        (render_project_html(listing()), "text/html; charset=utf-8"),
    ):
        page = parse_project_page(body, content_type, url, "foo-bar")
        first = page.files[0]
        assert first.url == "http://127.0.0.1:1/packages/ab/cd/ef/foo_bar-1.0-py3-none-any.whl"
        assert first.sha256 == SHA
        assert first.yanked and first.yanked_reason == 'broken "build" <oops>'
        assert first.requires_python == ">=3.8,<4"
        assert first.core_metadata == {"sha256": META}
        assert page.status == "deprecated"


def test_root_pages() -> None:
    names = ["Zope.Interface", "a_b", "Foo"]
    parser = Anchors()
    parser.feed(render_root_html(names).decode())
    assert [a["href"] for a in parser.anchors] == ["a-b/", "foo/", "zope-interface/"]
    data = json.loads(render_root_json(names))
    assert data["projects"] == [{"name": "a_b"}, {"name": "Foo"}, {"name": "Zope.Interface"}]
