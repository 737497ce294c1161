"""Chained mirrors: a Cellar mirror whose upstream is another mirror's tree behind nginx.

The outer mirror is written in the flat and in the hash-index layout, and nginx serves it in two
ways: as bandersnatch's documentation configures nginx for a bandersnatch mirror (plain static
files, ``index index.html``, the hash-index rewrite; PEP 503 HTML only), and with what
``cellar nginx-config`` prints (PEP 691 JSON). The inner mirror must come out consistent and
installable; which of the two it read shows in what only JSON carries (PEP 700 upload times).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.config.load import load_config
from cellar.nginx import render_nginx_config, site_from_config
from tests.support.installers import (
    imported_version,
    make_venv,
    pip_install,
    uv_install,
    uv_venv,
)
from tests.support.mirror import (
    EVERY_VERSION,
    assert_consistent,
    cellar_serve,
    listed_files,
    write_config,
)
from tests.support.nginx import free_port, running_nginx
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

REQUIREMENTS = ["alpha", "Foo_Bar.baz", "a"]
UPLOADED = "2024-05-06T07:08:09Z"


def bandersnatch_server(web: Path, port: int, *, hash_index: bool) -> str:
    """nginx as bandersnatch's documentation sets it up: static files, HTML index pages."""
    rewrites = (
        "            rewrite ^/simple/([^/])([^/]*)/$ /simple/$1/$1$2/ last;\n"
        "            rewrite ^/simple/([^/])([^/]*)/([^/]+)$/ /simple/$1/$1$2/$3 last;\n"
        if hash_index
        else ""
    )
    return (
        "server {\n"
        f"    listen 127.0.0.1:{port};\n"
        "    server_name _;\n"
        f'    root "{web}";\n'
        "    autoindex on;\n"
        "    charset utf-8;\n"
        # What nginx.conf's `include mime.types;` gives the files this mirror holds.
        "    types { text/html html; application/zip zip whl; application/json json; }\n"
        "    location /simple/ {\n"
        f"{rewrites}"
        "            index index.html;\n"
        "    }\n"
        "}\n"
    )


@pytest.mark.parametrize("served_as", ["bandersnatch", "cellar"])
@pytest.mark.parametrize("hash_index", [False, True], ids=["flat", "hash-index"])
def test_a_mirror_of_a_mirror_behind_nginx(
    tmp_path: Path,
    local_index: LocalIndex,
    installer_env: dict[str, str],
    hash_index: bool,
    served_as: str,
) -> None:
    local_index.add(build_wheel("alpha", "1.0"), upload_time=UPLOADED)
    local_index.add(build_wheel("alpha", "2.0"), upload_time=UPLOADED)
    local_index.add(build_sdist("alpha", "2.0"))
    local_index.add(build_wheel("alpha", "3.0"), yanked="broken build")
    local_index.add(build_wheel("Foo_Bar.baz", "1.5", requires_dist=["a>=1"]))
    local_index.add(build_wheel("a", "1.1"))
    local_index.add(build_wheel("a", "0.5"), metadata=False)
    outer_dir, inner_dir = tmp_path / "outer", tmp_path / "inner"
    outer_dir.mkdir()
    inner_dir.mkdir()
    layout = f"hash-index = {str(hash_index).lower()}"
    outer = write_config(
        outer_dir, local_index.url, REQUIREMENTS, extra_mirror=layout, extra_packages=EVERY_VERSION
    )
    assert main(["mirror", "-c", str(outer)]) == 0
    outer_web = outer_dir / "mirror" / "web"
    assert assert_consistent(outer_web, hash_index=hash_index) == 7
    local_index.stop()  # from here on, only nginx has these files

    port = free_port()
    if served_as == "bandersnatch":
        server = bandersnatch_server(outer_web, port, hash_index=hash_index)
    else:
        server = render_nginx_config(
            site_from_config(load_config(outer), listen=(f"127.0.0.1:{port}",))
        )
    inner = write_config(
        inner_dir, f"http://127.0.0.1:{port}/simple/", REQUIREMENTS, extra_packages=EVERY_VERSION
    )
    with running_nginx(tmp_path / "nginx", server, port):
        assert main(["mirror", "-c", str(inner)]) == 0
        # A second run finds nothing new (and asks nginx conditionally).
        assert main(["mirror", "-c", str(inner)]) == 0

    inner_web = inner_dir / "mirror" / "web"
    assert assert_consistent(inner_web) == 7
    for project in ("alpha", "foo-bar-baz", "a"):
        outer_files = listed_files(outer_web, project, hash_index=hash_index)
        inner_files = listed_files(inner_web, project)
        assert set(inner_files) == set(outer_files)
        for name, entry in inner_files.items():
            for key in ("hashes", "size", "yanked", "requires-python", "core-metadata"):
                assert entry.get(key) == outer_files[name].get(key), (name, key)
    alpha = listed_files(inner_web, "alpha")
    assert alpha["alpha-3.0-py3-none-any.whl"]["yanked"] == "broken build"
    # Upload times travel only in JSON: the bandersnatch setup serves HTML alone.
    read_json = "upload-time" in alpha["alpha-1.0-py3-none-any.whl"]
    assert read_json is (served_as == "cellar")

    with cellar_serve(inner) as base:
        if served_as == "bandersnatch":
            python = uv_venv(tmp_path / "venv", sys.executable, env=installer_env)
            result = uv_install(python, f"{base}simple/", "foo-bar-baz", "alpha", env=installer_env)
        else:
            python = make_venv(tmp_path / "venv", sys.executable)
            result = pip_install(
                python, f"{base}simple/", "Foo_Bar.baz", "alpha", env=installer_env
            )
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"
    assert imported_version(python, "foo_bar_baz") == "1.5"
    assert imported_version(python, "a") == "1.1"
