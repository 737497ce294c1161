"""PyPI's JSON API (``/pypi/<name>/json``, ``/pypi/<name>/<version>/json``) over the mirror: the
pure document building with literal listings, then a real mirror served by a real server."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from cellar.model import DistFile, ProjectListing, PublishedFile, frozen_mapping
from cellar.serve.pypi_json import (
    current_version,
    find_version,
    info_from_metadata,
    metadata_source,
    project_document,
)
from tests.support.mirror import run_cli
from tests.support.packages import build_sdist, build_wheel, core_metadata
from tests.support.service import ServeProcess, fetch, serve_config, serve_process
from tests.support.upstream import LocalIndex

RICH_METADATA = b"""\
Metadata-Version: 2.4
Name: Alpha
Version: 2.0
Summary: The second alpha
Home-page: https://alpha.example.org/
Download-URL: https://alpha.example.org/download
Author: A. Author
Author-email: a@example.org
Maintainer: M. Aintainer
Maintainer-email: m@example.org
License-Expression: MIT
License-File: LICENSE
Keywords: one,two
Platform: any
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Requires-Python: >=3.8
Requires-Dist: idna>=2
Requires-Dist: colorama; extra == "color"
Provides-Extra: color
Project-URL: Source, https://src.example.org/alpha
Project-URL: Issues, https://src.example.org/alpha/issues
Description-Content-Type: text/markdown

# Alpha

A long description.
"""


def published(filename: str, *, metadata: bool = True, yanked: str | None = None) -> PublishedFile:
    sha = hashlib.sha256(filename.encode()).hexdigest()
    entry = DistFile(
        filename=filename,
        url=f"https://files.example.org/{filename}",
        hashes=frozen_mapping({"sha256": sha}),
        requires_python=">=3.8",
        yanked=yanked is not None,
        yanked_reason=yanked,
        size=len(filename),
        upload_time="2024-01-02T03:04:05.000006Z",
    )
    path = f"packages/ab/cd/{filename}"
    return PublishedFile(entry, path, sha, len(filename), "0" * 64 if metadata else None)


LISTING = ProjectListing(
    name="alpha",
    files=(
        published("alpha-1.0.tar.gz"),
        published("alpha-1.0-py3-none-any.whl"),
        published("alpha-2.0.tar.gz", metadata=False),
        published("alpha-2.1-py3-none-any.whl", yanked="broken"),
        published("alpha-3.0b1-py3-none-any.whl"),
    ),
    versions=("1.0", "2.0", "2.1", "3.0b1"),
)


def test_the_current_release_is_the_newest_final_one_not_yanked() -> None:
    assert current_version(LISTING) == Version("2.0")
    assert current_version(ProjectListing("empty", ())) is None


@pytest.mark.parametrize(
    ("spelled", "found"),
    [("1.0", "1.0"), ("1.0.0", "1.0"), ("1", "1.0"), ("3.0.b1", "3.0b1"), ("9", None), ("x", None)],
)
def test_find_version(spelled: str, found: str | None) -> None:
    version = find_version(LISTING, spelled)
    assert (str(version) if version is not None else None) == found


def test_the_metadata_of_a_wheel_is_preferred() -> None:
    source = metadata_source(LISTING, Version("1.0"))
    assert source is not None
    assert source.entry.filename == "alpha-1.0-py3-none-any.whl"
    assert metadata_source(LISTING, Version("2.0")) is None  # its only file has none


def test_the_project_document_has_pypis_shape() -> None:
    document = project_document(LISTING, base_url="http://mirror.test:8080/")
    assert set(document) == {"info", "last_serial", "releases", "urls", "vulnerabilities"}
    assert (document["last_serial"], document["vulnerabilities"]) == (0, [])
    assert set(document["releases"]) == {"1.0", "2.0", "2.1", "3.0b1"}
    [url] = document["urls"]
    assert url == document["releases"]["2.0"][0]
    assert url["url"] == "http://mirror.test:8080/packages/ab/cd/alpha-2.0.tar.gz"
    assert url["digests"] == {"sha256": hashlib.sha256(b"alpha-2.0.tar.gz").hexdigest()}
    assert (url["packagetype"], url["python_version"], url["size"]) == ("sdist", "source", 16)
    assert (url["comment_text"], url["downloads"], url["has_sig"]) == ("", -1, False)
    assert url["upload_time_iso_8601"] == "2024-01-02T03:04:05.000006Z"
    yanked = document["releases"]["2.1"][0]
    assert (yanked["yanked"], yanked["yanked_reason"]) == (True, "broken")
    info = document["info"]
    assert (info["name"], info["version"], info["requires_python"]) == ("alpha", "2.0", ">=3.8")
    assert info["classifiers"] == []
    assert info["summary"] is info["requires_dist"] is info["project_urls"] is None
    assert info["downloads"] == {"last_day": -1, "last_month": -1, "last_week": -1}
    assert (info["yanked"], info["yanked_reason"]) == (False, None)


def test_a_release_document_has_no_releases_and_takes_its_metadata() -> None:
    document = project_document(
        LISTING, base_url="http://m/", version=Version("1.0"), metadata=RICH_METADATA
    )
    assert "releases" not in document
    assert sorted(u["filename"] for u in document["urls"]) == [
        "alpha-1.0-py3-none-any.whl",
        "alpha-1.0.tar.gz",
    ]
    info = document["info"]
    assert (info["name"], info["version"], info["summary"]) == ("Alpha", "1.0", "The second alpha")


def test_info_from_core_metadata() -> None:
    info = info_from_metadata(RICH_METADATA, "alpha")
    assert info == {
        "author": "A. Author",
        "author_email": "a@example.org",
        "classifiers": [
            "Programming Language :: Python :: 3",
            "License :: OSI Approved :: MIT License",
        ],
        "description": "# Alpha\n\nA long description.\n",
        "description_content_type": "text/markdown",
        "download_url": "https://alpha.example.org/download",
        "home_page": "https://alpha.example.org/",
        "keywords": "one,two",
        "license_expression": "MIT",
        "license_files": ["LICENSE"],
        "maintainer": "M. Aintainer",
        "maintainer_email": "m@example.org",
        "name": "Alpha",
        "platform": "any",
        "project_urls": {
            "Homepage": "https://alpha.example.org/",
            "Download": "https://alpha.example.org/download",
            "Source": "https://src.example.org/alpha",
            "Issues": "https://src.example.org/alpha/issues",
        },
        "provides_extra": ["color"],
        "requires_dist": ["idna>=2", 'colorama; extra == "color"'],
        "requires_python": ">=3.8",
        "summary": "The second alpha",
    }
    assert list(info["project_urls"]) == ["Homepage", "Download", "Source", "Issues"]


def test_odd_metadata_gives_what_it_can() -> None:
    odd = b"Metadata-Version: 2.1\nName: Someone-Else\nVersion: 1.0\nSummary: fine\n\xff\xfe: x\n"
    info = info_from_metadata(odd, "alpha")
    assert info["summary"] == "fine"
    assert "name" not in info  # it names another project: the listing's name stays
    assert info_from_metadata(b"", "alpha") == {}


# -- served by a real server ---------------------------------------------------------------------


@dataclass
class Served:
    server: ServeProcess
    web: Path

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        reply = fetch(self.server.port, path, method)
        return reply.status, dict(reply.headers), reply.body

    def document(self, path: str) -> dict[str, Any]:
        status, headers, body = self.get(path)
        assert status == 200, (path, status, body)
        assert headers["Content-Type"] == "application/json"
        assert headers["Cache-Control"] == "max-age=60"  # as the pages it is made from
        document: dict[str, Any] = json.loads(body)
        return document


@pytest.fixture(params=[False, True], ids=["flat", "hash-index"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path, local_index: LocalIndex
) -> Iterator[Served]:
    plain = build_wheel("alpha", "1.0")
    local_index.add(plain)
    local_index.add(build_sdist("alpha", "1.0"))
    rich = build_wheel("alpha", "2.0", requires_python=">=3.8")
    local_index.add(replace(rich, metadata=RICH_METADATA))
    yanked = build_wheel("alpha", "2.1")
    local_index.add(replace(yanked, metadata=core_metadata("Alpha", "2.1")), yanked="broken")
    local_index.add(build_wheel("gamma", "0.1", requires_dist=["idna"]), metadata=False)
    hash_index = "hash-index = true" if request.param else ""
    config = serve_config(tmp_path, local_index.url, ["alpha", "gamma"], extra_mirror=hash_index)
    result = run_cli("mirror", "-c", str(config))
    assert result.returncode == 0, result.stderr
    with serve_process(config) as server:
        yield Served(server, tmp_path / "mirror" / "web")
        assert server.stop() == 0


def test_the_project_document_comes_from_the_mirror(served: Served) -> None:
    document = served.document("/pypi/alpha/json")
    info = document["info"]
    assert (info["name"], info["version"], info["summary"]) == ("Alpha", "2.0", "The second alpha")
    assert info["requires_dist"] == ["idna>=2", 'colorama; extra == "color"']
    assert info["requires_python"] == ">=3.8"
    assert list(info["project_urls"]) == ["Homepage", "Download", "Source", "Issues"]
    assert info["license_expression"] == "MIT"
    assert set(document["releases"]) == {"1.0", "2.0", "2.1"}
    assert [f["yanked_reason"] for f in document["releases"]["2.1"]] == ["broken"]
    assert [f["filename"] for f in document["urls"]] == ["alpha-2.0-py3-none-any.whl"]
    assert document["vulnerabilities"] == []
    base = served.server.base
    for files in document["releases"].values():
        for entry in files:
            assert entry["url"].startswith(f"{base}packages/")
            # The URL is this server's, and it serves exactly the bytes described.
            with urllib.request.urlopen(entry["url"], timeout=30) as response:  # noqa: S310 - loopback
                body = response.read()
            assert len(body) == entry["size"]
            assert hashlib.sha256(body).hexdigest() == entry["digests"]["sha256"]
    status, _, body = served.get("/pypi/alpha/json", "HEAD")
    assert (status, body) == (200, b"")


def test_a_release_document_describes_that_release(served: Served) -> None:
    document = served.document("/pypi/alpha/1.0/json")
    assert "releases" not in document
    info = document["info"]
    assert (info["name"], info["version"]) == ("alpha", "1.0")
    assert info["summary"] is None and info["requires_dist"] is None  # its metadata says none
    assert sorted(f["filename"] for f in document["urls"]) == [
        "alpha-1.0-py3-none-any.whl",
        "alpha-1.0.tar.gz",
    ]
    yanked = served.document("/pypi/alpha/2.1/json")
    assert (yanked["info"]["yanked"], yanked["info"]["yanked_reason"]) == (True, "broken")


def test_a_release_without_metadata_files_has_the_pages_facts_only(served: Served) -> None:
    assert not list(served.web.rglob("gamma-*.metadata"))
    info = served.document("/pypi/gamma/json")["info"]
    assert (info["name"], info["version"]) == ("gamma", "0.1")
    assert info["requires_dist"] is None  # in the wheel, which the server does not open
    assert info["classifiers"] == []


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/pypi/Alpha/json", "../alpha/json"),
        ("/pypi/ALPHA/1.0/json", "../../alpha/1.0/json"),
        ("/pypi/alpha/1.0.0/json", "../../alpha/1.0/json"),
        ("/pypi/Alpha/2.0/json?x=1", "../../alpha/2.0/json?x=1"),
    ],
)
def test_other_spellings_are_redirected(served: Served, path: str, location: str) -> None:
    status, headers, _ = served.get(path)
    assert (status, headers["Location"]) == (301, location)
    with urllib.request.urlopen(f"{served.server.base}{path[1:]}", timeout=30) as response:  # noqa: S310 - loopback
        assert json.loads(response.read())["info"]["version"] in ("2.0", "1.0")


@pytest.mark.parametrize(
    "path",
    [
        "/pypi/unknown/json",
        "/pypi/-bad-/json",
        "/pypi/alpha/9.9/json",
        "/pypi/alpha/not-a-version/json",
        "/pypi/alpha/",
        "/pypi/Unknown/1.0/json",
    ],
)
def test_what_the_mirror_does_not_hold_is_404(served: Served, path: str) -> None:
    assert served.get(path)[0] == 404
