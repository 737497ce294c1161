"""The consistency check the kill tests rely on: what it tolerates after a kill, and what it
still catches (a check that cannot fail would prove nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.mirror import assert_consistent


def _tree(tmp_path: Path) -> Path:
    """A tree whose root lists ``alpha`` (complete, one file) and nothing else."""
    web = tmp_path / "web"
    (web / "packages").mkdir(parents=True)
    (web / "packages" / "alpha-1.0.tar.gz").write_bytes(b"alpha")
    alpha = web / "simple" / "alpha"
    alpha.mkdir(parents=True)
    sha = "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8"
    entry = {
        "filename": "alpha-1.0.tar.gz",
        "url": "../../packages/alpha-1.0.tar.gz",
        "size": 5,
        "hashes": {"sha256": sha},
    }
    (alpha / "index.v1_json").write_text(json.dumps({"name": "alpha", "files": [entry]}))
    html = f'<a href="../../packages/alpha-1.0.tar.gz#sha256={sha}">alpha-1.0.tar.gz</a>'
    (alpha / "index.html").write_text(html)
    (alpha / "index.v1_html").write_text(html)
    root = {"projects": [{"name": "alpha"}]}
    (web / "simple" / "index.v1_json").write_text(json.dumps(root))
    (web / "simple" / "index.html").write_text('<a href="alpha/">alpha</a>')
    return web


def test_a_complete_tree_passes(tmp_path: Path) -> None:
    assert assert_consistent(_tree(tmp_path)) == 1


def test_a_folder_with_only_a_write_cut_short_is_no_project(tmp_path: Path) -> None:
    web = _tree(tmp_path)
    (web / "simple" / "beta").mkdir()
    (web / "simple" / "beta" / ".index.html.1234.tmp").write_bytes(b"half")
    assert assert_consistent(web, root_complete=False) == 1
    assert assert_consistent(web) == 1


def test_an_unlisted_project_with_some_pages_passes_if_they_list_what_is_there(
    tmp_path: Path,
) -> None:
    web = _tree(tmp_path)
    beta = web / "simple" / "beta"
    beta.mkdir()
    (beta / "index.html").write_text('<a href="../../packages/alpha-1.0.tar.gz">x</a>')
    assert assert_consistent(web, root_complete=False) == 2
    with pytest.raises(AssertionError):
        assert_consistent(web)  # the run finished: every project must be whole and listed


def test_an_unlisted_partial_page_that_lists_a_missing_file_fails(tmp_path: Path) -> None:
    web = _tree(tmp_path)
    beta = web / "simple" / "beta"
    beta.mkdir()
    (beta / "index.html").write_text('<a href="../../packages/beta-1.0.tar.gz">x</a>')
    with pytest.raises(AssertionError, match="not on disk"):
        assert_consistent(web, root_complete=False)


def test_a_listed_project_missing_a_page_fails(tmp_path: Path) -> None:
    web = _tree(tmp_path)
    (web / "simple" / "alpha" / "index.v1_html").unlink()
    with pytest.raises(AssertionError, match=r"alpha/index\.v1_html missing"):
        assert_consistent(web, root_complete=False)


def test_a_listed_file_missing_fails(tmp_path: Path) -> None:
    web = _tree(tmp_path)
    (web / "packages" / "alpha-1.0.tar.gz").unlink()
    with pytest.raises(FileNotFoundError):
        assert_consistent(web)
