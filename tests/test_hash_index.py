"""bandersnatch's hash-index layout: project pages in ``web/simple/<first letter>/<name>/``.

The pages' bytes are those of the flat layout (the links stay ``../../packages/...``: clients see
``/simple/<name>/`` whatever the disk holds), so Cellar's server and verify, delete and prune
must find the pages where the layout puts them, and switching the setting moves them.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest

from cellar.cli import main
from tests.support.installers import imported_version, make_venv, pip_install
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    cellar_serve,
    listed_files,
    write_config,
)
from tests.support.packages import build_wheel
from tests.support.upstream import LocalIndex


def upstream(local_index: LocalIndex) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_wheel("alpha", "2.0"))
    local_index.add(build_wheel("a", "0.1"))
    local_index.add(build_wheel("Beta_Two", "1.0"))


def test_a_hash_index_mirror_is_served_verified_and_installed_from(
    tmp_path: Path,
    local_index: LocalIndex,
    installer_env: dict[str, str],
) -> None:
    upstream(local_index)
    config = write_config(
        tmp_path,
        local_index.url,
        ["alpha", "a", "beta-two"],
        extra_mirror="hash-index = true",
        extra_packages=EVERY_VERSION,
    )
    assert main(["mirror", "-c", str(config)]) == 0
    web = tmp_path / "mirror" / "web"
    assert assert_consistent(web, hash_index=True) == 4
    for letter, name in (("a", "alpha"), ("a", "a"), ("b", "beta-two")):
        assert (web / "simple" / letter / name / "index.v1_json").is_file()
    assert not (web / "simple" / "alpha").exists()
    assert not (web / "simple" / "a" / "index.html").exists()  # `a/` is a letter here
    assert set(listed_files(web, "alpha", hash_index=True)) == {
        "alpha-1.0-py3-none-any.whl",
        "alpha-2.0-py3-none-any.whl",
    }
    assert main(["verify", "-c", str(config)]) == 0

    with cellar_serve(config) as base:
        with urllib.request.urlopen(f"{base}simple/a/") as response:  # noqa: S310 - loopback
            assert b"a-0.1-py3-none-any.whl" in response.read()
        with urllib.request.urlopen(f"{base}simple/Beta.Two") as response:  # noqa: S310
            assert response.url == f"{base}simple/beta-two/"
        python = make_venv(tmp_path / "venv", sys.executable)
        result = pip_install(python, f"{base}simple/", "alpha==1.0", "a", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(python, "alpha") == "1.0"

    assert main(["delete", "-c", str(config), "alpha"]) == 0
    assert not (web / "simple" / "a" / "alpha").exists()
    assert (web / "simple" / "a" / "a" / "index.html").is_file()
    assert not list((web / "packages").rglob("alpha-*"))
    assert assert_consistent(web, hash_index=True) == 2


@pytest.mark.parametrize("first", [False, True])
def test_switching_the_layout_moves_the_pages(
    tmp_path: Path, local_index: LocalIndex, first: bool
) -> None:
    upstream(local_index)

    def mirror(hash_index: bool) -> None:
        config = write_config(
            tmp_path,
            local_index.url,
            ["alpha", "a", "beta-two"],
            extra_mirror=f"hash-index = {str(hash_index).lower()}",
        )
        assert main(["mirror", "-c", str(config)]) == 0
        assert main(["verify", "-c", str(config)]) == 0

    web = tmp_path / "mirror" / "web"
    mirror(first)
    assert assert_consistent(web, hash_index=first) == 3
    mirror(not first)
    assert assert_consistent(web, hash_index=not first) == 3
    hashed = {p.relative_to(web).as_posix() for p in web.glob("simple/*/*/index.html")}
    flat = {p.relative_to(web).as_posix() for p in web.glob("simple/*/index.html")}
    if first:  # now flat: nothing is left in the letter directories but project `a`'s own pages
        assert hashed == set()
        assert flat == {f"simple/{name}/index.html" for name in ("a", "alpha", "beta-two")}
    else:
        assert flat == set()
        assert hashed == {
            "simple/a/a/index.html",
            "simple/a/alpha/index.html",
            "simple/b/beta-two/index.html",
        }
