"""The files bandersnatch writes beside the pages, rendered from literal listings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from cellar.model import DistFile, ProjectListing, PublishedFile
from cellar.sync.compat import (
    GENERATION,
    diff_file_path,
    json_api_paths,
    project_directory,
    render_diff_file,
    render_generation,
    render_json_api,
    render_last_modified,
    render_status,
    status_serial,
)

SHA = "ab" * 32


def published(filename: str, **entry: object) -> PublishedFile:
    path = f"packages/ab/ab/{'ab' * 30}/{filename}"
    url = f"http://127.0.0.1:9/{path}"
    return PublishedFile(DistFile(filename, url, **entry), path, SHA, 123)  # type: ignore[arg-type]


def listing() -> ProjectListing:
    return ProjectListing(
        "Foo_Bar",
        (
            published(
                "foo_bar-1.0-py3-none-any.whl",
                upload_time="2024-01-02T03:04:05.678901Z",
                hashes={"sha256": SHA, "md5": "m" * 32},
            ),
            published(
                "foo_bar-1.0.tar.gz",
                requires_python=">=3.8",
                upload_time="2024-01-02T03:04:06+00:00",
            ),
            published(
                "foo_bar-2.0-cp312-cp312-win_amd64.whl",
                requires_python=">=3.12",
                yanked=True,
                yanked_reason="broken",
            ),
            published("foo_bar-2.1b1-py3-none-any.whl"),
            published("foo_bar-0.9-py2.7.egg"),
        ),
        versions=("0.9", "1.0", "2.0", "2.1b1"),
    )


def test_json_api_document_has_pypis_shape() -> None:
    document = json.loads(render_json_api(listing(), last_serial=4242))
    assert sorted(document) == ["info", "last_serial", "releases", "urls"]
    assert document["last_serial"] == 4242
    info = document["info"]
    # 2.0 is yanked and 2.1b1 a pre-release: PyPI's current release is 1.0.
    assert info == {
        "name": "Foo_Bar",
        "version": "1.0",
        "summary": None,
        "requires_dist": None,
        "requires_python": ">=3.8",
        "yanked": False,
        "yanked_reason": None,
    }
    assert sorted(document["releases"]) == ["0.9", "1.0", "2.0", "2.1b1"]
    assert [f["filename"] for f in document["urls"]] == [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
    ]
    wheel, sdist = document["releases"]["1.0"]
    assert wheel == {
        "digests": {"sha256": SHA, "md5": "m" * 32},
        "filename": "foo_bar-1.0-py3-none-any.whl",
        "md5_digest": "m" * 32,
        "packagetype": "bdist_wheel",
        "python_version": "py3",
        "requires_python": None,
        "size": 123,
        "upload_time": "2024-01-02T03:04:05",
        "upload_time_iso_8601": "2024-01-02T03:04:05.678901Z",
        "url": "http://127.0.0.1:9/packages/ab/ab/" + "ab" * 30 + "/foo_bar-1.0-py3-none-any.whl",
        "yanked": False,
        "yanked_reason": None,
    }
    assert (sdist["packagetype"], sdist["python_version"]) == ("sdist", "source")
    assert sdist["upload_time_iso_8601"] == "2024-01-02T03:04:06.000000Z"
    assert sdist["md5_digest"] is None
    yanked = document["releases"]["2.0"][0]
    assert (yanked["yanked"], yanked["yanked_reason"], yanked["upload_time"]) == (
        True,
        "broken",
        None,
    )
    assert yanked["python_version"] == "cp312"
    assert document["releases"]["0.9"][0]["python_version"] == "py2.7"


def test_json_api_document_is_written_as_bandersnatch_writes_it() -> None:
    body = render_json_api(listing()).decode()
    assert body.startswith('{\n    "info": {')  # indent=4, keys sorted
    assert not body.endswith("\n")
    assert json.loads(body)["last_serial"] == 0


def test_json_api_urls_in_the_mirror_with_a_base() -> None:
    document = json.loads(render_json_api(listing(), base_url="https://mirror.test/pypi/"))
    url = document["urls"][0]["url"]
    assert (
        url
        == "https://mirror.test/pypi/packages/ab/ab/" + "ab" * 30 + "/foo_bar-1.0-py3-none-any.whl"
    )


def test_json_api_of_only_yanked_or_prereleases() -> None:
    only_yanked = ProjectListing(
        "x", (published("x-1.0.tar.gz", yanked=True, yanked_reason="oops"),)
    )
    info = json.loads(render_json_api(only_yanked))["info"]
    assert (info["version"], info["yanked"], info["yanked_reason"]) == ("1.0", True, "oops")
    empty = json.loads(render_json_api(ProjectListing("x", ())))
    assert empty["info"]["version"] is None
    assert empty["urls"] == []


def test_paths() -> None:
    assert json_api_paths("Foo_Bar") == (
        PurePosixPath("json/foo-bar"),
        PurePosixPath("pypi/foo-bar/json"),
    )
    assert project_directory("Foo_Bar", hash_index=False) == PurePosixPath("simple/foo-bar")
    assert project_directory("Foo_Bar", hash_index=True) == PurePosixPath("simple/f/foo-bar")
    assert project_directory("7zip", hash_index=True) == PurePosixPath("simple/7/7zip")


def test_generation_status_and_last_modified() -> None:
    assert GENERATION == 5
    assert render_generation() == b"5"
    assert render_status(123) == b"123"
    assert status_serial(None, []) == 0
    assert status_serial(10, [None, 7]) == 10
    assert status_serial(10, [12, None, 11]) == 12
    when = datetime(2024, 5, 6, 9, 8, 7, tzinfo=timezone(timedelta(hours=2)))
    assert render_last_modified(when) == b"20240506T07:08:07\n"
    assert render_last_modified(datetime(2024, 5, 6, 7, 8, 7, tzinfo=UTC)) == b"20240506T07:08:07\n"


def test_diff_file_path_and_content(tmp_path: Path) -> None:
    assert diff_file_path(tmp_path / "diff", epoch=None, is_dir=Path.is_dir) == tmp_path / "diff"
    assert (
        diff_file_path(tmp_path / "diff", epoch=1568129735, is_dir=Path.is_dir)
        == tmp_path / "diff-1568129735"
    )
    (tmp_path / "diffs").mkdir()
    assert (
        diff_file_path(tmp_path / "diffs", epoch=None, is_dir=Path.is_dir)
        == tmp_path / "diffs" / "mirrored-files"
    )
    body = render_diff_file(
        [tmp_path / "web" / "simple" / "a" / "index.html", Path("relative/x.whl")]
    )
    lines = body.decode().split("\n")
    assert lines == [
        str(tmp_path / "web/simple/a/index.html"),
        str(Path("relative/x.whl").absolute()),
    ]
    assert render_diff_file([]) == b""
