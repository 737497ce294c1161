"""Mirror paths: PyPI-shaped URLs kept, others content-addressed, hostile names refused."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from cellar.model import DistFile
from cellar.sync.errors import UnsafePathError
from cellar.sync.paths import metadata_path, mirror_path

SHA = "ab" * 32
HASH60 = "0123456789" * 6


def test_pypi_shaped_url_path_is_kept() -> None:
    entry = DistFile("a-1.0.tar.gz", f"https://up.invalid/packages/12/34/{HASH60}/a-1.0.tar.gz")
    assert mirror_path("a", entry, None) == PurePosixPath(f"packages/12/34/{HASH60}/a-1.0.tar.gz")


def test_other_urls_are_content_addressed() -> None:
    entry = DistFile("a-1.0.tar.gz", "http://127.0.0.1/files/a/a-1.0.tar.gz")
    assert mirror_path("a", entry, SHA) == PurePosixPath(f"packages/ab/ab/{SHA[4:]}/a-1.0.tar.gz")
    assert mirror_path("a", entry, None) is None


def test_pypi_shape_with_another_file_name_is_not_trusted() -> None:
    entry = DistFile("a-1.0.tar.gz", f"http://h/packages/12/34/{HASH60}/other.tar.gz")
    assert mirror_path("a", entry, SHA) == PurePosixPath(f"packages/ab/ab/{SHA[4:]}/a-1.0.tar.gz")


@pytest.mark.parametrize(
    ("filename", "url"),
    [
        ("../../evil.whl", "http://h/files/evil.whl"),
        ("a/b.whl", "http://h/files/b.whl"),
        ("/etc/passwd", "http://h/files/passwd"),
        ("..", "http://h/files/x"),
        ("a\\b.whl", "http://h/files/b.whl"),
        ("a\x00.whl", "http://h/files/a.whl"),
        (".hidden-1.0.tar.gz", "http://h/files/x"),
        ("ok-1.0.tar.gz", "http://h/packages/../../etc/ok-1.0.tar.gz"),
        ("ok-1.0.tar.gz", "http://h/packages/%2e%2e/ok-1.0.tar.gz"),
    ],
)
def test_hostile_names_and_paths_are_refused(filename: str, url: str) -> None:
    with pytest.raises(UnsafePathError) as caught:
        mirror_path("evil", DistFile(filename, url), SHA)
    assert caught.value.project == "evil"
    assert "refused" in str(caught.value)
    assert url in str(caught.value)


def test_metadata_beside_the_file() -> None:
    assert metadata_path(PurePosixPath("packages/a/b/x-1.whl")) == PurePosixPath(
        "packages/a/b/x-1.whl.metadata"
    )
