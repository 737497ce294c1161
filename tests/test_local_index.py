"""The test suite's upstream is a real index: real pip and uv install from it, and it misbehaves
exactly as asked. No Cellar code is involved here."""

from __future__ import annotations

import http.client
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest

from tests.support.installers import (
    clean_env,
    find_interpreters,
    imported_version,
    make_venv,
    pip_install,
    uv_install,
    uv_venv,
)
from tests.support.packages import build_sdist, build_wheel
from tests.support.upstream import HTML_V1, JSON_V1, LocalIndex

ACCEPT_JSON = f"{JSON_V1}, {HTML_V1};q=0.1, text/html;q=0.01"  # what pip and uv send


def get(
    index: LocalIndex, url: str, headers: Mapping[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """GET ``url`` (absolute, or a path) without following redirects: (status, headers, body)."""
    parts = urlsplit(urljoin(index.base, url))
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request(
            "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {}
        )
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def anchors(page: bytes) -> dict[str, str]:
    """Map each anchor's text to its attributes, as written."""
    return {m[2]: m[1] for m in re.finditer(r"<a ([^>]*)>([^<]*)</a>", page.decode())}


# -- real installers -----------------------------------------------------------------------------


@pytest.mark.slow
def test_pip_installs_a_wheel_and_sees_only_this_index(
    local_index: LocalIndex, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("Foo_Bar.baz", "1.0"))
    local_index.add(build_wheel("Foo_Bar.baz", "2.0"))
    python = make_venv(tmp_path / "venv")
    result = pip_install(python, local_index.url, "Foo_Bar.baz", env=installer_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "foo_bar_baz") == "2.0"
    assert f"Looking in indexes: {local_index.url}\n" in result.stdout
    assert "Looking in links" not in result.stdout
    assert local_index.count("/simple/foo-bar-baz/") == 1
    assert local_index.count("*foo_bar_baz-2.0-py3-none-any.whl") == 1


@pytest.mark.slow
def test_uv_installs_a_wheel(
    local_index: LocalIndex, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("zope.thing", "4.0", requires_python=">=3.8"))
    python = uv_venv(tmp_path / "venv", sys.executable, env=installer_env)
    result = uv_install(python, local_index.url, "zope.thing", env=installer_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "zope_thing") == "4.0"


@pytest.mark.slow
def test_pip_skips_a_yanked_file_unless_pinned(
    local_index: LocalIndex, tmp_path: Path, installer_env: dict[str, str]
) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add(build_wheel("alpha", "2.0"), yanked="broken build")
    python = make_venv(tmp_path / "venv")
    result = pip_install(python, local_index.url, "alpha", env=installer_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "1.0"
    result = pip_install(python, local_index.url, "alpha==2.0", env=installer_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert imported_version(python, "alpha") == "2.0"
    assert "broken build" in result.stderr  # pip warns with the reason


@pytest.mark.slow
def test_installers_ignore_the_machines_configuration(
    local_index: LocalIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Poison every place pip and uv read settings from with a find-links that has the wheel.
    trap = tmp_path / "trap"
    trap.mkdir()
    wheel = build_wheel("trap", "1.0")
    (trap / wheel.filename).write_bytes(wheel.data)
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nfind-links = {trap}\n")
    for name, value in {
        "PIP_FIND_LINKS": str(trap),
        "PIP_CONFIG_FILE": str(config),
        "UV_FIND_LINKS": str(trap),
        "UV_EXTRA_INDEX_URL": trap.as_uri(),
    }.items():
        monkeypatch.setenv(name, value)
    env = clean_env(tmp_path / "clean")  # built from the poisoned os.environ
    python = make_venv(tmp_path / "venv")
    for install in (pip_install, uv_install):
        result = install(python, local_index.url, "trap", env=env)
        assert result.returncode != 0, f"{install.__name__} found the trap: {result.stdout}"
    assert local_index.count("/simple/trap/") == 2


def test_find_interpreters_finds_this_python() -> None:
    versions = [
        tuple(
            json.loads(
                subprocess.run(
                    [str(path), "-c", "import json, sys; print(json.dumps(sys.version_info[:2]))"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
        )
        for path in find_interpreters()
    ]
    assert tuple(sys.version_info[:2]) in versions
    assert versions == sorted(set(versions))  # one per minor version, oldest first


# -- pages ---------------------------------------------------------------------------------------


def test_json_and_html_by_negotiation(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0", requires_python=">=3.8")
    local_index.add(wheel, upload_time="2024-01-02T03:04:05.000000Z")
    status, headers, body = get(local_index, "/simple/alpha/", {"Accept": ACCEPT_JSON})
    assert (status, headers["Content-Type"]) == (200, JSON_V1)
    assert headers["X-PyPI-Last-Serial"] == "1"
    page = json.loads(body)
    assert page["meta"] == {"api-version": "1.1", "_last-serial": 1}
    assert (page["name"], page["versions"]) == ("alpha", ["1.0"])
    [entry] = page["files"]
    assert entry["filename"] == wheel.filename
    assert entry["hashes"] == {"sha256": wheel.sha256}
    assert entry["requires-python"] == ">=3.8"
    assert entry["yanked"] is False
    assert (
        entry["core-metadata"] == entry["dist-info-metadata"] == {"sha256": wheel.metadata_sha256}
    )
    assert (entry["size"], entry["upload-time"]) == (len(wheel.data), "2024-01-02T03:04:05.000000Z")
    assert get(local_index, entry["url"])[2] == wheel.data

    for accept, expected in [
        (None, "text/html"),
        ("text/html", "text/html"),
        (HTML_V1, HTML_V1),
        (f"{JSON_V1};q=0.2, text/html;q=0.5", "text/html"),
        ("*/*", "text/html"),
    ]:
        status, headers, body = get(
            local_index, "/simple/alpha/", {"Accept": accept} if accept else {}
        )
        assert headers.get_content_type() == expected, accept
        assert b'<meta name="pypi:repository-version" content="1.1">' in body
    status, headers, _ = get(local_index, f"/simple/alpha/?format={quote(JSON_V1, safe='')}")
    assert headers["Content-Type"] == JSON_V1

    status, headers, body = get(local_index, "/simple/", {"Accept": ACCEPT_JSON})
    assert json.loads(body)["projects"] == [{"name": "alpha", "_last-serial": 1}]


def test_html_page_attributes(local_index: LocalIndex) -> None:
    local_index.add(build_wheel("alpha", "1.0", requires_python=">=3.8,<4"))
    local_index.add(build_sdist("alpha", "1.0"), yanked=True, metadata=False)
    local_index.add(build_wheel("alpha", "2.0"), yanked="broken <build>")
    links = anchors(get(local_index, "/simple/alpha/")[2])
    first = links["alpha-1.0-py3-none-any.whl"]
    assert re.search(
        r'href="http://127\.0\.0\.1:\d+/packages/\w\w/\w\w/\w{60}/alpha-1\.0-py3-none-any\.whl#sha256=[0-9a-f]{64}"',
        first,
    )
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in first
    assert 'data-core-metadata="sha256=' in first and 'data-dist-info-metadata="sha256=' in first
    assert "data-yanked" not in first
    assert 'data-yanked=""' in links["alpha-1.0.tar.gz"]
    assert "core-metadata" not in links["alpha-1.0.tar.gz"]
    assert 'data-yanked="broken &lt;build&gt;"' in links["alpha-2.0-py3-none-any.whl"]


def test_html_only_ignores_accept() -> None:
    with LocalIndex(html_only=True) as index:
        index.add(build_wheel("alpha", "1.0"))
        status, headers, body = get(index, "/simple/alpha/", {"Accept": ACCEPT_JSON})
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert b"alpha-1.0-py3-none-any.whl" in body


def test_relative_urls_and_flat_layout() -> None:
    with LocalIndex(file_layout="flat", relative_urls=True) as index:
        wheel = build_wheel("Foo_Bar.baz", "1.0")
        index.add(wheel)
        page = json.loads(get(index, "/simple/foo-bar-baz/", {"Accept": ACCEPT_JSON})[2])
        url = page["files"][0]["url"]
        assert url == "../../files/foo-bar-baz/foo_bar_baz-1.0-py3-none-any.whl"
        assert get(index, urljoin(index.project_url("Foo_Bar.baz"), url))[2] == wheel.data


def test_unnormalised_names_redirect_and_unknown_names_are_404(local_index: LocalIndex) -> None:
    local_index.add(build_wheel("Foo_Bar.baz", "1.0"))
    for path in ["/simple/Foo_Bar.baz/", "/simple/FOO.bar-baz", "/simple/foo-bar-baz"]:
        status, headers, _ = get(local_index, path)
        assert (status, headers["Location"]) == (301, f"{local_index.base}/simple/foo-bar-baz/")
    assert get(local_index, "/simple")[1]["Location"] == f"{local_index.base}/simple/"
    assert get(local_index, "/simple/foo-bar-baz/")[0] == 200
    assert get(local_index, "/simple/nothing/")[0] == 404


def test_metadata_file_is_the_wheels_metadata(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0", requires_dist=["beta>=2"])
    path = local_index.add(wheel)
    with zipfile.ZipFile(io.BytesIO(wheel.data)) as archive:
        inside = archive.read("alpha-1.0.dist-info/METADATA")
    status, headers, body = get(local_index, f"{path}.metadata")
    assert (status, body) == (200, inside)
    assert b"Requires-Dist: beta>=2" in body
    assert int(headers["Content-Length"]) == len(inside)


def test_status_and_hostile_entries(local_index: LocalIndex) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    local_index.add_raw_entry("alpha", "../../evil.whl", "/files/../../evil.whl", data=b"evil")
    local_index.set_status("alpha", "archived", "done")
    page = json.loads(get(local_index, "/simple/alpha/", {"Accept": ACCEPT_JSON})[2])
    assert page["meta"]["api-version"] == "1.4"
    assert page["project-status"] == {"status": "archived", "reason": "done"}
    assert page["files"][1]["filename"] == "../../evil.whl"
    assert page["files"][1]["url"] == "/files/../../evil.whl"
    assert get(local_index, "/evil.whl")[2] == b"evil"
    local_index.set_status("alpha", "quarantined")
    assert json.loads(get(local_index, "/simple/alpha/", {"Accept": ACCEPT_JSON})[2])["files"] == []


# -- faults --------------------------------------------------------------------------------------


def test_status_fault_applies_the_given_number_of_times(local_index: LocalIndex) -> None:
    local_index.add(build_wheel("alpha", "1.0"))
    fault = local_index.fault("/simple/alpha/", status=503, times=2)
    assert [get(local_index, "/simple/alpha/")[0] for _ in range(3)] == [503, 503, 200]
    assert fault.hits == 2
    assert local_index.count("/simple/alpha/") == 3
    local_index.fault("*.whl", status=429, retry_after="7")
    status, headers, _ = get(local_index, local_index.file_path("alpha-1.0-py3-none-any.whl"))
    assert (status, headers["Retry-After"]) == (429, "7")
    local_index.clear_faults()
    local_index.reset_log()
    assert get(local_index, "/simple/alpha/")[0] == 200
    assert [(r.method, r.path) for r in local_index.requests] == [("GET", "/simple/alpha/")]


def test_truncate_fault_sends_a_short_body(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0", extra_files={"alpha/data.bin": bytes(range(256)) * 64})
    path = local_index.add(wheel)
    local_index.fault("*.whl", truncate=True, times=1)
    with pytest.raises(http.client.IncompleteRead) as caught:
        get(local_index, path)
    assert 0 < len(caught.value.partial) < len(wheel.data)
    assert caught.value.expected == len(wheel.data) - len(caught.value.partial)
    assert get(local_index, path)[2] == wheel.data  # times=1: the next request is whole


def test_body_faults(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0")
    path = local_index.add(wheel)
    local_index.fault("*.whl", wrong_bytes=True, times=1)
    corrupted = get(local_index, path)[2]
    assert len(corrupted) == len(wheel.data) and corrupted != wheel.data
    local_index.fault("/simple/alpha/", malformed=True, times=1)
    status, headers, body = get(local_index, "/simple/alpha/", {"Accept": ACCEPT_JSON})
    assert (status, headers["Content-Type"]) == (200, JSON_V1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    local_index.fault("/simple/beta/", redirect_to="/simple/alpha/")
    status, headers, _ = get(local_index, "/simple/beta/")
    assert (status, headers["Location"]) == (302, f"{local_index.base}/simple/alpha/")


def test_range_requests(local_index: LocalIndex) -> None:
    wheel = build_wheel("alpha", "1.0")
    path = local_index.add(wheel)
    status, headers, body = get(local_index, path, {"Range": "bytes=10-19"})
    assert (status, body) == (206, wheel.data[10:20])
    assert headers["Content-Range"] == f"bytes 10-19/{len(wheel.data)}"
    assert get(local_index, path, {"Range": f"bytes={len(wheel.data)}-"})[0] == 416


# -- distributions -------------------------------------------------------------------------------


def test_distributions_are_deterministic_and_well_formed() -> None:
    assert build_wheel("Foo_Bar.baz", "1.0").sha256 == build_wheel("Foo_Bar.baz", "1.0").sha256
    sdist = build_sdist("Foo_Bar.baz", "1.0", requires_python=">=3.9")
    assert sdist.filename == "foo_bar_baz-1.0.tar.gz"
    assert sdist.sha256 == build_sdist("Foo_Bar.baz", "1.0", requires_python=">=3.9").sha256
    with tarfile.open(fileobj=io.BytesIO(sdist.data)) as archive:
        names = sorted(archive.getnames())
        member = archive.extractfile("foo_bar_baz-1.0/PKG-INFO")
        assert member is not None
        pkg_info = member.read()
    assert names == [
        "foo_bar_baz-1.0/PKG-INFO",
        "foo_bar_baz-1.0/foo_bar_baz/__init__.py",
        "foo_bar_baz-1.0/pyproject.toml",
    ]
    assert pkg_info == sdist.metadata
    assert b"Name: Foo_Bar.baz\nVersion: 1.0\nRequires-Python: >=3.9\n" in pkg_info
