"""The server reads the tree only through the ``Storage`` protocol: the same mirror served from
``LocalStorage`` and from ``MemoryStorage`` (``tests/support/memory_storage.py``, a second
complete backend with no local files) answers alike, and pip and uv install from either.

A backend without local files has no path to ``sendfile``: a large file is streamed from it
(ranges, conditions and HEAD judged as for a local file, and the same validators, since the
copy keeps every modification time), or the client is sent to the backend's own URL for it
(``Resource.location``, as an object store's presigned URLs will be). The conformance suite runs
against a memory-backed server too (``tests/test_conformance.py``).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cellar.cli import main
from cellar.serve.files import SMALL_FILE_BYTES
from cellar.tree.storage import Storage
from tests.support.installers import imported_version, make_venv, pip_install, uv_install, uv_venv
from tests.support.memory_storage import MemoryStorage
from tests.support.mirror import EVERY_VERSION, assert_consistent, listed_files, write_config
from tests.support.packages import build_wheel
from tests.support.server import Reply, Served, ask, serving
from tests.support.upstream import LocalIndex

pytestmark = pytest.mark.slow

#: Incompressible, so the wheel stays larger than what is sent from memory.
_NOISE = random.Random(12).randbytes(3 * SMALL_FILE_BYTES)  # noqa: S311 - test data


@dataclass(frozen=True)
class Mirror:
    web: Path
    #: The key of the large wheel (streamed from a backend without local files).
    large: str
    #: The key of a small wheel (sent from memory by every backend).
    small: str


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Mirror:
    root = tmp_path_factory.mktemp("storage")
    with LocalIndex() as index:
        index.add(build_wheel("heavy", "1.0", extra_files={"heavy/noise.bin": _NOISE}))
        index.add(build_wheel("light", "1.0", requires_dist=["heavy"]))
        config = write_config(root, index.url, ["light", "heavy"], extra_packages=EVERY_VERSION)
        assert main(["mirror", "-c", str(config)]) == 0
    web = root / "mirror" / "web"
    assert_consistent(web)
    keys = {}
    for project in ("heavy", "light"):
        (entry,) = listed_files(web, project).values()
        keys[project] = "packages/" + str(entry["url"]).split("/packages/", 1)[1].split("#")[0]
    assert (web / keys["heavy"]).stat().st_size > SMALL_FILE_BYTES
    return Mirror(web, keys["heavy"], keys["light"])


@pytest.fixture(scope="module")
def local(mirror: Mirror) -> Iterator[Served]:
    with serving(mirror.web) as served:
        yield served


@pytest.fixture(scope="module")
def memory(mirror: Mirror) -> Iterator[Served]:
    with serving(mirror.web, storage=MemoryStorage.copy_of(mirror.web)) as served:
        yield served


def test_memory_storage_is_a_storage() -> None:
    storage: Storage = MemoryStorage()  # mypy checks the protocol here
    assert storage.find("simple/index.html") is None
    assert storage.local_path("simple/index.html") is None


_COMPARED = ("Content-Type", "Content-Range", "ETag", "Last-Modified")


def _answer(reply: Reply) -> tuple[object, ...]:
    # The length of an empty 304, 412 or 416 is said or not (FileResponse does not): the
    # same empty body either way.
    length = reply.headers["Content-Length"] if reply.body or reply.status == 200 else None
    return (reply.status, reply.body, length, *(reply.headers[name] for name in _COMPARED))


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("HEAD", {}),
        ("GET", {"Range": "bytes=100-199"}),
        ("GET", {"Range": "bytes=-10"}),
        ("GET", {"Range": f"bytes={10 * SMALL_FILE_BYTES}-"}),
        ("GET", {"If-Match": '"nothing-like-it"'}),
        ("GET", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
    ],
    ids=["whole", "head", "range", "suffix", "unsatisfiable", "if-match", "if-modified"],
)
@pytest.mark.parametrize("which", ["large", "small"])
def test_a_file_is_answered_alike_from_either_backend(
    mirror: Mirror,
    local: Served,
    memory: Served,
    *,
    which: str,
    method: str,
    headers: dict[str, str],
) -> None:
    path = "/" + (mirror.large if which == "large" else mirror.small)
    from_local = ask(local, path, method, headers)
    from_memory = ask(memory, path, method, headers)
    assert _answer(from_memory) == _answer(from_local)
    assert from_local.status in (200, 206, 304, 412, 416)


def test_a_streamed_file_honours_its_own_validators(mirror: Mirror, memory: Served) -> None:
    path = "/" + mirror.large
    whole = ask(memory, path)
    assert whole.status == 200
    assert len(whole.body) == (mirror.web / mirror.large).stat().st_size
    assert whole.body == (mirror.web / mirror.large).read_bytes()
    etag = whole.headers["ETag"]
    assert ask(memory, path, headers={"If-None-Match": etag}).status == 304
    ranged = ask(memory, path, headers={"Range": "bytes=5-9", "If-Range": etag})
    assert (ranged.status, ranged.body) == (206, whole.body[5:10])
    stale = ask(memory, path, headers={"Range": "bytes=5-9", "If-Range": '"old"'})
    assert (stale.status, stale.body) == (200, whole.body)


def test_a_page_replaced_in_the_backend_is_served_new(mirror: Mirror) -> None:
    storage = MemoryStorage.copy_of(mirror.web)
    with serving(mirror.web, storage=storage) as served:
        first = ask(served, "/simple/light/", headers={"Accept": "text/html"})
        assert first.status == 200
        etag = first.headers["ETag"]
        assert ask(served, "/simple/light/", headers={"If-None-Match": etag}).status == 304
        storage.put({"simple/light/index.html": b"<html>replaced</html>\n"})
        again = ask(served, "/simple/light/", headers={"Accept": "text/html"})
        assert (again.status, again.body) == (200, b"<html>replaced</html>\n")
        assert again.headers["ETag"] != etag
        storage.delete(["simple/light/index.html", "simple/light/index.v1_html"])
        storage.delete(["simple/light/index.v1_json"])
        assert ask(served, "/simple/light/").status == 404


def test_files_are_redirected_where_the_backend_gives_a_location(
    mirror: Mirror, local: Served
) -> None:
    storage = MemoryStorage.copy_of(mirror.web)
    storage.locations = lambda key: f"{local.url}{key}?signature=stand-in"
    with serving(mirror.web, storage=storage) as served:
        reply = ask(served, "/" + mirror.small)
        assert reply.status == 307
        assert reply.headers["Location"] == f"{local.url}{mirror.small}?signature=stand-in"
        assert reply.headers["Cache-Control"] == "no-store"
        assert ask(served, "/simple/light/").status == 200  # pages are always served


@pytest.mark.parametrize("backend", ["memory", "redirected"])
def test_pip_and_uv_install_from_a_server_without_local_files(
    mirror: Mirror,
    local: Served,
    backend: str,
    tmp_path: Path,
    installer_env: dict[str, str],
) -> None:
    storage = MemoryStorage.copy_of(mirror.web)
    if backend == "redirected":
        storage.locations = lambda key: f"{local.url}{key}"
    with serving(mirror.web, storage=storage) as served:
        index = served.url + "simple/"
        python = make_venv(tmp_path / "pip", sys.executable)
        result = pip_install(python, index, "light", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(python, "heavy") == "1.0"
        uv_python = uv_venv(tmp_path / "uv", sys.executable, env=installer_env)
        result = uv_install(uv_python, index, "light", env=installer_env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert imported_version(uv_python, "light") == "1.0"
