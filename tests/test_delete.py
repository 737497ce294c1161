"""`cellar delete` and ``prune_projects`` on a mirror made by `cellar mirror` from the local index.

The property that matters most: a file goes only when no kept page lists it, by any account of
that page (its JSON, the state's copy, its HTML links), so deleting never breaks what is kept.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.state import MirrorState
from cellar.sync.pages import listing_from_json, publish_root, write_project
from cellar.sync.prune import prune_projects
from cellar.tree.local import LocalStorage
from cellar.tree.lock import MirrorLock
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    listed_files,
    run_cli,
    write_config,
)
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex


@pytest.fixture
def mirrored(tmp_path: Path, local_index: LocalIndex) -> tuple[Path, Path]:
    """A mirror of alpha (wheel, sdist, both with metadata) and beta (one wheel)."""
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_sdist("alpha", "1.0"))
    local_index.add(build_wheel("beta", "0.1"))
    config = write_config(
        tmp_path, local_index.url, ["alpha", "beta"], extra_packages=EVERY_VERSION
    )
    assert main(["mirror", "-c", str(config)]) == 0
    return config, tmp_path / "mirror" / "web"


def tree(web: Path) -> dict[str, bytes]:
    return {
        path.relative_to(web).as_posix(): path.read_bytes()
        for path in sorted(web.rglob("*"))
        if path.is_file()
    }


def records(web: Path) -> tuple[dict[str, str], list[str]]:
    with MirrorState.open(web.parent) as state:
        names = state.project_names()
        files = sorted(r.path for name in names for r in state.project_files(name))
    return names, files


def share_alpha_wheel(web: Path) -> str:
    """Publish a project gamma whose page lists alpha's wheel; return the wheel's path."""
    with MirrorState.open(web.parent) as state:
        alpha = listing_from_json((web / "simple" / "alpha" / "index.v1_json").read_bytes())
        wheel = next(f for f in alpha.files if f.entry.filename.endswith(".whl"))
        storage = LocalStorage(web)
        write_project(storage, state, dataclasses.replace(alpha, name="gamma", files=(wheel,)))
        publish_root(storage, state)
    return str(wheel.path)


def test_dry_run_lists_what_would_go_and_changes_nothing(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    before, state_before = tree(web), records(web)
    capsys.readouterr()
    assert main(["delete", "-c", str(config), "alpha", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would delete 1 project (alpha): 4 files, ")
    assert out.count("  would remove packages/") == 4
    assert "alpha-1.0-py3-none-any.whl.metadata" in out
    assert "dry run: nothing was changed" in out
    assert tree(web) == before
    assert records(web) == state_before


def test_delete_removes_pages_files_and_record(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    wheel = web / str(listed_files(web, "alpha")["alpha-1.0-py3-none-any.whl"]["url"])[6:]
    capsys.readouterr()
    assert main(["delete", "-c", str(config), "Alpha"]) == 0  # any spelling
    out = capsys.readouterr().out
    assert out.startswith("deleted 1 project (alpha): 4 files, ")
    assert not (web / "simple" / "alpha").exists()
    assert not wheel.exists() and not wheel.parent.exists()
    names, files = records(web)
    assert list(names) == ["beta"]
    assert all("alpha" not in path for path in files)
    root = (web / "simple" / "index.html").read_text()
    assert 'href="beta/"' in root and "alpha" not in root
    assert assert_consistent(web) == 1
    assert main(["verify", "-c", str(config)]) == 0  # no orphans left behind
    assert main(["status", "-c", str(config)]) == 0
    assert "projects: 1" in capsys.readouterr().out


def test_a_file_another_page_lists_is_kept(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    shared = share_alpha_wheel(web)
    assert assert_consistent(web) == 4
    capsys.readouterr()
    assert main(["delete", "-c", str(config), "alpha"]) == 0
    out = capsys.readouterr().out
    assert f"kept {shared}: another project's page lists it" in out
    assert (web / shared).exists() and (web / f"{shared}.metadata").exists()
    assert assert_consistent(web) == 2
    assert main(["verify", "-c", str(config)]) == 0

    assert main(["delete", "-c", str(config), "gamma"]) == 0
    assert not (web / shared).exists()
    assert assert_consistent(web) == 1


def test_a_damaged_kept_page_still_protects_the_files_it_links(mirrored: tuple[Path, Path]) -> None:
    _, web = mirrored
    shared = share_alpha_wheel(web)
    (web / "simple" / "gamma" / "index.v1_json").write_bytes(b"{")
    with MirrorState.open(web.parent) as state:
        state.forget_project("gamma")  # no state copy either: only its HTML says what it lists
        result = prune_projects(LocalStorage(web), state, ["alpha"])
    assert result.projects == ("alpha",)
    assert shared in result.shared
    assert (web / shared).exists()
    assert len(result.files) == 2  # the sdist and its metadata file
    assert result.bytes == sum(size for _, size in result.files) > 0


def test_prune_projects_skips_names_it_does_not_know(mirrored: tuple[Path, Path]) -> None:
    _, web = mirrored
    with MirrorState.open(web.parent) as state:
        result = prune_projects(LocalStorage(web), state, ["nonesuch"])
    assert result.projects == () and result.files == () and result.unknown == ("nonesuch",)
    assert assert_consistent(web) == 3


def test_an_unknown_project_deletes_nothing(
    mirrored: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, web = mirrored
    before = tree(web)
    capsys.readouterr()
    assert main(["delete", "-c", str(config), "alpha", "nonesuch"]) == 1
    out = capsys.readouterr().out
    assert "unknown project: nonesuch" in out
    assert "nothing was deleted" in out
    assert tree(web) == before


def test_delete_waits_for_no_one(mirrored: tuple[Path, Path]) -> None:
    config, web = mirrored
    with MirrorLock(web.parent / ".cellar" / "lock"):
        result = run_cli("delete", "-c", str(config), "alpha")
    assert result.returncode == 2
    assert f"pid {os.getpid()}" in result.stderr
    assert (web / "simple" / "alpha" / "index.html").exists()
