"""The Simple Repository API, one assertion per test, against Cellar's server and against nginx.

One mirror is built per module from a local upstream that uses every feature of the specs, then
the same tree is served four times on 127.0.0.1: by a real ``cellar serve`` process, by Cellar's
server reading a copy of the tree from a second storage backend (``MemoryStorage``, no local
files), by ``cellar serve`` reading a copy from a bucket of a real S3-protocol server
(``tests/support/s3.py``), and by real nginx running what ``cellar nginx-config`` prints.
Every test runs against each. Where nginx does less
than Cellar's server (docs/nginx.md, "Content negotiation"), the nginx run asserts what nginx
does instead.

PEP 503 (names, redirects, links), 629 (API version), 691 (JSON, negotiation, ``format``),
658/714 (metadata files), 700 (versions, size, upload time), 592 (yanked), 740 (provenance),
792 (project status), then HTTP: HEAD, ranges, validators, compression, caching, methods.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from packaging.version import Version

from cellar.cli import main
from cellar.config.load import load_config
from cellar.nginx import render_nginx_config, site_from_config
from tests.support import accept
from tests.support.http_client import Reply, fetch
from tests.support.memory_storage import MemoryStorage
from tests.support.mirror import EVERY_VERSION, assert_consistent, cellar_serve, write_config
from tests.support.nginx import free_port, running_nginx
from tests.support.packages import Dist, build_sdist, build_wheel
from tests.support.s3 import S3Server, storage_table
from tests.support.server import serving
from tests.support.upstream import LocalIndex, RawAnswer

JSON = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML = "text/html"
#: Where the local upstream serves alpha 1.0's PEP 740 provenance object, and the object (its
#: shape is checked when mirrored; its attestations are verified only when a project requires).
PROVENANCE_PATH = "/integrity/alpha/1.0/alpha-1.0-py3-none-any.whl/provenance"
PROVENANCE = json.dumps(
    {
        "version": 1,
        "attestation_bundles": [
            {
                "publisher": {"kind": "GitHub", "repository": "example/alpha", "workflow": "r.yml"},
                "attestations": [],
            }
        ],
    }
).encode()
UPLOADED = "2024-05-06T07:08:09.123456Z"


@dataclass(frozen=True)
class Tree:
    """The mirror both servers serve, and the distributions it was built from by file name."""

    config: Path
    web: Path
    dists: dict[str, Dist]


@dataclass(frozen=True)
class Served:
    """One server over the tree: ``kind`` is "cellar" or "nginx"."""

    kind: str
    base: str

    def get(self, path: str, accept_header: str | None = None, **headers: str) -> Reply:
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        if accept_header is not None:
            sent["Accept"] = accept_header
        return fetch(self.base + path.lstrip("/"), headers=sent)

    def request(self, method: str, path: str, **headers: str) -> Reply:
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        return fetch(self.base + path.lstrip("/"), method=method, headers=sent)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = tmp_path_factory.mktemp("conformance")
    dists = {
        "alpha-1.0": build_wheel("alpha", "1.0"),
        "alpha-0.9": build_wheel("alpha", "0.9"),
        "alpha-2.0": build_wheel("alpha", "2.0"),
        "alpha-2.0-sdist": build_sdist("alpha", "2.0"),
        "alpha-3.0": build_wheel("alpha", "3.0"),
        "foo": build_wheel("Foo_Bar.baz", "1.5"),
        "zope": build_wheel("zope.thing", "4.0", requires_python=">=3.8"),
        "nometa": build_wheel("nometa", "1.0"),
        "gone": build_wheel("gone", "1.0"),
    }
    with LocalIndex() as index:
        index.answer_raw(PROVENANCE_PATH, RawAnswer(PROVENANCE, content_type="application/json"))
        index.add(dists["alpha-1.0"], upload_time=UPLOADED, provenance=index.base + PROVENANCE_PATH)
        index.add(dists["alpha-0.9"], yanked=True)
        index.add(dists["alpha-2.0"])
        index.add(dists["alpha-2.0-sdist"])
        index.add(dists["alpha-3.0"], yanked="broken: <do not use>")
        index.add(dists["foo"])
        index.add(dists["zope"], requires_python=">=3.8")
        index.add(dists["nometa"], metadata=False)
        index.add(dists["gone"])
        index.set_status("gone", "archived", "moved to <gone-two>")
        config = write_config(
            root,
            index.url,
            ["alpha", "Foo_Bar.baz", "zope.thing", "nometa", "gone"],
            extra_packages=EVERY_VERSION,
        )
        assert main(["mirror", "-c", str(config)]) == 0
    web = root / "mirror" / "web"
    assert assert_consistent(web) == 9
    # What no server may hand out: a hidden file among the files, a file beside the tree.
    (web / "packages" / ".hidden").write_text("hidden\n")
    (root / "mirror" / "secret.txt").write_text("secret\n")
    return Tree(config, web, {d.filename: d for d in dists.values()})


@pytest.fixture(scope="module", params=["cellar", "cellar-memory", "cellar-s3", "nginx"])
def server(
    request: pytest.FixtureRequest, tree: Tree, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    if request.param == "cellar":
        with cellar_serve(tree.config) as base:
            yield Served("cellar", base)
        return
    if request.param == "cellar-s3":
        # The same tree in a bucket of a real S3-protocol server, served by `cellar serve`
        # reading it from there.
        s3: S3Server = request.getfixturevalue("s3")
        bucket = s3.new_bucket()
        s3.upload_tree(tree.web, bucket, "tree/")
        config = tree.config.with_name("s3.toml")
        config.write_text(
            tree.config.read_text(encoding="utf-8") + storage_table(s3, bucket, prefix="tree"),
            encoding="utf-8",
        )
        with cellar_serve(config) as base:
            yield Served("cellar", base)
        return
    if request.param == "cellar-memory":
        # The same tree copied into a second Storage backend with no local files: the server
        # reads everything through the protocol, and answers alike.
        with serving(tree.web, storage=MemoryStorage.copy_of(tree.web)) as served:
            yield Served("cellar", served.url)
        return
    port = free_port()
    site = site_from_config(load_config(tree.config), listen=(f"127.0.0.1:{port}",))
    with running_nginx(tmp_path_factory.mktemp("nginx"), render_nginx_config(site), port):
        yield Served("nginx", f"http://127.0.0.1:{port}/")


def json_files(server: Served, project: str) -> dict[str, dict[str, Any]]:
    reply = server.get(f"/simple/{project}/", JSON)
    return {entry["filename"]: entry for entry in reply.json()["files"]}


def html_links(server: Served, project: str) -> dict[str, dict[str, str | None]]:
    return server.get(f"/simple/{project}/", HTML).html().links


# -- PEP 503: the root page, project pages, names -------------------------------------------


def test_503_root_page_links_every_project_by_its_normalised_name(server: Served) -> None:
    links = server.get("/simple/", HTML).html().links
    hrefs = {attrs["href"] for attrs in links.values()}
    assert hrefs == {"alpha/", "foo-bar-baz/", "zope-thing/", "nometa/", "gone/"}


def test_503_root_page_names_the_projects(server: Served) -> None:
    names = {re.sub(r"[-_.]+", "-", text).lower() for text in server.get("/simple/").html().links}
    assert names == {"alpha", "foo-bar-baz", "zope-thing", "nometa", "gone"}


def test_503_project_page_links_each_file_by_its_name(server: Served) -> None:
    assert set(html_links(server, "alpha")) == {
        "alpha-0.9-py3-none-any.whl",
        "alpha-1.0-py3-none-any.whl",
        "alpha-2.0-py3-none-any.whl",
        "alpha-2.0.tar.gz",
        "alpha-3.0-py3-none-any.whl",
    }


def test_503_each_link_carries_the_sha256_of_the_file(server: Served, tree: Tree) -> None:
    for filename, attrs in html_links(server, "alpha").items():
        fragment = str(attrs["href"]).partition("#")[2]
        assert fragment == f"sha256={tree.dists[filename].sha256}"


def test_503_each_link_leads_to_the_file(server: Served, tree: Tree) -> None:
    page = server.base + "simple/alpha/"
    for filename, attrs in html_links(server, "alpha").items():
        reply = fetch(urljoin(page, str(attrs["href"]).partition("#")[0]))
        assert reply.status == 200
        assert reply.body == tree.dists[filename].data


def test_503_requires_python_is_an_attribute_with_the_specifier(server: Served) -> None:
    # The parser unescapes: on the wire it is data-requires-python="&gt;=3.8".
    links = html_links(server, "zope-thing")
    assert links["zope_thing-4.0-py3-none-any.whl"]["data-requires-python"] == ">=3.8"
    assert b'data-requires-python="&gt;=3.8"' in server.get("/simple/zope-thing/", HTML).body


def test_503_no_requires_python_no_attribute(server: Served) -> None:
    links = html_links(server, "alpha")
    assert "data-requires-python" not in links["alpha-1.0-py3-none-any.whl"]


@pytest.mark.parametrize(
    "spelled", ["Foo_Bar.baz/", "FOO-BAR-BAZ/", "foo__bar..baz/", "Foo-_-Bar---Baz/"]
)
def test_503_other_spellings_redirect_to_the_normalised_name(server: Served, spelled: str) -> None:
    reply = server.get(f"/simple/{spelled}")
    assert reply.status == 301
    assert reply.location == server.base + "simple/foo-bar-baz/"


@pytest.mark.parametrize("path", ["/simple/alpha", "/simple/Foo_Bar.baz"])
def test_503_a_missing_trailing_slash_redirects_in_one_step(server: Served, path: str) -> None:
    reply = server.get(path)
    assert reply.status == 301
    assert reply.location in (server.base + "simple/alpha/", server.base + "simple/foo-bar-baz/")


def test_503_the_root_without_its_slash_redirects(server: Served) -> None:
    reply = server.get("/simple")
    assert (reply.status, reply.location) == (301, server.base + "simple/")


def test_503_a_redirect_keeps_the_query(server: Served) -> None:
    reply = server.get(f"/simple/Foo_Bar.baz/?format={JSON}")
    assert reply.location == f"{server.base}simple/foo-bar-baz/?format={JSON}"


def test_503_the_redirected_page_is_the_project_page(server: Served) -> None:
    reply = server.get("/simple/ALPHA/")
    final = fetch(str(reply.location))
    assert final.status == 200
    assert "alpha-1.0-py3-none-any.whl" in final.html().links


@pytest.mark.parametrize("path", ["no-such-project/", "No_Such.Project/", "no-such-project"])
def test_503_an_unknown_project_is_404(server: Served, path: str) -> None:
    assert server.get(f"/simple/{path}").status == 404


@pytest.mark.parametrize("path", ["-alpha/", "alpha-/", "al%20pha/", "alpha/extra/"])
def test_503_what_is_not_a_project_name_is_404(server: Served, path: str) -> None:
    assert server.get(f"/simple/{path}").status == 404


# -- PEP 629: the API version ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/simple/", "/simple/alpha/"])
def test_629_html_pages_declare_a_1_x_repository_version(server: Served, path: str) -> None:
    version = server.get(path, HTML).html().metas["pypi:repository-version"]
    assert Version(version).major == 1


@pytest.mark.parametrize("path", ["/simple/", "/simple/alpha/"])
def test_629_json_pages_declare_a_1_x_api_version(server: Served, path: str) -> None:
    assert Version(server.get(path, JSON).json()["meta"]["api-version"]).major == 1


# -- PEP 691: JSON and content negotiation -----------------------------------------------------


def test_691_the_json_root_lists_each_project_by_name(server: Served) -> None:
    projects = server.get("/simple/", JSON).json()["projects"]
    names = {re.sub(r"[-_.]+", "-", p["name"]).lower() for p in projects}
    assert names == {"alpha", "foo-bar-baz", "zope-thing", "nometa", "gone"}


def test_691_a_json_project_page_has_its_normalised_name(server: Served) -> None:
    assert server.get("/simple/foo-bar-baz/", JSON).json()["name"] == "foo-bar-baz"


def test_691_json_files_have_filename_url_and_hashes(server: Served, tree: Tree) -> None:
    page = server.base + "simple/alpha/"
    for filename, entry in json_files(server, "alpha").items():
        assert entry["hashes"] == {"sha256": tree.dists[filename].sha256}
        assert fetch(urljoin(page, entry["url"])).body == tree.dists[filename].data


def test_691_json_and_html_list_the_same_files(server: Served) -> None:
    assert set(json_files(server, "alpha")) == set(html_links(server, "alpha"))


@pytest.mark.parametrize(
    ("accept_header", "expected"),
    [(JSON, JSON), (HTML_V1, HTML_V1), (HTML, HTML)],
)
@pytest.mark.parametrize("path", ["/simple/", "/simple/alpha/"])
def test_691_each_format_is_served_when_asked_for(
    server: Served,
    path: str,
    accept_header: str | None,
    expected: str,
) -> None:
    reply = server.get(path, accept_header)
    assert (reply.status, reply.media_type) == (200, expected)


def test_691_json_is_sent_without_a_charset_and_html_with_utf_8(server: Served) -> None:
    assert server.get("/simple/alpha/", JSON).header("Content-Type") == JSON
    for media in (HTML_V1, HTML):
        content_type = server.get("/simple/alpha/", media).header("Content-Type")
        assert content_type is not None
        assert content_type.replace(" ", "").lower() == f"{media};charset=utf-8"


@pytest.mark.parametrize("header", [accept.PIP, accept.UV])
def test_691_pip_and_uv_get_json(server: Served, header: str) -> None:
    assert server.get("/simple/alpha/", header).media_type == JSON


@pytest.mark.parametrize(
    ("accept_header", "expected"),
    [
        (f"{JSON};q=0.5, {HTML};q=0.9", HTML),
        (f"{HTML_V1};q=0.3, {JSON};q=0.2", HTML_V1),
        (f"{HTML};q=0.01, {HTML_V1};q=0.02, {JSON};q=0.015", HTML_V1),
        (f"{JSON};q=0.999, {HTML}", HTML),
        (f"{JSON}; q=1.0, {HTML}; q=0.9", JSON),
    ],
)
def test_691_the_highest_q_wins(server: Served, accept_header: str | None, expected: str) -> None:
    assert server.get("/simple/alpha/", accept_header).media_type == expected


@pytest.mark.parametrize(
    ("accept_header", "expected"),
    [
        (f"{JSON};q=0, */*", HTML),
        (f"{JSON};q=0, {HTML_V1}", HTML_V1),
        (f"application/*, {JSON};q=0", HTML_V1),
        (f"{HTML};q=0, {JSON};q=0.1", JSON),
        (f"*/*, {HTML};q=0.000", JSON),
    ],
)
def test_691_q_0_refuses_a_format(server: Served, accept_header: str | None, expected: str) -> None:
    assert server.get("/simple/alpha/", accept_header).media_type == expected


@pytest.mark.parametrize(
    ("accept_header", "expected"),
    [
        (f"{HTML}, {JSON}", JSON),
        (f"{HTML}, {HTML_V1}", HTML_V1),
        (f"{HTML};q=0.5, {JSON};q=0.5, {HTML_V1};q=0.5", JSON),
    ],
)
def test_691_on_equal_q_json_then_v1_html_then_html(
    server: Served,
    accept_header: str | None,
    expected: str,
) -> None:
    assert server.get("/simple/alpha/", accept_header).media_type == expected


@pytest.mark.parametrize("accept_header", [None, "", "*/*", "*", accept.FIREFOX, "text/*"])
def test_691_wildcards_and_no_accept_get_legacy_html(
    server: Served,
    accept_header: str | None,
) -> None:
    reply = server.get("/simple/alpha/", accept_header)
    assert (reply.status, reply.media_type) == (200, HTML)


def test_691_application_wildcard_gets_json(server: Served) -> None:
    assert server.get("/simple/alpha/", "application/*").media_type == JSON


@pytest.mark.parametrize(
    "accept_header",
    [
        "image/png",
        "application/vnd.pypi.simple.v2+json",
        f"{JSON};q=0, {HTML_V1};q=0, {HTML};q=0",
        "*/*;q=0",
    ],
)
def test_691_when_nothing_is_acceptable_legacy_html_is_the_default(
    server: Served,
    accept_header: str | None,
) -> None:
    reply = server.get("/simple/alpha/", accept_header)
    assert (reply.status, reply.media_type) == (200, HTML)


def test_691_parameters_other_than_q_do_not_matter(server: Served) -> None:
    assert (
        server.get("/simple/alpha/", f"{JSON}; charset=utf-8; q=0.9, {HTML};q=0.1").media_type
        == JSON
    )


@pytest.mark.parametrize("media", [JSON, HTML_V1, HTML])
@pytest.mark.parametrize("path", ["/simple/", "/simple/alpha/"])
def test_691_pages_vary_on_accept(server: Served, path: str, media: str) -> None:
    assert "accept" in server.get(path, media).tokens("Vary")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"format={JSON}", JSON),
        ("format=application%2Fvnd.pypi.simple.v1%2Bjson", JSON),
        (f"format={HTML_V1}", HTML_V1),
        (f"format={HTML}", HTML),
    ],
)
def test_691_the_format_parameter_overrides_accept(
    server: Served,
    query: str,
    expected: str,
) -> None:
    other = HTML if expected != HTML else JSON
    assert server.get(f"/simple/alpha/?{query}", other).media_type == expected


def test_691_an_unknown_format_parameter_is_ignored(server: Served) -> None:
    assert server.get("/simple/alpha/?format=image/png", JSON).media_type == JSON


def test_691_a_range_named_twice(server: Served) -> None:
    # Cellar takes the highest q among equally specific ranges; nginx's maps read only the
    # first element naming a range (docs/nginx.md, Content negotiation).
    reply = server.get("/simple/alpha/", f"{HTML};q=0.1, {JSON};q=0.5, {HTML};q=0.9")
    assert reply.media_type == (HTML if server.kind == "cellar" else JSON)


# -- PEP 658 / 714: core metadata files ----------------------------------------------------------


def test_658_json_core_metadata_is_the_hash_of_the_metadata_file(
    server: Served,
    tree: Tree,
) -> None:
    entry = json_files(server, "alpha")["alpha-1.0-py3-none-any.whl"]
    digest = tree.dists["alpha-1.0-py3-none-any.whl"].metadata_sha256
    assert entry["core-metadata"] == {"sha256": digest}


def test_714_json_never_has_the_legacy_dist_info_metadata_key(server: Served) -> None:
    # pip 22.3 to 23.1 (Debian 12's 23.0.1) crash on it in JSON; PEP 714 forbids it there.
    for entry in [*json_files(server, "alpha").values(), *json_files(server, "nometa").values()]:
        assert "dist-info-metadata" not in entry
        assert "data-dist-info-metadata" not in entry


def test_714_html_has_data_core_metadata(server: Served, tree: Tree) -> None:
    attrs = html_links(server, "alpha")["alpha-1.0-py3-none-any.whl"]
    digest = tree.dists["alpha-1.0-py3-none-any.whl"].metadata_sha256
    assert attrs["data-core-metadata"] == f"sha256={digest}"
    assert attrs["data-dist-info-metadata"] == f"sha256={digest}"


def test_658_the_metadata_file_is_beside_the_file(server: Served, tree: Tree) -> None:
    entry = json_files(server, "alpha")["alpha-2.0.tar.gz"]
    reply = fetch(urljoin(server.base + "simple/alpha/", entry["url"] + ".metadata"))
    assert reply.status == 200
    assert reply.body == tree.dists["alpha-2.0.tar.gz"].metadata
    assert hashlib.sha256(reply.body).hexdigest() == entry["core-metadata"]["sha256"]


def test_658_no_metadata_upstream_is_stated_as_none(server: Served) -> None:
    entry = json_files(server, "nometa")["nometa-1.0-py3-none-any.whl"]
    assert "core-metadata" not in entry  # as PyPI states it: no key
    attrs = html_links(server, "nometa")["nometa-1.0-py3-none-any.whl"]
    assert "data-core-metadata" not in attrs
    assert "data-dist-info-metadata" not in attrs


def test_658_no_metadata_file_where_none_is_stated(server: Served) -> None:
    entry = json_files(server, "nometa")["nometa-1.0-py3-none-any.whl"]
    assert fetch(urljoin(server.base + "simple/nometa/", entry["url"] + ".metadata")).status == 404


# -- PEP 700: versions, size, upload time ------------------------------------------------------


def test_700_json_pages_say_api_version_1_1_or_later(server: Served) -> None:
    assert Version(server.get("/simple/alpha/", JSON).json()["meta"]["api-version"]) >= Version(
        "1.1"
    )


def test_700_versions_lists_every_version_of_the_files(server: Served) -> None:
    assert server.get("/simple/alpha/", JSON).json()["versions"] == ["0.9", "1.0", "2.0", "3.0"]


def test_700_size_is_the_length_of_each_file(server: Served, tree: Tree) -> None:
    for filename, entry in json_files(server, "alpha").items():
        assert entry["size"] == len(tree.dists[filename].data)


def test_700_upload_time_is_iso_8601_in_utc(server: Served) -> None:
    entry = json_files(server, "alpha")["alpha-1.0-py3-none-any.whl"]
    assert re.fullmatch(r"2024-05-06T07:08:09(\.\d{1,6})?Z", entry["upload-time"])


def test_700_no_upload_time_upstream_none_here(server: Served) -> None:
    assert "upload-time" not in json_files(server, "alpha")["alpha-2.0-py3-none-any.whl"]


# -- PEP 592: yanked files ---------------------------------------------------------------------


def test_592_json_yanked_with_a_reason_is_the_reason(server: Served) -> None:
    entry = json_files(server, "alpha")["alpha-3.0-py3-none-any.whl"]
    assert entry["yanked"] == "broken: <do not use>"


def test_592_html_yanked_with_a_reason_is_the_reason(server: Served) -> None:
    attrs = html_links(server, "alpha")["alpha-3.0-py3-none-any.whl"]
    assert attrs["data-yanked"] == "broken: <do not use>"


def test_592_yanked_without_a_reason(server: Served) -> None:
    assert json_files(server, "alpha")["alpha-0.9-py3-none-any.whl"]["yanked"] is True
    assert html_links(server, "alpha")["alpha-0.9-py3-none-any.whl"]["data-yanked"] in ("", None)


def test_592_files_not_yanked_say_so(server: Served) -> None:
    assert json_files(server, "alpha")["alpha-2.0-py3-none-any.whl"]["yanked"] is False
    assert "data-yanked" not in html_links(server, "alpha")["alpha-2.0-py3-none-any.whl"]


# -- PEP 740: provenance -----------------------------------------------------------------------


def test_740_provenance_is_mirrored_and_served_from_the_json_page(server: Served) -> None:
    files = json_files(server, "alpha")
    url = files["alpha-1.0-py3-none-any.whl"]["provenance"]
    assert url == files["alpha-1.0-py3-none-any.whl"]["url"] + ".provenance"  # beside the file
    reply = server.get(urljoin("/simple/alpha/", url))
    assert (reply.status, reply.body) == (200, PROVENANCE)
    assert reply.headers["Content-Type"].startswith("application/json")
    assert files["alpha-2.0-py3-none-any.whl"].get("provenance") is None


def test_740_provenance_is_mirrored_and_served_from_the_html_page(server: Served) -> None:
    links = html_links(server, "alpha")
    url = str(links["alpha-1.0-py3-none-any.whl"]["data-provenance"])
    assert url.endswith("alpha-1.0-py3-none-any.whl.provenance")
    assert server.get(urljoin("/simple/alpha/", url)).body == PROVENANCE
    assert "data-provenance" not in links["alpha-2.0-py3-none-any.whl"]


def test_740_pages_with_provenance_say_api_version_1_3_or_later(server: Served) -> None:
    version = server.get("/simple/alpha/", JSON).json()["meta"]["api-version"]
    assert Version(version) >= Version("1.3")


# -- PEP 792: project status -------------------------------------------------------------------


def test_792_json_project_status_and_reason(server: Served) -> None:
    page = server.get("/simple/gone/", JSON).json()
    assert page["project-status"] == {"status": "archived", "reason": "moved to <gone-two>"}
    assert Version(page["meta"]["api-version"]) >= Version("1.4")


def test_792_html_project_status_and_reason(server: Served) -> None:
    metas = server.get("/simple/gone/", HTML).html().metas
    assert metas["pypi:project-status"] == "archived"
    assert metas["pypi:project-status-reason"] == "moved to <gone-two>"


def test_792_a_project_without_a_status_is_active(server: Served) -> None:
    page = server.get("/simple/alpha/", JSON).json()
    assert page.get("project-status", {"status": "active"})["status"] == "active"
    metas = server.get("/simple/alpha/", HTML).html().metas
    assert metas.get("pypi:project-status", "active") == "active"


# -- HTTP --------------------------------------------------------------------------------------


def a_file_url(server: Served, filename: str = "alpha-1.0-py3-none-any.whl") -> str:
    url: str = json_files(server, "alpha")[filename]["url"]
    return urljoin(server.base + "simple/alpha/", url)


@pytest.mark.parametrize("media", [JSON, HTML])
def test_http_head_on_a_page_is_get_without_the_body(server: Served, media: str) -> None:
    get = server.get("/simple/alpha/", media)
    head = server.request("HEAD", "/simple/alpha/", Accept=media)
    assert (head.status, head.body) == (200, b"")
    assert head.header("Content-Type") == get.header("Content-Type")
    assert head.header("Content-Length") in (None, str(len(get.body)))


def test_http_head_on_a_file_gives_its_length(server: Served, tree: Tree) -> None:
    head = fetch(a_file_url(server), method="HEAD")
    assert (head.status, head.body) == (200, b"")
    assert head.header("Content-Length") == str(len(tree.dists["alpha-1.0-py3-none-any.whl"].data))


def test_http_a_range_of_a_file_is_206(server: Served, tree: Tree) -> None:
    data = tree.dists["alpha-1.0-py3-none-any.whl"].data
    reply = fetch(a_file_url(server), headers={"Range": "bytes=10-19"})
    assert reply.status == 206
    assert reply.header("Content-Range") == f"bytes 10-19/{len(data)}"
    assert reply.body == data[10:20]


def test_http_a_suffix_range_is_the_end_of_the_file(server: Served, tree: Tree) -> None:
    data = tree.dists["alpha-1.0-py3-none-any.whl"].data
    reply = fetch(a_file_url(server), headers={"Range": "bytes=-22"})
    assert (reply.status, reply.body) == (206, data[-22:])


def test_http_files_accept_ranges(server: Served) -> None:
    assert fetch(a_file_url(server), method="HEAD").header("Accept-Ranges") == "bytes"


@pytest.mark.parametrize("media", [JSON, HTML])
def test_http_a_page_is_304_when_its_etag_matches(server: Served, media: str) -> None:
    etag = server.get("/simple/alpha/", media).header("ETag")
    assert etag
    reply = server.get("/simple/alpha/", media, If_None_Match=etag)
    assert (reply.status, reply.body) == (304, b"")


def test_http_a_file_is_304_when_its_etag_matches(server: Served) -> None:
    etag = fetch(a_file_url(server)).header("ETag")
    assert etag
    reply = fetch(a_file_url(server), headers={"If-None-Match": etag})
    assert (reply.status, reply.body) == (304, b"")


def test_http_a_stale_etag_gets_the_page(server: Served) -> None:
    reply = server.get("/simple/alpha/", JSON, If_None_Match='"not-this-one"')
    assert reply.status == 200


def test_http_a_304_still_varies_on_accept(server: Served) -> None:
    etag = str(server.get("/simple/alpha/", JSON).header("ETag"))
    assert "accept" in server.get("/simple/alpha/", JSON, If_None_Match=etag).tokens("Vary")


@pytest.mark.parametrize("media", [JSON, HTML])
def test_http_pages_are_gzipped_when_the_client_accepts_it(server: Served, media: str) -> None:
    plain = server.get("/simple/alpha/", media)
    packed = server.get("/simple/alpha/", media, Accept_Encoding="gzip")
    assert packed.header("Content-Encoding") == "gzip"
    assert gzip.decompress(packed.body) == plain.body
    assert "accept-encoding" in packed.tokens("Vary")


def test_http_pages_are_not_gzipped_unasked(server: Served) -> None:
    assert server.get("/simple/alpha/", JSON).header("Content-Encoding") is None


@pytest.mark.parametrize("suffix", ["", ".metadata"])
def test_http_files_are_never_gzipped(server: Served, tree: Tree, suffix: str) -> None:
    dist = tree.dists["alpha-1.0-py3-none-any.whl"]
    reply = fetch(a_file_url(server) + suffix, headers={"Accept-Encoding": "gzip"})
    assert reply.header("Content-Encoding") is None
    assert reply.body == (dist.metadata if suffix else dist.data)


def test_http_file_types(server: Served) -> None:
    assert fetch(a_file_url(server), method="HEAD").media_type == "application/zip"
    sdist = a_file_url(server, "alpha-2.0.tar.gz")
    assert fetch(sdist, method="HEAD").media_type == "application/gzip"
    assert fetch(sdist + ".metadata", method="HEAD").media_type == "text/plain"


def max_age(reply: Reply) -> int:
    match = re.search(r"max-age=(\d+)", reply.header("Cache-Control") or "")
    assert match, reply.header("Cache-Control")
    return int(match.group(1))


@pytest.mark.parametrize("path", ["/simple/", "/simple/alpha/"])
def test_http_pages_may_be_cached_briefly(server: Served, path: str) -> None:
    assert 0 <= max_age(server.get(path, JSON)) <= 600


@pytest.mark.parametrize("suffix", ["", ".metadata"])
def test_http_files_may_be_cached_for_long_and_never_change(server: Served, suffix: str) -> None:
    reply = fetch(a_file_url(server) + suffix)
    assert max_age(reply) >= 86400 * 30
    assert "immutable" in reply.tokens("Cache-Control")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_http_only_get_and_head_are_allowed(server: Served, method: str) -> None:
    reply = server.request(method, "/simple/alpha/")
    assert reply.status == 405
    assert {"get", "head"} <= reply.tokens("Allow")


def test_http_health(server: Served) -> None:
    reply = server.get("/health")
    assert (reply.status, reply.body.strip()) == (200, b"ok")


@pytest.mark.parametrize(
    "path",
    [
        "/packages/.hidden",
        "/packages/%2e%2e/%2e%2e/secret.txt",
        "/packages/../../secret.txt",
        "/../secret.txt",
        "/secret.txt",
        "/simple/index.v1_json",
    ],
)
def test_http_nothing_outside_the_api_is_served(server: Served, path: str) -> None:
    reply = server.get(path)
    assert reply.status in (400, 404)
    assert b"secret" not in reply.body
    assert b"hidden" not in reply.body
